"""SQL for the offline vulnerability database: batch upserts of OSV advisories and their affected index,
the database's state row, and the reads matching and findings need.
Schema: :mod:`dockyard.metadata.vulndb_tables`.

An import hands over batches of :class:`StoredRecord` (rows prepared off the event loop by :func:`prepare`);
each batch is one write unit that reads the stored ``modified`` of its ids, lets
:func:`~dockyard.domain.vulns.upsert.plan_batch` decide, replaces what is newer and inserts what is new. On
PostgreSQL concurrent imports queue on an advisory lock per batch, so two cannot insert one id at once.
Reads chunk their ``IN`` lists, so any number of packages or ids takes a few statements in one unit.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, text
from sqlalchemy.engine import Connection

from dockyard.domain.vulns.info import AdvisoryInfo, describe
from dockyard.domain.vulns.matching import index_rows
from dockyard.domain.vulns.osv import Advisory
from dockyard.domain.vulns.upsert import BatchPlan, plan_batch
from dockyard.metadata.base import SqlStore
from dockyard.metadata.unit_sql import all_rows, first
from dockyard.metadata.vulndb_tables import vulndb_advisories, vulndb_affected, vulndb_state

CHUNK = 500  # ids or names per IN list: well inside SQLite's and PostgreSQL's parameter limits
STATE_ID = 1
IMPORT_LOCK = 0x76756C6E6462  # PostgreSQL advisory-lock key of import batches ("vulndb")
AffectedRow = tuple[str, str, str, dict[str, Any]]  # advisory id, match ecosystem, match name, entry


@dataclass(frozen=True, slots=True)
class StoredRecord:
    """One advisory with its rows, prepared for a batch write."""

    advisory: Advisory
    row: dict[str, Any]
    affected: tuple[dict[str, Any], ...]
    source: str = ""  # where it was read, for a rejection


@dataclass(frozen=True, slots=True)
class DbState:
    generation: int = 0
    updated_at: datetime | None = None
    last_import_at: datetime | None = None
    last_import: dict[str, Any] | None = None


def prepare(advisory: Advisory, source: str = "") -> StoredRecord:
    """The advisory's table row (with what a finding shows, computed now) and its affected-index rows."""
    info = describe(advisory)
    row = {
        "id": advisory.id,
        "modified": advisory.modified,
        "published": advisory.published,
        "withdrawn": advisory.withdrawn,
        "summary": _clean(advisory.summary),
        "details": _clean(advisory.details),
        "aliases": [_clean(alias) for alias in advisory.aliases],
        "name": _clean(info.name),
        "description": _clean(info.description),
        "uri": _clean(info.uri),
        "severity": info.severity,
        "cvss3_score": info.cvss3_score,
        "cvss3_vector": info.cvss3_vector,
        "cvss2_score": info.cvss2_score,
        "cvss2_vector": info.cvss2_vector,
        "raw": json.dumps(advisory.raw, separators=(",", ":"), ensure_ascii=False, default=str),
    }
    if advisory.withdrawn is not None:
        return StoredRecord(advisory, row, (), source)
    affected = tuple(
        {"advisory_id": advisory.id, "ecosystem": _clean(eco), "name": _clean(name), "entry": entry}
        for eco, name, entry in index_rows(advisory)
    )
    return StoredRecord(advisory, row, affected, source)


def _clean(value: str) -> str:
    """PostgreSQL text cannot hold NUL characters; no advisory needs them."""
    return value.replace("\x00", "")


class VulnDbStore(SqlStore):
    async def write_batch(self, records: Sequence[StoredRecord]) -> BatchPlan:
        """Upsert ``records`` in one transaction, the newer ``modified`` winning; what was done."""
        return await self._write_unit(_write_batch, list(records), self._dialect)

    async def finish_import(
        self, summary: dict[str, Any], latest_modified: datetime | None, changed: bool
    ) -> DbState:
        """Record the import: bump the generation if it ``changed`` anything, move ``updated_at`` to the
        latest ``modified`` seen (never back), keep ``summary`` as the last import."""
        return await self._write_unit(
            _finish_import, self._insert, summary, latest_modified, changed, self._clock.now()
        )

    async def state(self) -> DbState:
        row = await self._read_unit(first, select(vulndb_state).where(vulndb_state.c.id == STATE_ID))
        if row is None:
            return DbState()
        return DbState(row.generation, row.updated_at, row.last_import_at, row.last_import)

    async def ecosystem_counts(self) -> dict[str, int]:
        """Advisories (not withdrawn) per match ecosystem."""
        query = select(
            vulndb_affected.c.ecosystem, func.count(func.distinct(vulndb_affected.c.advisory_id))
        ).group_by(vulndb_affected.c.ecosystem)
        return {ecosystem: int(count) for ecosystem, count in await self._read_unit(all_rows, query)}

    async def total(self) -> int:
        query = (
            select(func.count()).select_from(vulndb_advisories).where(vulndb_advisories.c.withdrawn.is_(None))
        )
        row = await self._read_unit(first, query)
        return int(row[0]) if row is not None else 0

    async def affected(self, keys: Collection[tuple[str, str]]) -> list[AffectedRow]:
        """Every affected-index row for the (match ecosystem, match name) pairs in ``keys``."""
        by_ecosystem: dict[str, set[str]] = {}
        for ecosystem, name in keys:
            by_ecosystem.setdefault(ecosystem, set()).add(name)
        return await self._read_unit(_affected, by_ecosystem)

    async def infos(self, ids: Collection[str]) -> dict[str, AdvisoryInfo]:
        return await self._read_unit(_infos, sorted(set(ids)))


def _chunks(values: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(values), CHUNK):
        yield values[start : start + CHUNK]


def _write_batch(conn: Connection, records: list[StoredRecord], dialect: str) -> BatchPlan:
    if dialect == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": IMPORT_LOCK})
    stored: dict[str, datetime] = {}
    for chunk in _chunks([record.advisory.id for record in records]):
        query = select(vulndb_advisories.c.id, vulndb_advisories.c.modified).where(
            vulndb_advisories.c.id.in_(chunk)
        )
        stored.update((row.id, row.modified) for row in conn.execute(query))
    plan = plan_batch([record.advisory for record in records], stored)
    if plan.replace:
        conn.execute(delete(vulndb_affected).where(vulndb_affected.c.advisory_id.in_(plan.replace)))
        conn.execute(delete(vulndb_advisories).where(vulndb_advisories.c.id.in_(plan.replace)))
    chosen = {id(advisory) for advisory in plan.write}
    written = [record for record in records if id(record.advisory) in chosen]
    if written:
        conn.execute(vulndb_advisories.insert(), [record.row for record in written])
        affected = [row for record in written for row in record.affected]
        if affected:
            conn.execute(vulndb_affected.insert(), affected)
    return plan


def _finish_import(
    conn: Connection,
    insert: Any,
    summary: dict[str, Any],
    latest_modified: datetime | None,
    changed: bool,
    now: datetime,
) -> DbState:
    conn.execute(
        insert(vulndb_state).values(id=STATE_ID, generation=0).on_conflict_do_nothing(index_elements=["id"])
    )
    current = conn.execute(select(vulndb_state).where(vulndb_state.c.id == STATE_ID).with_for_update()).one()
    candidates = [moment for moment in (current.updated_at, latest_modified) if moment is not None]
    state = DbState(
        generation=current.generation + (1 if changed else 0),
        updated_at=max(candidates) if candidates else now,
        last_import_at=now,
        last_import=summary,
    )
    conn.execute(
        vulndb_state.update()
        .where(vulndb_state.c.id == STATE_ID)
        .values(
            generation=state.generation,
            updated_at=state.updated_at,
            last_import_at=now,
            last_import=summary,
        )
    )
    return state


def _affected(conn: Connection, by_ecosystem: dict[str, set[str]]) -> list[AffectedRow]:
    found: list[AffectedRow] = []
    columns = (
        vulndb_affected.c.advisory_id,
        vulndb_affected.c.ecosystem,
        vulndb_affected.c.name,
        vulndb_affected.c.entry,
    )
    for ecosystem, names in sorted(by_ecosystem.items()):
        for chunk in _chunks(sorted(names)):
            query = select(*columns).where(
                vulndb_affected.c.ecosystem == ecosystem, vulndb_affected.c.name.in_(chunk)
            )
            found.extend(_affected_rows(conn.execute(query)))
    return found


def _affected_rows(rows: Iterable[Any]) -> Iterator[AffectedRow]:
    for advisory_id, ecosystem, name, entry in rows:
        yield advisory_id, ecosystem, name, entry if isinstance(entry, dict) else json.loads(entry)


def _infos(conn: Connection, ids: list[str]) -> dict[str, AdvisoryInfo]:
    table = vulndb_advisories.c
    columns = (table.id, table.name, table.description, table.uri, table.severity)
    scores = (table.cvss3_score, table.cvss3_vector, table.cvss2_score, table.cvss2_vector)
    found: dict[str, AdvisoryInfo] = {}
    for chunk in _chunks(ids):
        for row in conn.execute(select(*columns, *scores).where(table.id.in_(chunk))):
            found[row.id] = AdvisoryInfo(*row)
    return found
