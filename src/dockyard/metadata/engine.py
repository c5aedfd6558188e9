"""Engine construction: one place that knows the SQLite pragmas and the PostgreSQL driver choice."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

if TYPE_CHECKING:
    from dockyard.metadata.group_commit import GroupCommit

WRITE_OPTION = "dockyard_write"


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
        engine = create_async_engine(
            url, pool_size=8, max_overflow=8, pool_reset_on_return=None, connect_args={"timeout": 30}
        )
        _install_sqlite_hooks(engine)
        return engine
    return create_async_engine(url, pool_size=10, max_overflow=10, pool_pre_ping=True)


_GROUP = "dockyard_group_commit"


def group_commit(engine: AsyncEngine) -> GroupCommit | None:
    """The engine's group committer on SQLite (one per engine, so every store shares it); ``None`` on
    PostgreSQL, which runs concurrent transactions itself."""
    if engine.dialect.name != "sqlite":
        return None
    committer: GroupCommit | None = getattr(engine.sync_engine, _GROUP, None)
    if committer is None:
        from dockyard.metadata.group_commit import GroupCommit

        committer = GroupCommit(engine)
        setattr(engine.sync_engine, _GROUP, committer)
    return committer


def _install_sqlite_hooks(engine: AsyncEngine) -> None:
    """WAL for concurrent readers, full sync so a committed push survives a crash, foreign keys on.

    Transactions are begun by hand: writers take the write lock up front (``BEGIN IMMEDIATE``) so two
    writers queue on ``busy_timeout`` instead of failing a lock upgrade. Readers run in autocommit (each
    statement its own snapshot), which saves two round trips to the driver thread per lookup; the pool
    does not reset connections on return, since a writer's ``begin()`` block always commits or rolls back.
    """

    @event.listens_for(engine.sync_engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in ("journal_mode=WAL", "synchronous=FULL", "foreign_keys=ON", "busy_timeout=30000"):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _begin(connection: Connection) -> None:
        if connection.get_execution_options().get(WRITE_OPTION, False):
            connection.exec_driver_sql("BEGIN IMMEDIATE")
