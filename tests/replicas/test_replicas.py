"""Three `dockyard serve` replicas (one with two workers), each with its own data directory, sharing only
PostgreSQL and S3 (moto on loopback) and the secret keys: requests go to replicas in turn.

Latencies printed here are observations (run with ``-s`` to see them), never assertions: each check polls
with a generous deadline."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from identity.support import allow, client, new_user
from s3_target import S3Target

from .cluster import Cluster, running_cluster
from .cluster import login as _login
from .support import MIB, Replicas, pull_and_verify

DEADLINE = 15.0  # seconds a change may take to be seen before a check fails (the goal is one second)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, s3_target: S3Target) -> Iterator[Cluster]:
    with running_cluster(
        tmp_path_factory,
        s3_target,
        workers=(2, 1, 1),
        s3_part_size_mib="5",
        housekeeping_interval_seconds="1",
        job_lease_seconds="3",
        upload_expiry_hours=str(8 / 3600),  # 8 s: uploads left idle expire during the test
    ) as running:
        yield running


def _until(check: object, what: str) -> float:
    """Poll ``check()`` until true; seconds it took (fails after :data:`DEADLINE`)."""
    start = time.monotonic()
    while not check():  # type: ignore[operator]
        assert time.monotonic() - start < DEADLINE, f"not seen within {DEADLINE} s: {what}"
        time.sleep(0.01)
    return time.monotonic() - start


def test_a_push_alternating_between_replicas_pulls_from_each(cluster: Cluster) -> None:
    authorization = _login(cluster.urls[1], cluster.root)  # a token from one replica, used on all
    replicas = Replicas(cluster.urls, authorization)
    pushed = replicas.push_image("team/app", "v1", layer_size=12 * MIB + 7, chunk=5 * MIB)
    assert set(replicas.used) == set(cluster.urls)
    for url in cluster.urls:
        assert pull_and_verify(url, authorization, "team/app", "v1") == pushed.manifest


def test_a_token_from_one_replica_is_accepted_by_the_others(cluster: Cluster) -> None:
    iam = client(cluster.urls[0], "iam", cluster.root)
    _, creds = new_user(iam, policy=allow("ecr:*"))
    authorization = _login(cluster.urls[2], creds)
    for url in cluster.urls:
        assert httpx.get(url + "/v2/", headers={"Authorization": authorization}).status_code == 200
    forged = "Basic " + base64.b64encode(b"AWS:dky2.00000000.e30.AAAA").decode()
    assert httpx.get(cluster.urls[0] + "/v2/", headers={"Authorization": forged}).status_code == 401


def test_a_policy_change_is_seen_by_every_replica(cluster: Cluster) -> None:
    iam = client(cluster.urls[0], "iam", cluster.root)
    user, creds = new_user(iam, policy=allow("ecr:*"))
    authorization = _login(cluster.urls[0], creds)
    Replicas(cluster.urls, authorization).push_image("team/policy", "v1", layer_size=1000, chunk=1000)
    path = "/v2/team/policy/manifests/v1"
    for url in cluster.urls:  # every replica has the decision cached
        assert httpx.get(url + path, headers={"Authorization": authorization}).status_code == 200
    iam.delete_user_policy(UserName=user, PolicyName="inline")  # on replica 0
    seen = [
        _until(
            lambda url=url: (
                httpx.get(url + path, headers={"Authorization": authorization}).status_code == 403
            ),
            f"the revoked policy on {url}",
        )
        for url in cluster.urls
    ]
    print(f"policy revocation seen by replicas after {[round(s * 1000, 1) for s in seen]} ms")


def test_a_token_key_rotation_is_seen_by_every_replica(cluster: Cluster, tmp_path: Path) -> None:
    rotated = cluster.admin("rotate-token-keys", data_dir=tmp_path / "admin")
    assert rotated.returncode == 0, rotated.stderr
    kid = rotated.stdout.split("signed with key ")[1].split(";")[0]

    def signed_with_new_key() -> bool:
        password = base64.b64decode(_login(cluster.urls[0], cluster.root).split()[1]).decode()
        return password.split(".")[1] == kid

    print(
        f"replica 0 signs with the new key after {_until(signed_with_new_key, 'the new key') * 1000:.1f} ms"
    )
    authorization = _login(cluster.urls[0], cluster.root)
    for url in cluster.urls:
        seen = _until(
            lambda url=url: (
                httpx.get(url + "/v2/", headers={"Authorization": authorization}).status_code == 200
            ),
            f"a password signed with the new key on {url}",
        )
        print(f"rotated key accepted by {url} after {seen * 1000:.1f} ms")


async def _job(dsn: str) -> asyncpg.Record:
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetchrow("SELECT * FROM jobs WHERE name = 'expire-uploads'")
    finally:
        await conn.close()


def test_upload_expiry_runs_once_across_replicas_while_they_die(cluster: Cluster) -> None:
    authorization = _login(cluster.urls[0], cluster.root)
    headers = {"Authorization": authorization}
    owners_seen: set[str] = set()
    for _round in range(2):
        started = httpx.post(cluster.urls[0] + "/v2/team/expiry/blobs/uploads/", headers=headers)
        assert started.status_code == 202
        location = started.headers["location"]
        before = asyncio.run(_job(cluster.dsn))
        _until(
            lambda location=location: (
                httpx.get(cluster.urls[-1] + location, headers=headers).status_code == 404
            ),
            "the idle upload expired",
        )
        after = asyncio.run(_job(cluster.dsn))
        assert after["runs"] > before["runs"]
        owner = after["last_owner"]
        owners_seen.add(owner)
        pid = int(owner.split(":")[1])
        [holder] = [r for r in cluster.replicas if pid in r.pids()]
        holder.kill()  # the replica that ran the job dies; another must take it over
    assert len(owners_seen) == 2  # the second round ran on a replica still alive
