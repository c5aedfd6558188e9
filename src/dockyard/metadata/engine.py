"""Engine construction: one place that knows the SQLite pragmas and the PostgreSQL driver choice."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from dockyard.metadata.units import sqlite_pragmas


def database_url(dsn: str | None, data_dir: Path) -> str:
    """The async SQLAlchemy URL for ``dsn``, or the embedded SQLite file under ``data_dir``."""
    if not dsn:
        return f"sqlite+aiosqlite:///{data_dir / 'dockyard.db'}"
    if dsn.startswith(("postgres://", "postgresql://")):
        return "postgresql+asyncpg://" + dsn.split("://", 1)[1]
    if dsn.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + dsn.removeprefix("sqlite:///")
    return dsn


def create_engine(url: str) -> AsyncEngine:
    if url.startswith("sqlite"):
        # Stores run their SQL on the synchronous engine of :mod:`dockyard.metadata.units`; this one only
        # serves migrations and the readiness check, so a small pool does.
        engine = create_async_engine(
            url, pool_size=2, max_overflow=4, pool_reset_on_return=None, connect_args={"timeout": 30}
        )
        _install_sqlite_hooks(engine)
        return engine
    return create_async_engine(url, pool_size=10, max_overflow=10, pool_pre_ping=True)


def _install_sqlite_hooks(engine: AsyncEngine) -> None:
    """The same connection set-up as the stores' synchronous engine (:func:`units.sqlite_pragmas`): this
    async engine serves migrations and the readiness check; the stores run their SQL through
    :mod:`dockyard.metadata.units`."""

    @event.listens_for(engine.sync_engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        sqlite_pragmas(dbapi_connection)
