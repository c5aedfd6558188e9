"""Online garbage collection (``docs/gc.md``): reclaim unused links, mark, then sweep blobs past their grace.

A run, on one replica at a time (the ``gc`` job) or from ``dockyard gc``, while every replica serves:

1. links no manifest of their repository uses and not made again for ``grace`` are removed;
2. blobs nothing references are marked (and marks on referenced blobs cleared);
3. tombstones left by a run that stopped are finished (bytes deleted, rows forgotten);
4. blobs marked more than ``grace`` ago are, a batch at a time, locked, re-checked and tombstoned, their
   bytes deleted, and only then their rows forgotten.

Every step is idempotent: a run interrupted anywhere is finished by the next.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime

from dockyard.blobstore.content import BlobStore
from dockyard.domain.digest import Digest
from dockyard.domain.gc import GcPlan, GcPolicy, GcResult
from dockyard.ports import Clock, GcStore

log = logging.getLogger("dockyard.gc")

Blob = tuple[str, int]  # (digest, size)
Progress = Callable[[int, int], None]  # (blobs, bytes) deleted by the batch just finished
DELETE_CONCURRENCY = 8


class GarbageCollector:
    def __init__(self, store: GcStore, blobs: BlobStore, clock: Clock, policy: GcPolicy) -> None:
        self.store = store
        self.blobs = blobs
        self.clock = clock
        self.policy = policy

    async def plan(self) -> GcPlan:
        """What a run would delete now, deleting nothing (``dockyard gc --dry-run``)."""
        return await self.store.plan(self.policy.cutoff(self.clock.now()))

    async def collect(self, progress: Progress | None = None) -> GcResult:
        result = GcResult()
        now = self.clock.now()
        cutoff = self.policy.cutoff(now)
        result.links_removed = await self._reclaim_links(cutoff)
        result.marked, result.unmarked = await self.store.mark(now)
        await self._finish_orphans(now, result, progress)
        after = ""
        while batch := await self.store.sweepable(cutoff, after, self.policy.batch):
            after = batch[-1][0]
            doomed = await self.store.tombstone([digest for digest, _ in batch], cutoff, self.clock.now())
            await self._delete(doomed, result, progress)
        log.info(
            "garbage collected",
            extra={
                "links": result.links_removed,
                "blobs": result.blobs_deleted,
                "bytes": result.bytes_deleted,
                "marked": result.marked,
            },
        )
        return result

    async def _reclaim_links(self, cutoff: datetime) -> int:
        removed = 0
        after = (-1, "")
        while batch := await self.store.stale_links(cutoff, after, self.policy.batch):
            after = batch[-1]
            removed += await self.store.reclaim_links(batch, cutoff)
        return removed

    async def _finish_orphans(self, now: datetime, result: GcResult, progress: Progress | None) -> None:
        """Tombstones older than ``orphan_after`` belong to a run that stopped before forgetting them."""
        while batch := await self.store.tombstoned(now - self.policy.orphan_after, self.policy.batch):
            await self._delete(batch, result, progress)

    async def _delete(
        self, doomed: list[tuple[str, int]], result: GcResult, progress: Progress | None
    ) -> None:
        """Delete the bytes of tombstoned blobs, then forget the rows of those whose bytes are gone; the
        rest keep their tombstones (a later run finishes them) and the first failure is raised."""
        gate = asyncio.Semaphore(DELETE_CONCURRENCY)

        async def delete(digest: str) -> None:
            async with gate:
                await self.blobs.delete(Digest.parse(digest))

        outcomes = await asyncio.gather(*(delete(digest) for digest, _ in doomed), return_exceptions=True)
        gone = [(d, size) for (d, size), outcome in zip(doomed, outcomes, strict=True) if outcome is None]
        if gone:
            await self.store.forget([digest for digest, _ in gone])
            size = sum(size for _, size in gone)
            result.blobs_deleted += len(gone)
            result.bytes_deleted += size
            result.deleted.extend(digest for digest, _ in gone)
            if progress is not None:
                progress(len(gone), size)
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome
