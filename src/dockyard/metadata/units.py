"""Units of work: a store method's SQL as one synchronous function, run in one hop.

Each awaited statement of SQLAlchemy's asyncio layer is a trip through a greenlet and, on SQLite, a hand-off
to aiosqlite's thread and back (four or five per statement: cursor, execute, fetch, close). A manifest push
made sixty of them and spent most of its time on the event loop handing work back and forth. Here a store
method instead hands one plain function ``fn(connection) -> result`` to a runner:

- :class:`SqliteUnits` (the embedded default) runs it on a thread with an ordinary ``sqlite3`` connection:
  reads on a small pool of reader threads (WAL lets them run beside the writer), writes on one writer thread
  that takes every unit queued at that moment into one ``BEGIN IMMEDIATE`` transaction, each in its own
  ``SAVEPOINT`` (one unit's failure rolls back only its own statements), and commits once: a group commit,
  one fsync for the lot. A unit's caller resumes only after the commit that made its work durable.
- :class:`AsyncUnits` (PostgreSQL) runs it through ``AsyncConnection.run_sync``: one connection and one
  transaction per unit; PostgreSQL runs concurrent transactions itself.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol, TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

T = TypeVar("T")
Unit = Callable[[Connection], T]

MAX_BATCH = 64
READERS = 4
_ATTRIBUTE = "dockyard_units"
_SQLITE_PRAGMAS = ("journal_mode=WAL", "synchronous=FULL", "foreign_keys=ON", "busy_timeout=30000")


class Units(Protocol):
    async def read(self, fn: Unit[T]) -> T: ...
    async def write(self, fn: Unit[T]) -> T: ...
    def close(self) -> None: ...


def sqlite_pragmas(dbapi_connection: Any) -> None:
    """WAL for concurrent readers, full sync so a committed push survives a crash, foreign keys on; the
    driver in autocommit, so transactions are begun by hand (``BEGIN IMMEDIATE`` for writers)."""
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    for pragma in _SQLITE_PRAGMAS:
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


def units_for(engine: AsyncEngine) -> Units:
    """The engine's runner (one per engine, shared by every store on it; closed with the engine)."""
    units: Units | None = getattr(engine.sync_engine, _ATTRIBUTE, None)
    if units is None:
        if engine.dialect.name == "sqlite":
            database = engine.url.database
            units = SqliteUnits(database or ":memory:")
        else:
            units = AsyncUnits(engine)
        setattr(engine.sync_engine, _ATTRIBUTE, units)
        event.listen(engine.sync_engine, "engine_disposed", lambda _engine: units.close())
    return units


class AsyncUnits:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def read(self, fn: Unit[T]) -> T:
        async with self._engine.connect() as conn:
            return await conn.run_sync(fn)

    async def write(self, fn: Unit[T]) -> T:
        async with self._engine.begin() as conn:
            return await conn.run_sync(fn)

    def close(self) -> None:
        pass


class _Job:
    __slots__ = ("error", "fn", "future", "loop", "result")

    def __init__(self, fn: Unit[Any], loop: asyncio.AbstractEventLoop) -> None:
        self.fn = fn
        self.loop = loop
        self.future: asyncio.Future[Any] = loop.create_future()
        self.result: Any = None
        self.error: BaseException | None = None

    def settle(self, error: BaseException | None = None) -> None:
        failure = error if error is not None else self.error
        self.loop.call_soon_threadsafe(_resolve, self.future, self.result, failure)


def _resolve(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():  # the caller stopped waiting (cancelled); the work itself was done or undone
        return
    if error is None:
        future.set_result(result)
    else:
        future.set_exception(error)


class SqliteUnits:
    """Reader threads and one group-committing writer thread over a synchronous SQLite engine."""

    def __init__(self, database: str) -> None:
        self.engine: Engine = create_engine(
            f"sqlite:///{database}",
            pool_size=READERS + 2,
            max_overflow=4,
            connect_args={"timeout": 30, "check_same_thread": False},
        )
        event.listen(self.engine, "connect", lambda conn, _record: sqlite_pragmas(conn))
        self._readers: ThreadPoolExecutor | None = None
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()  # the running writer's
        self._writer: threading.Thread | None = None
        self._lock = threading.Lock()

    async def read(self, fn: Unit[T]) -> T:
        readers = self._readers
        if readers is None:
            with self._lock:
                if self._readers is None:
                    self._readers = ThreadPoolExecutor(READERS, thread_name_prefix="dockyard-sql-read")
                readers = self._readers
        return await asyncio.get_running_loop().run_in_executor(readers, self._read, fn)

    def _read(self, fn: Unit[T]) -> T:
        with self.engine.connect() as conn:
            return fn(conn)  # autocommit: each statement reads its own snapshot; rolled back on return

    async def write(self, fn: Unit[T]) -> T:
        job = _Job(fn, asyncio.get_running_loop())
        with self._lock:
            if self._writer is None:
                self._jobs = queue.SimpleQueue()
                self._writer = threading.Thread(
                    target=self._write_loop, args=(self._jobs,), name="dockyard-sql-write", daemon=True
                )
                self._writer.start()
            self._jobs.put(job)
        result: T = await job.future
        return result

    def _write_loop(self, jobs: queue.SimpleQueue[_Job | None]) -> None:
        while True:
            first = jobs.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < MAX_BATCH:
                try:
                    job = jobs.get_nowait()
                except queue.Empty:
                    break
                if job is None:
                    jobs.put(None)  # stop after this batch
                    break
                batch.append(job)
            self._commit(batch)

    def _commit(self, batch: list[_Job]) -> None:
        try:
            with self.engine.connect() as conn:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
                for job in batch:
                    _run_in_savepoint(conn, job)
                conn.commit()
        except BaseException as exc:  # the transaction is gone: nobody's work was kept
            for job in batch:
                job.settle(exc)
            if not isinstance(exc, Exception):
                raise
            return
        for job in batch:
            job.settle()

    def close(self) -> None:
        """Finish the queued writes and stop the threads; a later unit starts them again (an engine may
        be disposed and then used again)."""
        with self._lock:
            writer, self._writer = self._writer, None
            readers, self._readers = self._readers, None
            if writer is not None:
                self._jobs.put(None)
        if writer is not None:
            writer.join()
        if readers is not None:
            readers.shutdown(wait=True)
        self.engine.dispose()


def _run_in_savepoint(conn: Connection, job: _Job) -> None:
    conn.exec_driver_sql("SAVEPOINT unit")
    try:
        job.result = job.fn(conn)
    except Exception as exc:
        job.error = exc
        conn.exec_driver_sql("ROLLBACK TO unit")
    conn.exec_driver_sql("RELEASE unit")
