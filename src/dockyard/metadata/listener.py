"""Carries PostgreSQL change notifications into this machine's change signal.

Every write to a cached table notifies ``dockyard_changes`` with the table's name, in the writer's
transaction (:mod:`dockyard.metadata.notify`). Each server process listens on one dedicated connection and,
for each notification, bumps the slots of its :class:`~dockyard.metadata.signal.FileChangeSignal` that the
table feeds. So readers keep their nanosecond ``current()`` (a word in shared memory), and a write on any
replica drops the matching caches everywhere as soon as its notification arrives (milliseconds).

Notifications sent while the listening connection is down are lost, so the listener assumes the worst:
when it notices the connection is gone it bumps every slot, keeps bumping them every quarter second until
it listens again (caches then live at most that long), and bumps them once more when it does. It notices
a closed connection at once (the driver's termination callback), a silently dead peer within about three
seconds (the kernel's TCP keepalive: a probe after one second of silence, then every second; two
unanswered probes close the socket, with no work in this process), and a server that keeps the
connection but stops answering at the next ``SELECT 1`` (every :data:`PING_SECONDS`). So an idle
replica's listener costs no CPU between pings.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable, Iterable
from typing import Any

import asyncpg  # type: ignore[import-untyped]

from dockyard.metadata.notify import CHANNEL, WAKE_TOPICS
from dockyard.metadata.signal import ACCESS, DATA
from dockyard.ports import ChangeSignal

log = logging.getLogger("dockyard.listener")

DATA_TABLES = frozenset({"blobs", "repository_blobs", "manifests", "manifest_references", "tags"})
ACCESS_TABLES = frozenset({"accounts", "server_keys"})  # and every iam_* table
PING_SECONDS = 30.0
PING_TIMEOUT_SECONDS = 2.0
RECONNECT_TIMEOUT_SECONDS = 1.0
OUTAGE_BUMP_SECONDS = 0.25
# TCP keepalive on the listening socket: (option, value) pairs for IPPROTO_TCP, after SO_KEEPALIVE
TCP_KEEPALIVE = (("TCP_KEEPIDLE", 1), ("TCP_KEEPINTVL", 1), ("TCP_KEEPCNT", 2))


def slots_for(table: str) -> tuple[int, ...]:
    """The signal slots a write to ``table`` moves (both, for tables that are neither data nor access:
    repositories, ECR and ECR Public settings and policies, and any table this list does not know; none
    for a queue's wake-up, which only rings its callbacks)."""
    if table in WAKE_TOPICS:
        return ()
    if table in DATA_TABLES:
        return (DATA,)
    if table in ACCESS_TABLES or table.startswith("iam_"):
        return (ACCESS,)
    return (DATA, ACCESS)


class ChangeListener:
    """Listens for change notifications on ``dsn`` and bumps ``signals`` (indexed by slot)."""

    def __init__(self, dsn: str, signals: dict[int, ChangeSignal]) -> None:
        self._dsn = dsn
        self._signals = signals
        self._conn: Any = None
        self._task: asyncio.Task[None] | None = None
        self._lost = asyncio.Event()
        self._callbacks: dict[str, list[Callable[[], None]]] = {}
        self.notifications = 0

    @property
    def listening(self) -> bool:
        return self._conn is not None and not self._conn.is_closed()

    def on_change(self, table: str, callback: Callable[[], None]) -> None:
        """Call ``callback`` on each notification for ``table``, and after every reconnection."""
        self._callbacks.setdefault(table, []).append(callback)

    async def start(self) -> None:
        """Listen (waiting a few seconds for the first connection), then keep listening."""
        with contextlib.suppress(OSError, asyncpg.PostgresError, TimeoutError):
            await asyncio.wait_for(self._connect(), 5.0)
        self._task = asyncio.create_task(self._watch(), name="dockyard-change-listener")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._close()

    async def _connect(self) -> None:
        conn = await asyncpg.connect(self._dsn, timeout=5)
        await conn.add_listener(CHANNEL, self._notified)
        conn.add_termination_listener(lambda _conn: self._lost.set())
        _keep_alive(conn)
        self._conn = conn
        self._lost.clear()
        self._bump(DATA_AND_ACCESS)  # whatever was missed before this moment
        self._run_callbacks(self._callbacks)
        log.info("listening for changes")

    async def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), 1.0)

    async def _watch(self) -> None:
        while True:
            if not self.listening:
                await self._recover()
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._lost.wait(), PING_SECONDS)
            try:
                await asyncio.wait_for(self._conn.fetchval("SELECT 1"), PING_TIMEOUT_SECONDS)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError, AttributeError):
                log.warning("change listener lost its connection")
                await self._close()

    async def _recover(self) -> None:
        """Caches short-lived until the connection is back (notifications may be passing unseen)."""
        self._bump(DATA_AND_ACCESS)
        try:
            await asyncio.wait_for(self._connect(), RECONNECT_TIMEOUT_SECONDS)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError):
            await asyncio.sleep(OUTAGE_BUMP_SECONDS)

    def _notified(self, _conn: Any, _pid: int, _channel: str, table: str) -> None:
        self.notifications += 1
        self._bump(slots_for(table))
        callbacks = self._callbacks.get(table)
        if callbacks:
            self._run_callbacks({table: callbacks})

    def _bump(self, slots: Iterable[int]) -> None:
        for slot in slots:
            signal = self._signals.get(slot)
            if signal is not None:
                signal.bump()

    @staticmethod
    def _run_callbacks(callbacks: dict[str, list[Callable[[], None]]]) -> None:
        for group in callbacks.values():
            for callback in group:
                try:
                    callback()
                except Exception:
                    log.exception("change callback failed")


DATA_AND_ACCESS = (DATA, ACCESS)


def _keep_alive(conn: Any) -> None:
    """Turn on the kernel's keepalive for ``conn``'s TCP socket (a Unix socket has none and needs none).
    asyncpg has no option for it, so this reaches its transport; without one, the pings still notice."""
    transport = getattr(conn, "_transport", None)
    sock = transport.get_extra_info("socket") if transport is not None else None
    if sock is None or sock.family not in (socket.AF_INET, socket.AF_INET6):
        return
    with contextlib.suppress(OSError, AttributeError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        for option, value in TCP_KEEPALIVE:
            sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, option), value)


def listener_dsn(url: str) -> str:
    """A plain ``postgresql://`` DSN for asyncpg from the SQLAlchemy URL the engine uses."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url).set(drivername="postgresql")
    return parsed.render_as_string(hide_password=False)
