"""Three `dockyard serve` replicas (one with two workers), each with its own data directory, sharing only
PostgreSQL and S3 (moto on loopback) and the secret keys: requests go to replicas in turn.

Latencies printed here are observations (run with ``-s`` to see them), never assertions: each check polls
with a generous deadline."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
import pytest

from conftest import POSTGRES_SERVER, _create_database, _drop_database
from dockyard.crypto import new_key
from identity.support import DOCKYARD, Creds, allow, client, free_port, new_user
from s3_target import S3Target, unique_prefix

from .support import MIB, Replicas, pull_and_verify

DEADLINE = 15.0  # seconds a change may take to be seen before a check fails (the goal is one second)


@dataclass
class Replica:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def pids(self) -> set[int]:
        """The server process and its workers."""
        found = {self.process.pid}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    status = (entry / "status").read_text()
                except OSError:
                    continue
                ppid = next(line for line in status.splitlines() if line.startswith("PPid:"))
                if int(ppid.split()[1]) == self.process.pid:
                    found.add(int(entry.name))
        return found

    def kill(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)


@dataclass
class Cluster:
    replicas: list[Replica]
    env: dict[str, str]
    dsn: str
    root: Creds

    @property
    def urls(self) -> list[str]:
        return [r.url for r in self.replicas if r.process.poll() is None]

    def admin(self, *args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
        command = [DOCKYARD, "admin", *args, "--data-dir", str(data_dir)]
        return subprocess.run(command, env=self.env, capture_output=True, text=True, timeout=60, check=False)


def _start(env: dict[str, str], data_dir: Path, workers: int) -> Replica:
    port = free_port()
    log = data_dir.parent / f"replica-{port}.log"
    command = [DOCKYARD, "serve", "--data-dir", str(data_dir), "--port", str(port), "--workers", str(workers)]
    process = subprocess.Popen(
        command, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True
    )
    return Replica(f"http://127.0.0.1:{port}", process, log)


def _wait_ready(replica: Replica) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert replica.process.poll() is None, replica.log.read_text()
        try:
            if httpx.get(replica.url + "/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"replica {replica.url} not ready: {replica.log.read_text()}")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, s3_target: S3Target) -> Iterator[Cluster]:
    name = f"dockyard_replicas_{uuid.uuid4().hex[:10]}"
    try:
        asyncio.run(_create_database(name))
    except (OSError, asyncpg.PostgresError) as exc:
        pytest.skip(f"PostgreSQL is not reachable: {exc}")
    dsn = f"{POSTGRES_SERVER}/{name}"
    base = tmp_path_factory.mktemp("replicas")
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKYARD_")}
    env.update({f"DOCKYARD_{k.upper()}": str(v) for k, v in s3_target.settings(unique_prefix()).items()})
    env.update(
        DOCKYARD_DATABASE_URL=dsn,
        DOCKYARD_SECRET_KEYS=new_key(),
        DOCKYARD_S3_PART_SIZE_MIB="5",
        DOCKYARD_ACCESS_LOG="false",
        DOCKYARD_HOUSEKEEPING_INTERVAL_SECONDS="1",
        DOCKYARD_JOB_LEASE_SECONDS="3",
        DOCKYARD_UPLOAD_EXPIRY_HOURS=str(8 / 3600),  # 8 s: uploads left idle expire during the test
        DOCKYARD_SERVER="uvicorn",
    )
    init = subprocess.run(
        [
            DOCKYARD,
            "admin",
            "init",
            "--json",
            "--account-id",
            "111122223333",
            "--data-dir",
            str(base / "admin"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert init.returncode == 0, init.stderr
    created = json.loads(init.stdout)
    replicas = [_start(env, base / f"r{i}", 2 if i == 0 else 1) for i in range(3)]
    try:
        for replica in replicas:
            _wait_ready(replica)
        yield Cluster(replicas, env, dsn, Creds(created["access_key_id"], created["secret_access_key"]))
    finally:
        for replica in replicas:
            if replica.process.poll() is None:
                os.killpg(replica.process.pid, signal.SIGTERM)
        for replica in replicas:
            try:
                replica.process.wait(30)
            except subprocess.TimeoutExpired:
                replica.kill()
        asyncio.run(_drop_database(name))


def _login(url: str, creds: Creds) -> str:
    token = client(url, "ecr", creds).get_authorization_token()["authorizationData"][0]["authorizationToken"]
    return f"Basic {token}"


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
