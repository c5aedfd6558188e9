"""What every SQL store shares: transactions (SQLite write lock up front), dialect-portable upserts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import ColumnElement, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from dockyard.metadata.engine import WRITE_OPTION, group_commit
from dockyard.ports import Clock


class SqlStore:
    def __init__(self, engine: AsyncEngine, clock: Clock) -> None:
        self._engine = engine
        self._clock = clock
        self._dialect = engine.dialect.name
        self._group = group_commit(engine)

    @asynccontextmanager
    async def _write(self) -> AsyncIterator[AsyncConnection]:
        """One atomic unit of writes: its own transaction, or on SQLite a savepoint in a group commit."""
        if self._group is not None:
            async with self._group.transaction() as conn:
                yield conn
            return
        async with self._transaction() as conn:
            yield conn

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[AsyncConnection]:
        async with self._engine.connect() as conn:
            conn = await conn.execution_options(**{WRITE_OPTION: True})
            async with conn.begin():
                yield conn

    @asynccontextmanager
    async def _read(self) -> AsyncIterator[AsyncConnection]:
        async with self._engine.connect() as conn:
            yield conn

    def _insert(self, table: Table) -> Any:
        return postgresql.insert(table) if self._dialect == "postgresql" else sqlite.insert(table)

    def _lexical(self, column: ColumnElement[str]) -> ColumnElement[str]:
        return column.collate("C") if self._dialect == "postgresql" else column
