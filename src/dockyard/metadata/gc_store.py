"""Garbage collection's store (:class:`dockyard.ports.GcStore`): each method one unit of work over
:mod:`dockyard.metadata.gc_sql`, whose docstring draws the columns and the locking."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from dockyard.domain.gc import GcPlan, RepositoryUsage
from dockyard.metadata import gc_sql
from dockyard.metadata.base import SqlStore
from dockyard.metadata.tables import repositories
from dockyard.ports import ChangeSignal, Clock, Link


class SqlGcStore(SqlStore):
    """``signal``: bumped after links are reclaimed (blob links are cached by every process)."""

    def __init__(self, engine: AsyncEngine, clock: Clock, signal: ChangeSignal | None = None) -> None:
        super().__init__(engine, clock)
        self._signal = signal

    async def stale_links(self, cutoff: datetime, after: Link, limit: int) -> list[Link]:
        return await self._read_unit(gc_sql.stale_links, cutoff, after, limit)

    async def reclaim_links(self, links: list[Link], cutoff: datetime) -> int:
        removed = -1  # unknown (the unit failed, perhaps after its commit): bump, to be safe
        try:
            removed = await self._write_unit(gc_sql.reclaim_links, links, cutoff)
            return removed
        finally:
            if self._signal is not None and removed != 0:
                self._signal.bump()

    async def mark(self, now: datetime) -> tuple[int, int]:
        return await self._write_unit(gc_sql.mark, now)

    async def sweepable(self, cutoff: datetime, after: str, limit: int) -> list[tuple[str, int]]:
        return await self._read_unit(gc_sql.sweepable, cutoff, after, limit)

    async def tombstone(self, digests: list[str], cutoff: datetime, now: datetime) -> list[tuple[str, int]]:
        return await self._write_unit(gc_sql.tombstone, digests, cutoff, now)

    async def tombstoned(self, before: datetime, limit: int) -> list[tuple[str, int]]:
        return await self._read_unit(gc_sql.tombstoned, before, limit)

    async def forget(self, digests: list[str]) -> int:
        return await self._write_unit(gc_sql.forget, digests)

    async def plan(self, cutoff: datetime) -> GcPlan:
        return await self._read_unit(_plan, cutoff)

    async def usage(self, account: str) -> list[RepositoryUsage]:
        return await self._read_unit(_usage, account)


def _plan(conn: Connection, cutoff: datetime) -> GcPlan:
    links = []
    after = (-1, "")
    while batch := gc_sql.stale_links(conn, cutoff, after, 1000):
        links.extend(batch)
        after = batch[-1]
    names = _names(conn, sorted({repository_id for repository_id, _ in links}))
    due, waiting, waiting_bytes = gc_sql.unreferenced(conn, cutoff)
    return GcPlan([(names[r], digest) for r, digest in links], due, waiting, waiting_bytes)


def _names(conn: Connection, ids: list[int]) -> dict[int, str]:
    query = select(repositories.c.id, repositories.c.account_id, repositories.c.name)
    rows: list[Any] = list(conn.execute(query.where(repositories.c.id.in_(ids)))) if ids else []
    return {row.id: f"{row.account_id}/{row.name}" for row in rows}


def _usage(conn: Connection, account: str) -> list[RepositoryUsage]:
    query = select(repositories.c.id, repositories.c.name).where(repositories.c.account_id == account)
    rows = list(conn.execute(query.order_by(repositories.c.name)))
    usage = gc_sql.repository_usage(conn, [row.id for row in rows])
    return [RepositoryUsage(row.name, *usage[row.id]) for row in rows]
