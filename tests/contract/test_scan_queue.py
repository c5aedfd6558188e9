"""The scan queue on SQLite and PostgreSQL: each queued scan is claimed by one worker at a time (two stores on
one database, as two replicas), a dead worker's lease lapses and another takes over, failed attempts come
back after their backoff and end ``FAILED`` after the last one, the on-demand quota holds, and a worker
never runs more scans at once than its concurrency."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from clocks import StepClock
from dockyard.domain.digest import Digest
from dockyard.domain.records import ManifestRecord, NewManifest
from dockyard.metadata.engine import create_engine
from dockyard.metadata.scan_store import ClaimedScan, QuotaExceeded, ScanStore
from dockyard.metadata.signal import LocalChangeSignal
from dockyard.ports import MetadataStore
from dockyard.services.scan_runner import RunnerConfig, ScanRunner
from dockyard.workers.scans import ScanWorker

IMAGE = "application/vnd.oci.image.manifest.v1+json"


async def images(store: MetadataStore, scans: ScanStore, count: int) -> list[int]:
    """``count`` manifests in one repository; their manifest ids."""
    repository = await store.create_repository("123456789012", "scan/queue")
    ids = []
    for number in range(count):
        body = json.dumps({"schemaVersion": 2, "mediaType": IMAGE, "n": number}).encode()
        record = ManifestRecord(str(Digest.of(body)), IMAGE, body)
        await store.put_manifest(repository.id, NewManifest(record, (), (), None))
        found = await scans.manifest_id(repository.id, record.digest)
        assert found is not None
        ids.append(found)
    return ids


@pytest.fixture
async def scan_stores(
    store_url: tuple[str, bool], clock: StepClock, open_store: Callable[[], MetadataStore]
) -> Any:
    url, _ = store_url
    engines = [create_engine(url), create_engine(url)]
    try:
        yield [ScanStore(engine, clock, LocalChangeSignal()) for engine in engines]
    finally:
        for engine in engines:
            await engine.dispose()


async def test_each_scan_is_claimed_once_across_replicas(
    scan_stores: list[ScanStore], store: MetadataStore, clock: StepClock
) -> None:
    ids = await images(store, scan_stores[0], 12)
    first, second = scan_stores
    await first.request(ids, clock.now())
    until = clock.now() + timedelta(minutes=2)
    claims = await asyncio.gather(
        *(s.claim(f"replica-{n}", clock.now(), until, 3) for n, s in enumerate([first, second] * 4))
    )
    claimed = [c.manifest_id for batch in claims for c in batch]
    assert sorted(claimed) == sorted(ids)  # every scan once, none twice
    assert await first.claim("late", clock.now(), until, 10) == []


async def test_a_lapsed_lease_is_taken_over(
    scan_stores: list[ScanStore], store: MetadataStore, clock: StepClock
) -> None:
    (image,) = await images(store, scan_stores[0], 1)
    first, second = scan_stores
    await first.request([image], clock.now())
    (held,) = await first.claim("dies", clock.now(), clock.now() + timedelta(seconds=30), 1)
    assert await second.claim("other", clock.now(), clock.now() + timedelta(seconds=30), 1) == []
    clock.advance(31)
    (taken,) = await second.claim("other", clock.now(), clock.now() + timedelta(seconds=30), 1)
    assert taken.manifest_id == held.manifest_id
    assert not await first.renew(image, "dies", clock.now() + timedelta(seconds=30))  # the lease moved on
    assert not await first.finish(image, "dies", "FAILED", "too late")
    assert await second.finish(image, "other", "FAILED", "broken layer")
    assert (await first.states([image]))[image].status == "FAILED"


async def test_the_on_demand_quota(
    scan_stores: list[ScanStore], store: MetadataStore, clock: StepClock
) -> None:
    (image,) = await images(store, scan_stores[0], 1)
    scans = scan_stores[0]
    day = timedelta(hours=24)
    await scans.request_manual(image, clock.now(), clock.now() - day)
    clock.advance(3600)
    with pytest.raises(QuotaExceeded):
        await scans.request_manual(image, clock.now(), clock.now() - day)
    clock.advance(23 * 3600)
    await scans.request_manual(image, clock.now(), clock.now() - day)
    await scans.request_manual(image, clock.now(), None)  # quota off


class Breaks:
    """An inventory builder that always fails the way a bug would (not a refused layer)."""

    def __call__(self, layers: Any, scratch: Path) -> Any:
        raise RuntimeError("boom")


async def test_failed_attempts_back_off_then_fail(
    scan_stores: list[ScanStore], store: MetadataStore, clock: StepClock, tmp_path: Path
) -> None:
    (image,) = await images(store, scan_stores[0], 1)
    scans = scan_stores[0]
    config = RunnerConfig(tmp_path, max_attempts=3, retry_delay=timedelta(seconds=10))
    layer = tmp_path / "layer"
    layer.write_bytes(b"")
    runner = ScanRunner(Fake(layer), scans, None, None, Breaks(), clock, config)  # type: ignore[arg-type]
    await scans.request([image], clock.now())
    outcomes = []
    for backoff in (0, 10, 20):  # retry_delay doubling after each failed attempt
        clock.advance(backoff / 2)
        if backoff:
            assert await scans.claim("w", clock.now(), clock.now() + timedelta(minutes=1), 1) == []
        clock.advance(backoff / 2 + 0.001)
        (claimed,) = await scans.claim("w", clock.now(), clock.now() + timedelta(minutes=1), 1)
        outcomes.append(await runner.run(claimed, "w"))
    assert outcomes == ["RETRY", "RETRY", "FAILED"]
    state = (await scans.states([image]))[image]
    assert state.status == "FAILED"
    assert "gave up after 3 attempts" in (state.description or "")


class Fake:
    """The bits of RegistryService a runner reads: a manifest, and every layer present as ``layer``."""

    def __init__(self, layer: Path) -> None:
        self.store = FakeManifests()
        self.blobs = FakeBlobs(layer)


class FakeManifests:
    async def get_manifest(self, account: str, name: str, digest: str) -> ManifestRecord:
        layer = {
            "mediaType": "application/vnd.oci.image.layer.v1.tar",
            "digest": "sha256:" + "0" * 64,
            "size": 1,
        }
        config = {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": "sha256:" + "1" * 64,
            "size": 2,
        }
        body = json.dumps(
            {"schemaVersion": 2, "mediaType": IMAGE, "config": config, "layers": [layer]}
        ).encode()
        return ManifestRecord(digest, IMAGE, body)


class FakeBlobs:
    def __init__(self, layer: Path) -> None:
        self.layer = layer

    def local_path(self, digest: Digest) -> Path:
        return self.layer


class Counting:
    """A runner that holds each scan a moment and records how many ran at once."""

    def __init__(self, scans: ScanStore) -> None:
        self.scans = scans
        self.running = 0
        self.most = 0
        self.seen: list[int] = []

    async def run(self, scan: ClaimedScan, owner: str) -> str:
        self.running += 1
        self.most = max(self.most, self.running)
        self.seen.append(scan.manifest_id)
        await asyncio.sleep(0.05)
        self.running -= 1
        await self.scans.finish(scan.manifest_id, owner, "FAILED", "counted")
        return "FAILED"


async def test_a_worker_runs_at_most_its_concurrency(
    scan_stores: list[ScanStore], store: MetadataStore, clock: StepClock
) -> None:
    ids = await images(store, scan_stores[0], 7)
    scans = scan_stores[0]
    await scans.request(ids, clock.now())
    runner = Counting(scans)
    worker = ScanWorker(scans, runner, clock, concurrency=2)  # type: ignore[arg-type]
    await worker.drain()
    assert sorted(runner.seen) == sorted(ids)
    assert runner.most == 2


async def test_the_next_due_time_and_the_workers_pause(
    scan_stores: list[ScanStore], store: MetadataStore, clock: StepClock
) -> None:
    """An idle worker looks again when a retry falls due or a dead replica's lease ends, not only at its
    longest poll."""
    first, second = scan_stores
    worker = ScanWorker(second, Counting(second), clock, concurrency=1, poll=30)  # type: ignore[arg-type]
    assert await first.next_due() is None
    assert await worker.pause() == 30  # an empty queue
    image, other = await images(store, first, 2)
    await first.request([image], clock.now())
    held = await first.claim("w", clock.now(), clock.now() + timedelta(seconds=20), 1)
    assert [scan.manifest_id for scan in held] == [image]
    assert await first.next_due() == clock.now() + timedelta(seconds=20)  # the holder's lease end
    assert await worker.pause() == 20
    assert await first.retry(image, "w", clock.now() + timedelta(seconds=5), "layer not there yet")
    assert await first.next_due() == clock.now() + timedelta(seconds=5)  # the retry's time
    assert await worker.pause() == 5
    await first.request([other], clock.now())
    assert await worker.pause() == 0.05  # claimable now: at once
