"""What every SQL store shares: units of work (:mod:`dockyard.metadata.units`), dialect-portable upserts."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from dockyard.metadata.units import units_for
from dockyard.ports import Clock

T = TypeVar("T")


class SqlStore:
    def __init__(self, engine: AsyncEngine, clock: Clock) -> None:
        self._engine = engine
        self._clock = clock
        self._dialect = engine.dialect.name
        self._units = units_for(engine)

    async def _read_unit(self, fn: Callable[..., T], /, *args: Any) -> T:
        """``fn(connection, *args)`` in one hop, outside a transaction (:mod:`dockyard.metadata.units`)."""
        return await self._units.read(_bind(fn, args))

    async def _write_unit(self, fn: Callable[..., T], /, *args: Any) -> T:
        """``fn(connection, *args)`` in one hop, atomically and durably committed when this returns.

        A unit once handed over runs to its commit even if the caller is cancelled meanwhile; the caller's
        cancellation then waits for that commit, so whatever the caller does on its way out (bumping the
        change signal that drops read caches) happens after the write, never before it."""
        write = asyncio.ensure_future(self._units.write(_bind(fn, args)))
        try:
            return await asyncio.shield(write)
        except asyncio.CancelledError:
            await asyncio.wait({write})
            raise

    def _insert(self, table: Table) -> Any:
        return postgresql.insert(table) if self._dialect == "postgresql" else sqlite.insert(table)

    def _lexical(self, column: ColumnElement[str]) -> ColumnElement[str]:
        return column.collate("C") if self._dialect == "postgresql" else column


def _bind(fn: Callable[..., T], args: tuple[Any, ...]) -> Callable[[Connection], T]:
    def unit(conn: Connection) -> T:
        return fn(conn, *args)

    return unit
