"""The offline vulnerability database, the use case: import OSV data, say what is in it, match packages.

An import reads records off the event loop (:mod:`dockyard.domain.vulns.sources`, parsing and row
preparation in a worker thread, ``BATCH`` records at a time) and writes each batch as one unit of work
(:class:`~dockyard.metadata.vulndb_store.VulnDbStore`), so memory stays bounded whatever the dump's size.
A record that cannot be read, parsed or stored is counted and reported with its file name; it never stops
the import. The import ends by recording itself: the generation moves when anything changed (a consumer
caching findings compares generations), and ``updated_at`` moves to the newest ``modified`` seen (what
ECR reports as ``vulnerabilitySourceUpdatedAt``; the import time when no record carries a plausible one).

Matching reads the affected index for all queried packages at once (chunked ``IN`` lists) and evaluates
the ranges in a worker thread, each in its ecosystem's own version order
(:mod:`~dockyard.domain.vulns.matching`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.exc import DataError, IntegrityError

from dockyard.domain.vulns.ecosystems import MatchQuery, match_ecosystem, match_name
from dockyard.domain.vulns.info import AdvisoryInfo
from dockyard.domain.vulns.matching import AffectedEntry, Match, group_by_key, matches
from dockyard.domain.vulns.sources import Item, Parsed, Rejected, count_records, read_records
from dockyard.domain.vulns.upsert import BatchPlan
from dockyard.domain.vulns.versions import base_ecosystem
from dockyard.metadata.vulndb_store import AffectedRow, DbState, StoredRecord, VulnDbStore, prepare
from dockyard.ports import Clock

BATCH = 300  # records per write unit
MAX_REPORTED_REJECTIONS = 1000  # every rejection is counted; this many are kept with their reasons
PLAUSIBLE_SINCE = datetime(1995, 1, 1, tzinfo=UTC)  # older "modified" times are placeholders (Go's 0001)

Progress = Callable[[int, int | None], None]  # (records read, records to read when known)


@dataclass(frozen=True, slots=True)
class Rejection:
    source: str
    reason: str


@dataclass(frozen=True, slots=True)
class ImportReport:
    path: str
    read: int
    imported: int
    updated: int
    unchanged: int
    withdrawn: int
    rejected: int
    rejections: tuple[Rejection, ...]  # the first MAX_REPORTED_REJECTIONS
    generation: int
    updated_at: datetime
    started_at: datetime


@dataclass(frozen=True, slots=True)
class VulnDbStatus:
    ecosystems: dict[str, int]  # advisories per match ecosystem
    total: int  # advisories, withdrawn ones not counted
    generation: int
    updated_at: datetime | None
    last_import_at: datetime | None
    last_import: dict[str, Any] | None


@dataclass
class _Tally:
    read: int = 0
    imported: int = 0
    updated: int = 0
    unchanged: int = 0
    withdrawn: int = 0
    rejected: int = 0
    rejections: list[Rejection] = field(default_factory=list)
    latest: datetime | None = None

    def reject(self, source: str, reason: str) -> None:
        self.rejected += 1
        if len(self.rejections) < MAX_REPORTED_REJECTIONS:
            self.rejections.append(Rejection(source, reason))

    def add(self, plan: BatchPlan) -> None:
        self.imported += plan.imported
        self.updated += plan.updated
        self.unchanged += plan.unchanged
        self.withdrawn += plan.withdrawn

    def see(self, modified: datetime, now: datetime) -> None:
        if PLAUSIBLE_SINCE <= modified <= now and (self.latest is None or modified > self.latest):
            self.latest = modified

    @property
    def changed(self) -> bool:
        return self.imported + self.updated + self.withdrawn > 0

    def summary(self, path: str, started_at: datetime) -> dict[str, Any]:
        counts = ("read", "imported", "updated", "unchanged", "withdrawn", "rejected")
        return {"path": path, "started_at": started_at.isoformat(), **{n: getattr(self, n) for n in counts}}


@dataclass(frozen=True, slots=True)
class _Batch:
    read: int
    records: list[StoredRecord]
    rejected: list[Rejected]


def _next_batch(items: Iterator[Item], size: int) -> _Batch:
    """Up to ``size`` items, parsed records prepared as rows (runs in a worker thread)."""
    records: list[StoredRecord] = []
    rejected: list[Rejected] = []
    read = 0
    for item in items:
        read += 1
        if isinstance(item, Parsed):
            records.append(prepare(item.advisory, item.source))
        else:
            rejected.append(item)
        if read >= size:
            break
    return _Batch(read, records, rejected)


class VulnDb:
    def __init__(self, store: VulnDbStore, clock: Clock, batch_size: int = BATCH) -> None:
        self._store = store
        self._clock = clock
        self._batch_size = batch_size

    async def import_path(self, path: Path | str, progress: Progress | None = None) -> ImportReport:
        """Import every OSV record under ``path`` (a JSON or YAML file, a zip dump, or a directory)."""
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"no such file or directory: {path}")
        started_at = self._clock.now()
        total = await asyncio.to_thread(count_records, path)
        tally = _Tally()
        items = read_records(path)
        try:
            while (batch := await asyncio.to_thread(_next_batch, items, self._batch_size)).read:
                await self._import_batch(batch, tally)
                if progress is not None:
                    progress(tally.read, total)
        finally:
            items.close()
        latest = tally.latest if tally.latest is not None or not tally.changed else started_at
        state = await self._store.finish_import(tally.summary(str(path), started_at), latest, tally.changed)
        return ImportReport(
            path=str(path),
            read=tally.read,
            imported=tally.imported,
            updated=tally.updated,
            unchanged=tally.unchanged,
            withdrawn=tally.withdrawn,
            rejected=tally.rejected,
            rejections=tuple(tally.rejections),
            generation=state.generation,
            updated_at=state.updated_at or started_at,
            started_at=started_at,
        )

    async def _import_batch(self, batch: _Batch, tally: _Tally) -> None:
        tally.read += batch.read
        for rejected in batch.rejected:
            tally.reject(rejected.source, rejected.reason)
        now = self._clock.now()
        for record in batch.records:
            tally.see(record.advisory.modified, now)
        if not batch.records:
            return
        try:
            tally.add(await self._store.write_batch(batch.records))
        except (IntegrityError, DataError):
            for record in batch.records:  # find the records the database refuses; store the rest
                try:
                    tally.add(await self._store.write_batch([record]))
                except (IntegrityError, DataError) as exc:
                    tally.reject(record.source, f"refused by the database: {str(exc.orig)[:200]}")

    async def status(self) -> VulnDbStatus:
        state = await self._store.state()
        return VulnDbStatus(
            ecosystems=await self._store.ecosystem_counts(),
            total=await self._store.total(),
            generation=state.generation,
            updated_at=state.updated_at,
            last_import_at=state.last_import_at,
            last_import=state.last_import,
        )

    async def state(self) -> DbState:
        """The generation and ``updated_at`` alone (one row; cheaper than :meth:`status`)."""
        return await self._store.state()

    async def match(self, queries: Collection[MatchQuery]) -> dict[MatchQuery, list[Match]]:
        """The advisories affecting each query's package version (an empty list for none)."""
        unique = set(queries)
        keys = {query: _index_key(query) for query in unique}
        rows = await self._store.affected(set(keys.values()))
        return await asyncio.to_thread(_evaluate, keys, rows)

    async def advisories(self, ids: Collection[str]) -> dict[str, AdvisoryInfo]:
        """What a finding shows of each advisory; unknown ids are left out."""
        return await self._store.infos(ids)


def _index_key(query: MatchQuery) -> tuple[str, str]:
    """The query as the index stores names (callers may pass ``Ubuntu:18.04:LTS`` or ``Jinja2``)."""
    return match_ecosystem(query.ecosystem), match_name(base_ecosystem(query.ecosystem), query.name)


def _evaluate(
    keys: dict[MatchQuery, tuple[str, str]], rows: list[AffectedRow]
) -> dict[MatchQuery, list[Match]]:
    grouped = group_by_key(rows)
    empty: list[AffectedEntry] = []
    return {query: matches(query.version, grouped.get(key, empty)) for query, key in keys.items()}
