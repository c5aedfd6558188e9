"""Garbage collection's protocol (``docs/gc.md``) on every database of the contract suite: what a run
reclaims and when, what it never touches, and the deciding writes in each order they can be serialised.

The concurrent interleavings PostgreSQL allows (a link and a sweep in flight at once) are in
``test_gc_races.py``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from clocks import StepClock
from dockyard.blobstore.content import BlobStore
from dockyard.blobstore.filesystem import FilesystemDriver
from dockyard.domain.digest import Digest
from dockyard.domain.errors import BlobDeleting, ManifestBlobUnknown
from dockyard.domain.gc import GcPolicy
from dockyard.metadata import unit_sql
from dockyard.metadata.engine import create_engine
from dockyard.metadata.gc_store import SqlGcStore
from dockyard.metadata.store import SqlMetadataStore
from dockyard.metadata.tables import repository_blobs
from dockyard.services.gc import GarbageCollector
from dockyard.services.registry import RegistryPolicy, RegistryService

from .test_metadata_store import ACCOUNT, manifest

GRACE = 600


@dataclass
class Gc:
    engine: AsyncEngine
    store: SqlMetadataStore
    gc_store: SqlGcStore
    registry: RegistryService
    collector: GarbageCollector
    blobs: BlobStore
    clock: StepClock

    async def push(self, repository: str, data: bytes) -> str:
        digest = Digest.of(data)
        await self.registry.upload_blob(ACCOUNT, repository, digest, _stream(data), len(data))
        return str(digest)

    async def has_bytes(self, digest: str) -> bool:
        return await self.blobs.stat(Digest.parse(digest)) is not None

    async def repository_id(self, name: str) -> int:
        return (await self.registry.repository(ACCOUNT, name)).id


async def _stream(data: bytes) -> AsyncIterator[bytes]:
    yield data


@pytest.fixture
async def gc(store_url: tuple[str, bool], clock: StepClock, tmp_path: Path) -> AsyncIterator[Gc]:
    engine = create_engine(store_url[0])
    store = SqlMetadataStore(engine, clock)
    blobs = BlobStore(FilesystemDriver(tmp_path / "storage"))
    registry = RegistryService(store, blobs, clock, RegistryPolicy())
    gc_store = SqlGcStore(engine, clock)
    policy = GcPolicy(
        grace=timedelta(seconds=GRACE), orphan_after=timedelta(seconds=60), batch=2
    )  # batch 2: paging runs
    try:
        yield Gc(
            engine, store, gc_store, registry, GarbageCollector(gc_store, blobs, clock, policy), blobs, clock
        )
    finally:
        await engine.dispose()


async def test_an_unreferenced_blob_goes_only_after_its_grace(gc: Gc) -> None:
    digest = await gc.push("app", b"layer")
    repository_id = await gc.repository_id("app")
    assert await gc.store.unlink_blob(repository_id, digest)
    first = await gc.collector.collect()
    assert (first.marked, first.blobs_deleted) == (1, 0)
    gc.clock.advance(GRACE - 1)
    assert (await gc.collector.collect()).blobs_deleted == 0
    assert await gc.has_bytes(digest)
    gc.clock.advance(2)
    result = await gc.collector.collect()
    assert (result.blobs_deleted, result.bytes_deleted, result.deleted) == (1, 5, [digest])
    assert not await gc.has_bytes(digest)
    assert await gc.store.blob_size(digest) is None


async def test_referenced_blobs_and_their_links_stay(gc: Gc) -> None:
    layer, config = await gc.push("app", b"layer"), await gc.push("app", b"config")
    repository_id = await gc.repository_id("app")
    await gc.store.put_manifest(repository_id, manifest("m", blobs=(config, layer), tag="v1"))
    await gc.store.put_manifest(repository_id, manifest("untagged", blobs=(layer,)))
    for _ in range(3):
        result = await gc.collector.collect()
        assert (result.links_removed, result.marked, result.blobs_deleted) == (0, 0, 0)
        gc.clock.advance(GRACE * 2)
    assert await gc.has_bytes(layer)
    assert await gc.has_bytes(config)
    assert await gc.store.linked_blob_size(repository_id, layer) == 5


async def test_an_unused_link_is_reclaimed_after_its_grace_then_its_blob(gc: Gc) -> None:
    used, unused = await gc.push("app", b"used"), await gc.push("app", b"unused")
    repository_id = await gc.repository_id("app")
    await gc.store.put_manifest(repository_id, manifest("m", blobs=(used,), tag="v1"))
    gc.clock.advance(GRACE - 1)
    assert (await gc.collector.collect()).links_removed == 0  # young: a manifest may still come
    gc.clock.advance(2)
    result = await gc.collector.collect()
    assert (result.links_removed, result.marked, result.blobs_deleted) == (1, 1, 0)
    assert await gc.store.linked_blob_size(repository_id, unused) is None
    gc.clock.advance(GRACE + 1)
    assert (await gc.collector.collect()).deleted == [unused]
    assert await gc.has_bytes(used)


async def test_a_link_made_again_is_young_again(gc: Gc) -> None:
    digest = await gc.push("app", b"layer")
    gc.clock.advance(GRACE - 1)
    await gc.push("app", b"layer")  # the same blob pushed again refreshes its link
    gc.clock.advance(2)
    assert (await gc.collector.collect()).links_removed == 0
    assert await gc.store.linked_blob_size(await gc.repository_id("app"), digest) == 5


async def test_a_link_clears_the_mark(gc: Gc) -> None:
    digest = await gc.push("app", b"layer")
    assert await gc.store.unlink_blob(await gc.repository_id("app"), digest)
    assert (await gc.collector.collect()).marked == 1
    gc.clock.advance(GRACE - 1)
    await gc.push("other", b"layer")  # linked again: the old mark must not count
    assert await gc.store.unlink_blob(await gc.repository_id("other"), digest)
    gc.clock.advance(2)
    result = await gc.collector.collect()
    assert (result.marked, result.blobs_deleted) == (1, 0)  # marked afresh, with a full grace ahead
    assert await gc.has_bytes(digest)


async def test_a_blob_only_a_manifest_references_stays(gc: Gc) -> None:
    digest = await gc.push("app", b"layer")
    repository_id = await gc.repository_id("app")
    await gc.store.put_manifest(repository_id, manifest("m", blobs=(digest,), tag="v1"))
    assert await gc.store.unlink_blob(repository_id, digest)  # DELETE /v2/…/blobs/ of a used layer
    for _ in range(2):
        gc.clock.advance(GRACE + 1)
        assert (await gc.collector.collect()).blobs_deleted == 0
    assert await gc.has_bytes(digest)


async def test_a_deleted_repository_s_blobs_go_but_shared_ones_stay(gc: Gc) -> None:
    own, shared = await gc.push("doomed", b"own"), await gc.push("doomed", b"shared")
    await gc.push("kept", b"shared")
    await gc.registry.delete_repository(ACCOUNT, "doomed")
    await gc.collector.collect()
    gc.clock.advance(GRACE + 1)
    assert (await gc.collector.collect()).deleted == [own]
    assert await gc.has_bytes(shared)


async def test_tombstone_then_link_refuses_the_link(gc: Gc) -> None:
    digest = await gc.push("app", b"layer")
    repository_id = await gc.repository_id("app")
    await gc.store.unlink_blob(repository_id, digest)
    await gc.gc_store.mark(gc.clock.now())
    gc.clock.advance(GRACE + 1)
    cutoff = gc.collector.policy.cutoff(gc.clock.now())
    assert await gc.gc_store.tombstone([digest], cutoff, gc.clock.now()) == [(digest, 5)]
    with pytest.raises(BlobDeleting):
        await gc.store.link_blob(repository_id, digest, 5)
    assert await gc.store.claim_blob(digest, 5) is False
    mount = await gc.registry.mount(ACCOUNT, "app", Digest.parse(digest), None)
    assert mount.digest is None  # no mount of a blob being deleted: an upload instead
    assert mount.upload is not None
    await gc.blobs.delete(Digest.parse(digest))
    assert await gc.gc_store.forget([digest]) == 1
    assert await gc.store.claim_blob(digest, 5) is True  # a fresh row: the upload's bytes come next
    await gc.push("app", b"layer")
    assert await gc.has_bytes(digest)


async def test_link_then_tombstone_leaves_the_blob(gc: Gc) -> None:
    digest = await gc.push("app", b"layer")
    repository_id = await gc.repository_id("app")
    await gc.store.unlink_blob(repository_id, digest)
    await gc.gc_store.mark(gc.clock.now())
    gc.clock.advance(GRACE + 1)
    await gc.store.link_blob(repository_id, digest, 5)
    cutoff = gc.collector.policy.cutoff(gc.clock.now())
    assert await gc.gc_store.tombstone([digest], cutoff, gc.clock.now()) == []


async def test_reclaim_then_manifest_put_refuses_the_manifest(gc: Gc) -> None:
    digest = await gc.push("app", b"layer")
    repository_id = await gc.repository_id("app")
    gc.clock.advance(GRACE + 1)
    cutoff = gc.collector.policy.cutoff(gc.clock.now())
    assert await gc.gc_store.reclaim_links([(repository_id, digest)], cutoff) == 1
    with pytest.raises(ManifestBlobUnknown):
        await gc.store.put_manifest(repository_id, manifest("m", blobs=(digest,), tag="v1"))


async def test_manifest_put_then_reclaim_keeps_the_link(gc: Gc) -> None:
    digest = await gc.push("app", b"layer")
    repository_id = await gc.repository_id("app")
    gc.clock.advance(GRACE + 1)
    await gc.store.put_manifest(repository_id, manifest("m", blobs=(digest,), tag="v1"))
    cutoff = gc.collector.policy.cutoff(gc.clock.now())
    assert await gc.gc_store.reclaim_links([(repository_id, digest)], cutoff) == 0


async def test_a_stopped_run_s_tombstones_are_finished(gc: Gc) -> None:
    digest = await gc.push("app", b"layer")
    await gc.store.unlink_blob(await gc.repository_id("app"), digest)
    await gc.gc_store.mark(gc.clock.now())
    gc.clock.advance(GRACE + 1)
    cutoff = gc.collector.policy.cutoff(gc.clock.now())
    await gc.gc_store.tombstone([digest], cutoff, gc.clock.now())  # then the run "dies"
    gc.clock.advance(30)
    assert (await gc.collector.collect()).blobs_deleted == 0  # maybe still in flight: left alone
    gc.clock.advance(31)
    assert (await gc.collector.collect()).deleted == [digest]
    assert not await gc.has_bytes(digest)


async def test_the_plan_reports_and_deletes_nothing(gc: Gc) -> None:
    kept, unused, gone = [await gc.push("app", data) for data in (b"kept", b"unused", b"gone!")]
    repository_id = await gc.repository_id("app")
    await gc.store.put_manifest(repository_id, manifest("m", blobs=(kept,), tag="v1"))
    await gc.store.unlink_blob(repository_id, gone)
    await gc.collector.collect()
    gc.clock.advance(GRACE + 1)
    plan = await gc.collector.plan()
    assert plan.links == [(f"{ACCOUNT}/app", unused)]
    assert (plan.blobs, plan.bytes, plan.waiting_blobs) == ([(gone, 5)], 5, 0)
    assert await gc.has_bytes(gone)
    assert await gc.store.linked_blob_size(repository_id, unused) == 6
    assert (await gc.collector.collect()).deleted == [gone]


async def test_usage_counts_distinct_linked_blobs_and_manifests(gc: Gc) -> None:
    one, two = await gc.push("app", b"one"), await gc.push("app", b"twotwo")
    await gc.push("app", b"one")
    await gc.push("other", b"one")
    await gc.registry.create_repository(ACCOUNT, "empty")
    new = manifest("m", blobs=(one, two), tag="v1")
    await gc.store.put_manifest(await gc.repository_id("app"), new)
    usage = {u.name: u for u in await gc.gc_store.usage(ACCOUNT)}
    assert (usage["app"].blob_bytes, usage["app"].blobs) == (9, 2)
    assert usage["app"].manifest_bytes == len(new.record.content)
    assert usage["app"].total == 9 + len(new.record.content)
    assert (usage["other"].total, usage["empty"].total) == (3, 0)
    assert await gc.gc_store.usage("999999999999") == []


async def test_mark_clears_a_mark_left_on_a_linked_blob(gc: Gc) -> None:
    digest = await gc.push("app", b"layer")
    repository_id = await gc.repository_id("app")
    await gc.store.unlink_blob(repository_id, digest)
    await gc.gc_store.mark(gc.clock.now())
    # A link the mark statement could not see yet (PostgreSQL, concurrent): the row keeps its mark.
    link = insert(repository_blobs).values(
        repository_id=repository_id, digest=digest, created_at=gc.clock.now()
    )
    await gc.store._write_unit(unit_sql.execute, link)
    assert await gc.gc_store.mark(gc.clock.now()) == (0, 1)
    await gc.store.unlink_blob(repository_id, digest)
    gc.clock.advance(GRACE - 1)
    result = await gc.collector.collect()
    assert (result.marked, result.blobs_deleted) == (1, 0)  # its grace starts now, not at the stale mark
