"""GC's deciding writes against the writers that create references, in flight at once on PostgreSQL
(READ COMMITTED, one connection each, as on separate replicas), in every order the locks allow.

Each test holds one side's transaction open at its deciding point, starts the other side, waits until it
is either finished or waiting on a lock (``pg_stat_activity``), then commits the first: the outcome must be
one a serial order gives (``test_gc.py`` checks those orders on every database). Without the protocol's
locks the second side would not wait, read the first side's uncommitted state as absent, and the asserts
below fail.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from clocks import StepClock
from dockyard.domain.errors import BlobDeleting, ManifestBlobUnknown
from dockyard.metadata import gc_sql
from dockyard.metadata.engine import create_engine, database_url
from dockyard.metadata.gc_store import SqlGcStore
from dockyard.metadata.store import SqlMetadataStore

from .test_metadata_store import ACCOUNT, manifest, sha

GRACE = timedelta(minutes=10)
DIGEST = sha("layer")


@pytest.fixture
async def engines(empty_postgres_url: str, tmp_path: Path) -> AsyncIterator[list[AsyncEngine]]:
    url = database_url(empty_postgres_url, tmp_path)
    made = [create_engine(url) for _ in range(3)]
    try:
        yield made
    finally:
        for engine in made:
            await engine.dispose()


async def _settled_or_waiting(observer: AsyncEngine, task: asyncio.Task[Any]) -> None:
    """Return once ``task`` finished or some backend waits on a lock (it can only be ``task``'s)."""
    query = text(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE wait_event_type = 'Lock' AND datname = current_database()"
    )
    while not task.done():
        async with observer.connect() as conn:
            if (await conn.execute(query)).scalar():
                return
        await asyncio.sleep(0.01)


async def _unreferenced_and_marked(engine: AsyncEngine, clock: StepClock) -> tuple[SqlMetadataStore, int]:
    """A repository whose blob was unlinked and marked more than the grace ago."""
    store = SqlMetadataStore(engine, clock)
    repository = await store.create_repository(ACCOUNT, "app")
    await store.link_blob(repository.id, DIGEST, 5)
    await store.unlink_blob(repository.id, DIGEST)
    await SqlGcStore(engine, clock).mark(clock.now())
    clock.advance((GRACE + timedelta(seconds=1)).total_seconds())
    return store, repository.id


async def test_a_link_waits_for_a_tombstone_and_is_refused(
    engines: list[AsyncEngine], clock: StepClock
) -> None:
    gc_engine, push_engine, observer = engines
    store, repository_id = await _unreferenced_and_marked(push_engine, clock)
    async with gc_engine.connect() as gc:
        await gc.begin()
        doomed = await gc.run_sync(gc_sql.tombstone, [DIGEST], clock.now() - GRACE, clock.now())
        assert doomed == [(DIGEST, 5)]
        link = asyncio.create_task(store.link_blob(repository_id, DIGEST, 5))
        await _settled_or_waiting(observer, link)
        await gc.commit()
    with pytest.raises(BlobDeleting):
        await link
    assert await store.linked_blob_size(repository_id, DIGEST) is None


async def test_a_tombstone_skips_a_blob_a_link_holds(engines: list[AsyncEngine], clock: StepClock) -> None:
    gc_engine, push_engine, _ = engines
    store, repository_id = await _unreferenced_and_marked(push_engine, clock)
    async with push_engine.connect() as push:
        await push.begin()
        await push.run_sync(store._link, repository_id, DIGEST, 5)  # the link's unit, not yet committed
        tombstone = SqlGcStore(gc_engine, clock).tombstone([DIGEST], clock.now() - GRACE, clock.now())
        assert await tombstone == []  # SKIP LOCKED: the blob is in use, try it next run
        await push.commit()
    assert await store.linked_blob_size(repository_id, DIGEST) == 5


async def test_an_upload_claim_waits_for_gc_to_forget_and_starts_afresh(
    engines: list[AsyncEngine], clock: StepClock
) -> None:
    gc_engine, push_engine, observer = engines
    store, _ = await _unreferenced_and_marked(push_engine, clock)
    await SqlGcStore(gc_engine, clock).tombstone([DIGEST], clock.now() - GRACE, clock.now())
    assert await store.claim_blob(DIGEST, 5) is False  # being deleted: the upload waits
    async with gc_engine.connect() as gc:
        await gc.begin()
        assert await gc.run_sync(gc_sql.forget, [DIGEST]) == 1
        claim = asyncio.create_task(store.claim_blob(DIGEST, 5))
        await _settled_or_waiting(observer, claim)
        await gc.commit()
    assert await claim is True  # a fresh, unmarked row; the upload's bytes are committed after this
    assert await SqlGcStore(gc_engine, clock).sweepable(clock.now(), "", 10) == []


async def test_a_manifest_put_waits_for_a_link_reclaim_and_is_refused(
    engines: list[AsyncEngine], clock: StepClock
) -> None:
    gc_engine, push_engine, observer = engines
    store = SqlMetadataStore(push_engine, clock)
    repository = await store.create_repository(ACCOUNT, "app")
    await store.link_blob(repository.id, DIGEST, 5)
    clock.advance((GRACE + timedelta(seconds=1)).total_seconds())
    async with gc_engine.connect() as gc:
        await gc.begin()
        links = [(repository.id, DIGEST)]
        assert await gc.run_sync(gc_sql.reclaim_links, links, clock.now() - GRACE) == 1
        put = asyncio.create_task(store.put_manifest(repository.id, manifest("m", blobs=(DIGEST,), tag="v1")))
        await _settled_or_waiting(observer, put)
        await gc.commit()
    with pytest.raises(ManifestBlobUnknown):
        await put
    assert await store.get_tagged_manifest(ACCOUNT, "app", "v1") is None


async def test_a_link_reclaim_skips_a_link_a_manifest_put_holds(
    engines: list[AsyncEngine], clock: StepClock
) -> None:
    gc_engine, push_engine, _ = engines
    store = SqlMetadataStore(push_engine, clock)
    repository = await store.create_repository(ACCOUNT, "app")
    await store.link_blob(repository.id, DIGEST, 5)
    clock.advance((GRACE + timedelta(seconds=1)).total_seconds())
    async with push_engine.connect() as push:
        await push.begin()
        await push.run_sync(
            store._put_manifest, repository.id, manifest("m", blobs=(DIGEST,), tag="v1"), False
        )
        reclaim = SqlGcStore(gc_engine, clock).reclaim_links([(repository.id, DIGEST)], clock.now() - GRACE)
        assert await reclaim == 0
        await push.commit()
    assert await store.linked_blob_size(repository.id, DIGEST) == 5
    assert await store.get_tagged_manifest(ACCOUNT, "app", "v1") is not None


async def test_a_link_committed_while_marking_leaves_no_mark(
    engines: list[AsyncEngine], clock: StepClock
) -> None:
    gc_engine, push_engine, observer = engines
    store = SqlMetadataStore(push_engine, clock)
    repository = await store.create_repository(ACCOUNT, "app")
    await store.link_blob(repository.id, DIGEST, 5)
    await store.unlink_blob(repository.id, DIGEST)  # unreferenced, not marked yet
    gc_store = SqlGcStore(gc_engine, clock)
    async with push_engine.connect() as push:
        await push.begin()
        await push.run_sync(store._link, repository.id, DIGEST, 5)  # holds the row (shared)
        mark = asyncio.create_task(gc_store.mark(clock.now()))
        await _settled_or_waiting(observer, mark)
        await push.commit()
    await mark  # its first statement could not see the link; its second does
    await store.unlink_blob(repository.id, DIGEST)
    clock.advance((GRACE * 2).total_seconds())
    assert await gc_store.sweepable(clock.now() - GRACE, "", 10) == []  # its grace starts at the next mark
