"""Group commit for SQLite: concurrent writers of one process share one transaction and one fsync.

SQLite admits a single writer and, with ``synchronous=FULL``, pays an fsync per commit. When many requests
write at once (a ``docker push`` of many layers, sixteen clients pushing), writers queue here; the first
becomes the leader, opens one ``BEGIN IMMEDIATE`` transaction and runs each queued writer's work in its own
``SAVEPOINT`` (so one writer's failure rolls back only its own statements), then commits once. No writer's
context exits before the commit that makes its work durable, so "the response was sent" still implies
"the data is on disk".

A writer must not open a second write transaction while inside one (it would wait for itself); that is
refused at once with ``RuntimeError``.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from dockyard.metadata.engine import WRITE_OPTION

MAX_BATCH = 64
_inside = contextvars.ContextVar("dockyard_inside_write", default=False)


@dataclass(eq=False)
class _Slot:
    loop: asyncio.AbstractEventLoop
    start: asyncio.Future[AsyncConnection] = field(init=False)
    finished: asyncio.Future[BaseException | None] = field(init=False)
    committed: asyncio.Future[None] = field(init=False)

    def __post_init__(self) -> None:
        self.start = self.loop.create_future()
        self.finished = self.loop.create_future()
        self.committed = self.loop.create_future()


def _settle(future: asyncio.Future[None], error: BaseException | None) -> None:
    if future.done():
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)


class GroupCommit:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._queue: deque[_Slot] = deque()
        self._leader: asyncio.Task[None] | None = None

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        if _inside.get():
            raise RuntimeError("a write transaction cannot be opened inside another")
        slot = _Slot(asyncio.get_running_loop())
        self._queue.append(slot)
        if self._leader is None or self._leader.done():
            self._leader = asyncio.create_task(self._lead())
        try:
            conn = await slot.start
        except asyncio.CancelledError:
            if slot.start.done() and not slot.start.cancelled():
                slot.finished.set_result(asyncio.CancelledError())  # handed over but never used
            raise
        token = _inside.set(True)
        try:
            yield conn
        except BaseException as exc:
            slot.finished.set_result(exc)
            await asyncio.shield(slot.committed)
            raise
        finally:
            _inside.reset(token)
        slot.finished.set_result(None)
        await asyncio.shield(slot.committed)

    async def _lead(self) -> None:
        try:
            while self._queue:
                async with self._engine.connect() as conn:
                    conn = await conn.execution_options(**{WRITE_OPTION: True})
                    await self._batch(conn)
        except BaseException as exc:
            while self._queue:  # the leader itself was cancelled (shutdown): nobody will serve these
                waiting = self._queue.popleft()
                if not waiting.start.done():
                    waiting.start.set_exception(RuntimeError("the database writer stopped"))
            if not isinstance(exc, Exception):
                raise

    async def _batch(self, conn: AsyncConnection) -> None:
        """One transaction for the writers queued now. The first runs without a savepoint (alone at the
        time, as it usually is, it needs none: if it fails, the whole transaction is its own to roll back);
        each later one runs in a savepoint, so its failure spares the others."""
        batch: list[_Slot] = []
        transaction = await conn.begin()
        try:
            while self._queue and len(batch) < MAX_BATCH:
                slot = self._queue.popleft()
                if slot.start.cancelled():
                    continue
                batch.append(slot)
                if len(batch) == 1:
                    slot.start.set_result(conn)
                    if await slot.finished is not None:
                        await transaction.rollback()
                        _settle(slot.committed, None)
                        return
                else:
                    await self._run(conn, slot)
            await transaction.commit()
        except BaseException as exc:
            if transaction.is_active:
                await transaction.rollback()
            for slot in batch:
                _settle(slot.committed, exc)
            if not isinstance(exc, Exception):
                raise
            return
        for slot in batch:
            _settle(slot.committed, None)

    async def _run(self, conn: AsyncConnection, slot: _Slot) -> None:
        savepoint = await conn.begin_nested()
        slot.start.set_result(conn)
        error = await slot.finished
        if error is None:
            await savepoint.commit()
        else:
            await savepoint.rollback()
