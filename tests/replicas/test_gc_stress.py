"""Online garbage collection under fire (``docs/gc.md``): two replicas on PostgreSQL + S3 (moto), GC as the
scheduled job (every second, a grace of two) plus ``dockyard gc`` runs on the side, while pushers (skopeo
over ``/v2/`` and the ECR API's layer calls), deleters (``BatchDeleteImage`` and ``/v2/`` manifest
``DELETE``) and lifecycle runs (``docs/lifecycle.md``: the scheduled job every second plus ``dockyard
lifecycle run`` on the side) work on both replicas for a bounded number of iterations. Layers come from a
small shared pool, so the same blobs are unlinked, marked, swept and pushed again while the races run.

Lifecycle policies: on ``stress/ecr`` "keep the newest ``t*`` image", so lifecycle and the deleter race for
the same images (each image goes exactly once: by the deleter, or by an expiry recorded as an event); on
``stress/lc``, which only an ECR pusher of tagged and untagged images uses, "keep the two newest ``lc*`` and
the newest untagged one". After the pushers stop, one more run of each policy makes the end state exact.

At the end every image the ledger says exists, less those the lifecycle events say expired, pulls
completely, every digest verified, from each replica; every deleted or expired one is gone; each repository
holds exactly the images its policy keeps; and once the grace has passed twice, every blob and every blob
link nothing references is gone from the database, and the bucket holds exactly the blobs the database knows.

To add an actor (lifecycle runs, say): write a function ``(Stress) -> None`` that does its work for a
bounded number of rounds and records what it pushed or deleted in ``stress.ledger``; add it to ``ACTORS``.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import pytest
from botocore.exceptions import ClientError

from e2e.shared import images  # noqa: F401  (the session's OCI layout of busybox images)
from e2e.support import LocalImages
from identity.support import DOCKYARD, client
from s3_target import S3Target

from .cluster import Cluster, login, registry_password, running_cluster
from .support import OCI_MANIFEST, digest_of, pull_and_verify

GRACE = 2  # seconds; gc_grace_seconds (and the presigned URLs' lifetime, which may not exceed it)
ROUNDS = 12  # per pusher
ATTEMPTS = 6  # a push refused by a race (a link reclaimed after the client checked it) is retried
SETTLE = 45.0  # seconds the final sweep may take (two graces and a few runs suffice)
POOL = [os.urandom(200_000 + n) for n in range(4)]  # layers the ECR pusher's images share


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, s3_target: S3Target) -> Iterator[Cluster]:
    with running_cluster(
        tmp_path_factory,
        s3_target,
        workers=(1, 1),
        gc_interval_seconds="1",
        gc_grace_seconds=str(GRACE),
        redirect_ttl_seconds=str(GRACE),
        job_lease_seconds="3",
        lifecycle_interval_seconds="1",
    ) as running:
        yield running


@dataclass
class Ledger:
    """What should exist: images pushed (and not deleted since), by (repository, manifest digest)."""

    live: dict[tuple[str, str], str] = field(default_factory=dict)  # -> its tag (its digest if untagged)
    deleted: set[tuple[str, str]] = field(default_factory=set)
    vanished: set[tuple[str, str]] = field(default_factory=set)  # a deleter found gone: lifecycle's, surely
    lock: threading.Lock = field(default_factory=threading.Lock)

    def pushed(self, repo: str, digest: str, tag: str) -> None:
        with self.lock:
            self.live[(repo, digest)] = tag
            self.deleted.discard((repo, digest))

    def take_oldest(self, prefix: str) -> tuple[str, str, str] | None:
        """An image to delete (repository name starting with ``prefix``), leaving the newest alive."""
        with self.lock:
            mine = [key for key in self.live if key[0].startswith(prefix)]
            if len(mine) < 2:
                return None
            repo, digest = mine[0]
            return repo, digest, self.live.pop((repo, digest))

    def gone(self, repo: str, digest: str) -> None:
        with self.lock:
            self.deleted.add((repo, digest))

    def missing(self, repo: str, digest: str) -> None:
        with self.lock:
            self.vanished.add((repo, digest))


@dataclass
class Stress:
    cluster: Cluster
    authorization: str
    layout: LocalImages
    ledger: Ledger = field(default_factory=Ledger)
    pushing: threading.Event = field(default_factory=threading.Event)  # set while pushers run

    def url(self, n: int) -> str:
        urls = self.cluster.urls
        return urls[n % len(urls)]


def skopeo_pusher(stress: Stress) -> None:
    """The busybox images, each into its own repository (their blobs shared by all), replicas in turn."""
    password = registry_password(stress.authorization)
    for n in range(ROUNDS):
        repo, tag = f"stress/sk{n}", "v1"
        source = "busybox-3layer" if n % 2 else "busybox"
        host = stress.url(n).removeprefix("http://")
        argv = ["skopeo", "copy", "--retry-times", "0", "--dest-tls-verify=false"]
        argv += [
            "--dest-creds",
            f"AWS:{password}",
            stress.layout.ref(source),
            f"docker://{host}/{repo}:{tag}",
        ]
        _retry(lambda argv=argv: _check(subprocess.run(argv, capture_output=True, text=True, timeout=120)))
        stress.ledger.pushed(repo, digest_of(stress.layout.manifest(source)), tag)


def ecr_pusher(stress: Stress) -> None:
    """Images of two pool layers and one of their own through the ECR API (layers the repository has
    already are skipped, as the docker ECR push does), on the replicas in turn."""
    for n in range(ROUNDS):
        ecr = client(stress.url(n + 1), "ecr", stress.cluster.root)
        layers = [POOL[n % len(POOL)], POOL[(n + 1) % len(POOL)], os.urandom(1000 + n)]
        digest = _retry(lambda ecr=ecr, layers=layers, n=n: _ecr_push(ecr, "stress/ecr", f"t{n}", layers))
        stress.ledger.pushed("stress/ecr", digest, f"t{n}")
        time.sleep(0.5)  # the pool layer dropped a round ago is reclaimed while rounds go on


def deleter(stress: Stress) -> None:
    """While pushers run (and once after), delete the oldest images: ECR's by ``BatchDeleteImage`` by tag,
    skopeo's by ``/v2/`` ``DELETE`` of the manifest digest."""
    n = 0
    while stress.pushing.is_set() or n < 2:
        n += 1
        victim = stress.ledger.take_oldest("stress/ecr")
        if victim is not None:
            repo, digest, tag = victim
            ecr = client(stress.url(n), "ecr", stress.cluster.root)
            answer = ecr.batch_delete_image(repositoryName=repo, imageIds=[{"imageTag": tag}])
            if answer["imageIds"]:
                assert [i["imageDigest"] for i in answer["imageIds"]] == [digest], answer
                stress.ledger.gone(repo, digest)
            else:  # lifecycle expired it first (its events must say so: checked at the end)
                assert [f["failureCode"] for f in answer["failures"]] == ["ImageNotFound"], answer
                stress.ledger.missing(repo, digest)
        victim = stress.ledger.take_oldest("stress/sk")
        if victim is not None:
            repo, digest, _ = victim
            url = f"{stress.url(n + 1)}/v2/{repo}/manifests/{digest}"
            assert httpx.delete(url, headers=_headers(stress), timeout=60).status_code == 202
            stress.ledger.gone(repo, digest)
        time.sleep(0.5)


def cli_gc(stress: Stress) -> None:
    """``dockyard gc`` from the command line while the scheduled runs go on (runs may overlap)."""
    data_dir = stress.cluster.base / "cli"
    while stress.pushing.is_set():
        result = subprocess.run(
            [DOCKYARD, "gc", "--json", "--data-dir", str(data_dir)],
            env=stress.cluster.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        CLI_DELETED.append(json.loads(result.stdout)["blobs_deleted"])
        time.sleep(1)


LIFECYCLE_REPO = "stress/lc"
POLICIES = {
    "stress/ecr": [
        {"tagStatus": "tagged", "tagPrefixList": ["t"], "countType": "imageCountMoreThan", "countNumber": 1},
    ],
    LIFECYCLE_REPO: [
        {"tagStatus": "untagged", "countType": "imageCountMoreThan", "countNumber": 1},
        {"tagStatus": "tagged", "tagPrefixList": ["lc"], "countType": "imageCountMoreThan", "countNumber": 2},
    ],
}


def lifecycle_pusher(stress: Stress) -> None:
    """Images for lifecycle alone (no deleter touches ``stress/lc``) through the ECR API, tagged ``lc<n>``
    and untagged in turn, of pool layers shared with ``stress/ecr`` and one of their own."""
    for n in range(ROUNDS):
        ecr = client(stress.url(n), "ecr", stress.cluster.root)
        tag = f"lc{n}" if n % 2 else None
        layers = [POOL[(n + 2) % len(POOL)], os.urandom(1000 + n)]
        digest = _retry(functools.partial(_ecr_push, ecr, LIFECYCLE_REPO, tag, layers))
        stress.ledger.pushed(LIFECYCLE_REPO, digest, tag or digest)
        time.sleep(0.5)


def lifecycle_runs(stress: Stress) -> None:
    """Put the policies (``PutLifecyclePolicy``), then ``dockyard lifecycle run`` on each repository in turn
    while the pushers run (the scheduled job runs them too), and once more on each after they stopped."""
    ecr = client(stress.url(0), "ecr", stress.cluster.root)
    for repo, selections in POLICIES.items():
        rules = [
            {
                "rulePriority": priority,
                "description": f"gc stress: rule {priority} of {repo}",
                "selection": selection,
                "action": {"type": "expire"},
            }
            for priority, selection in enumerate(selections, start=1)
        ]
        ecr.put_lifecycle_policy(repositoryName=repo, lifecyclePolicyText=json.dumps({"rules": rules}))
    n = 0
    while stress.pushing.is_set():
        repo = list(POLICIES)[n % len(POLICIES)]
        CLI_EXPIRED["during"] += len(_lifecycle_run(stress, repo))
        n += 1
        time.sleep(1)
    CLI_EXPIRED["runs"] = n
    with ThreadPoolExecutor() as pool:  # the final runs, side by side (no image is in two repositories)
        done = pool.map(functools.partial(_lifecycle_run, stress), POLICIES)
        CLI_EXPIRED["final"] = sum(len(rows) for rows in done)


def _lifecycle_run(stress: Stress, repo: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = json.loads(_dockyard(stress.cluster, "lifecycle", "run", repo, "--json"))
    return rows


def _dockyard(cluster: Cluster, *args: str) -> str:
    result = subprocess.run(
        [DOCKYARD, *args, "--data-dir", str(cluster.base / "cli-lifecycle")],
        env=cluster.env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


PUSHERS: list[Callable[[Stress], None]] = [skopeo_pusher, ecr_pusher, lifecycle_pusher]
ACTORS: list[Callable[[Stress], None]] = [deleter, cli_gc, lifecycle_runs]


def test_pushes_deletes_and_gc_race_on_two_replicas(
    cluster: Cluster,
    images: LocalImages,  # noqa: F811
    s3_target: S3Target,
) -> None:
    stress = Stress(cluster, login(cluster.urls[0], cluster.root), images)
    for repo in POLICIES:
        client(cluster.urls[0], "ecr", cluster.root).create_repository(repositoryName=repo)
    started = time.monotonic()
    stress.pushing.set()
    errors: list[BaseException] = []
    pushers = [_thread(actor, stress, errors) for actor in PUSHERS]
    others = [_thread(actor, stress, errors) for actor in ACTORS]
    for thread in pushers:
        thread.join()
    stress.pushing.clear()
    pushed_until, pushing = datetime.now(UTC), time.monotonic() - started
    for thread in others:
        thread.join()
    if errors:
        raise errors[0]

    assert not _lifecycle_failures(cluster), _lifecycle_failures(cluster)  # the job logs them and goes on
    with ThreadPoolExecutor(1) as pool:  # `dockyard events list` while GC settles
        events = pool.submit(_lifecycle_expired, stress, pushed_until)
        _until_collected(cluster, s3_target)
        expired, expired_during = events.result()
    live = {key: ref for key, ref in stress.ledger.live.items() if key not in expired}
    _check_lifecycle(stress, expired, live)
    headers = stress.authorization
    for (repo, digest), ref in sorted(live.items()):
        for url in cluster.urls:
            assert pull_and_verify(url, headers, repo, ref, OCI_MANIFEST) == digest, (repo, ref)
    for repo, digest in sorted(stress.ledger.deleted | expired):
        for url in cluster.urls:
            gone = httpx.get(f"{url}/v2/{repo}/manifests/{digest}", headers=_headers(stress))
            assert gone.status_code == 404, (repo, digest)
    assert stress.ledger.deleted, "the deleters deleted nothing: the test raced nothing"
    runs = asyncio.run(_gc_runs(cluster.dsn))
    during, after = _swept_by_the_job(cluster, pushed_until)
    assert during + after + sum(CLI_DELETED) > 0, "GC deleted nothing: the test raced nothing"
    kept, deleted = len(stress.ledger.live), len(stress.ledger.deleted)
    print(f"\n{kept} images kept, {deleted} deleted; {runs} scheduled GC runs deleted {during} blobs while")
    print(f"the pushers ran, {after} after; `dockyard gc` runs while pushing deleted {CLI_DELETED}")
    print(f"pushes retried after a refusal: {REFUSED}")
    lifecycle_jobs = asyncio.run(_job_runs(cluster.dsn, "lifecycle-policies"))
    print(
        f"lifecycle expired {len(expired)} images ({expired_during} while the pushers ran; the deleter found"
    )
    print(f"{len(stress.ledger.vanished)} already expired); `dockyard lifecycle run`: {CLI_EXPIRED},")
    print(f"{lifecycle_jobs} scheduled lifecycle runs the rest; pushing took {pushing:.1f} s")


def _lifecycle_expired(stress: Stress, until: datetime) -> tuple[set[tuple[str, str]], int]:
    """What lifecycle expired, from ``dockyard events list`` (each image at most once), and how many of
    those expiries were evaluated before ``until`` (whole seconds: a lower bound)."""
    events = json.loads(_dockyard(stress.cluster, "events", "list", "--json", "--limit", "10000"))
    keys = [(e["repository"], e["digest"]) for e in events]
    assert len(keys) == len(set(keys)), "an image expired twice"
    assert {e["action"] for e in events} <= {"expire"}, events
    during = sum(datetime.fromisoformat(e["occurred_at"]) < until.replace(microsecond=0) for e in events)
    return set(keys), during


def _check_lifecycle(stress: Stress, expired: set[tuple[str, str]], live: dict[tuple[str, str], str]) -> None:
    """Each image went once (deleted, or expired), lifecycle expired only images that existed, and each
    repository holds exactly what its policy keeps of all that was pushed to it (listed by the ECR API)."""
    ledger = stress.ledger
    assert not expired & ledger.deleted, sorted(expired & ledger.deleted)
    assert ledger.vanished <= expired, sorted(ledger.vanished - expired)
    assert expired <= set(ledger.live) | ledger.vanished, sorted(expired - set(ledger.live) - ledger.vanished)
    ecr_left = [key for key in live if key[0] == "stress/ecr"]
    lc_pushed = [(key, ref) for key, ref in ledger.live.items() if key[0] == LIFECYCLE_REPO]
    assert not ledger.deleted & {key for key, _ in lc_pushed}
    assert len(lc_pushed) == ROUNDS
    tagged = [key for key, ref in lc_pushed if not ref.startswith("sha256:")]
    untagged = [key for key, ref in lc_pushed if ref.startswith("sha256:")]
    kept = set(tagged[-2:] + untagged[-1:])
    assert {key for key in live if key[0] == LIFECYCLE_REPO} == kept
    assert len(ecr_left) == 1, ecr_left  # the newest: the deleter leaves it, and so does the policy
    ecr = client(stress.url(0), "ecr", stress.cluster.root)
    for repo in POLICIES:
        listed = ecr.list_images(repositoryName=repo, maxResults=1000)["imageIds"]
        assert {(repo, i["imageDigest"]) for i in listed} == {key for key in live if key[0] == repo}, repo


def _until_collected(cluster: Cluster, s3: S3Target) -> None:
    """Poll until GC left only what is referenced: then the bucket must hold exactly the database's blobs."""
    deadline = time.monotonic() + SETTLE
    while True:
        state = asyncio.run(_database_state(cluster.dsn))
        if not state["unreferenced"] and not state["unused_links"] and not state["tombstones"]:
            break
        assert time.monotonic() < deadline, f"not collected within {SETTLE} s: {state}"
        time.sleep(0.5)
    prefix = cluster.env["DOCKYARD_S3_PREFIX"]
    stored = {"sha256:" + key.rsplit("/", 1)[1] for key in s3.keys(prefix + "blobs/")}
    assert stored == set(state["blobs"]), (
        sorted(stored - set(state["blobs"])),
        sorted(set(state["blobs"]) - stored),
    )


def _lifecycle_failures(cluster: Cluster) -> list[dict[str, Any]]:
    """Scheduled lifecycle runs that failed (``Lifecycle.run_all`` logs a failure and goes on)."""
    found = []
    for replica in cluster.replicas:
        for line in replica.log.read_text().splitlines():
            if '"lifecycle run failed"' in line or ('"job failed"' in line and "lifecycle-policies" in line):
                found.append(json.loads(line))
    return found


def _swept_by_the_job(cluster: Cluster, until: datetime) -> tuple[int, int]:
    """Blobs the scheduled runs deleted (from the replicas' logs) before and after ``until``."""
    during = after = 0
    for replica in cluster.replicas:
        for line in replica.log.read_text().splitlines():
            if '"garbage collected"' not in line:
                continue
            entry = json.loads(line)
            if datetime.fromisoformat(entry["time"]) < until:
                during += entry["blobs"]
            else:
                after += entry["blobs"]
    return during, after


async def _gc_runs(dsn: str) -> int:
    return await _job_runs(dsn, "gc")


async def _job_runs(dsn: str, name: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return int(await conn.fetchval("SELECT runs FROM jobs WHERE name = $1", name))
    finally:
        await conn.close()


async def _database_state(dsn: str) -> dict[str, Any]:
    conn = await asyncpg.connect(dsn)
    try:
        blobs = [r["digest"] for r in await conn.fetch("SELECT digest FROM blobs")]
        unreferenced = await conn.fetch(
            "SELECT digest FROM blobs b WHERE NOT EXISTS (SELECT 1 FROM repository_blobs l WHERE l.digest ="
            " b.digest) AND NOT EXISTS (SELECT 1 FROM manifest_references r WHERE r.digest = b.digest)"
        )
        unused = await conn.fetch(
            "SELECT l.digest FROM repository_blobs l WHERE NOT EXISTS (SELECT 1 FROM manifest_references r"
            " JOIN manifests m ON m.id = r.manifest_id WHERE m.repository_id = l.repository_id"
            " AND r.digest = l.digest)"
        )
        tombstones = await conn.fetch("SELECT digest FROM blobs WHERE deleting_at IS NOT NULL")
    finally:
        await conn.close()
    return {
        "blobs": blobs,
        "unreferenced": [r["digest"] for r in unreferenced],
        "unused_links": [r["digest"] for r in unused],
        "tombstones": [r["digest"] for r in tombstones],
    }


def _ecr_push(ecr: Any, repo: str, tag: str | None, layers: list[bytes]) -> str:
    config = json.dumps({"architecture": "amd64", "os": "linux", "tag": tag, "nonce": os.urandom(4).hex()})
    blobs = [config.encode(), *layers]
    digests = [digest_of(blob) for blob in blobs]
    found = ecr.batch_check_layer_availability(repositoryName=repo, layerDigests=digests)["layers"]
    present = {layer["layerDigest"] for layer in found if layer.get("layerAvailability") == "AVAILABLE"}
    for blob, digest in zip(blobs, digests, strict=True):
        if digest in present:
            continue
        upload = ecr.initiate_layer_upload(repositoryName=repo)["uploadId"]
        ecr.upload_layer_part(
            repositoryName=repo,
            uploadId=upload,
            partFirstByte=0,
            partLastByte=len(blob) - 1,
            layerPartBlob=blob,
        )
        ecr.complete_layer_upload(repositoryName=repo, uploadId=upload, layerDigests=[digest])
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": digests[0],
            "size": len(blobs[0]),
        },
        "layers": [
            {"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": d, "size": len(b)}
            for d, b in zip(digests[1:], blobs[1:], strict=True)
        ],
    }
    body = json.dumps(manifest)
    named = {"imageTag": tag} if tag is not None else {}
    ecr.put_image(repositoryName=repo, imageManifest=body, imageManifestMediaType=OCI_MANIFEST, **named)
    return digest_of(body.encode())


CLI_DELETED: list[int] = []  # blobs each `dockyard gc` run deleted while the pushers ran
CLI_EXPIRED = {"runs": 0, "during": 0, "final": 0}  # `dockyard lifecycle run`s while pushing, images expired
REFUSED: list[str] = []  # pushes refused by a race and retried (printed with -s; an observation)


def _retry(push: Callable[[], Any]) -> Any:
    """A push the registry refused because of a race GC may cause (a layer link reclaimed between the
    client's check and its manifest, an upload of a blob being collected) is pushed again, as clients do."""
    for attempt in range(ATTEMPTS):
        try:
            return push()
        except (ClientError, PushFailed) as exc:
            if attempt == ATTEMPTS - 1:
                raise
            REFUSED.append(str(exc)[-300:])
            time.sleep(0.2)
    raise AssertionError("unreachable")


class PushFailed(Exception):
    pass


def _check(result: subprocess.CompletedProcess[str]) -> None:
    if result.returncode != 0:
        raise PushFailed(result.stderr)


def _headers(stress: Stress) -> dict[str, str]:
    return {"Authorization": stress.authorization}


def _thread(actor: Callable[[Stress], None], stress: Stress, errors: list[BaseException]) -> threading.Thread:
    def run() -> None:
        try:
            actor(stress)
        except BaseException as exc:  # reported by the test once every actor stopped
            errors.append(exc)

    thread = threading.Thread(target=run, name=actor.__name__)
    thread.start()
    return thread
