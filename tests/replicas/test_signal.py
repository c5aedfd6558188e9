"""Change notifications on PostgreSQL (``metadata/notify.py``, ``metadata/listener.py``): a write through
one "machine" moves the signal slots of another, with no shared file; a lost connection is made up for."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import text

from dockyard.clock import SystemClock
from dockyard.domain.records import ManifestRecord, NewManifest
from dockyard.metadata import notify
from dockyard.metadata.engine import create_engine, database_url
from dockyard.metadata.listener import TCP_KEEPALIVE, ChangeListener, listener_dsn, slots_for
from dockyard.metadata.signal import ACCESS, DATA, FileChangeSignal
from dockyard.metadata.store import SqlMetadataStore

ACCOUNT = "111122223333"


@dataclass
class Machine:
    """What one replica's machine has: its own signal file and a listener feeding it."""

    data: FileChangeSignal
    access: FileChangeSignal
    listener: ChangeListener


@pytest.fixture
async def machine(empty_postgres_url: str, tmp_path: Path) -> AsyncIterator[Machine]:
    path = tmp_path / "other-machine" / "change-signal"
    data, access = FileChangeSignal(path, DATA), FileChangeSignal(path, ACCESS)
    listener = ChangeListener(
        listener_dsn(database_url(empty_postgres_url, tmp_path)), {DATA: data, ACCESS: access}
    )
    await listener.start()
    assert listener.listening
    try:
        yield Machine(data, access, listener)
    finally:
        await listener.stop()


async def _until_moved(signal: FileChangeSignal, before: int, deadline: float = 10.0) -> float:
    """Seconds until ``signal`` moved from ``before`` (polled; fails after ``deadline``)."""
    start = time.perf_counter()
    while signal.current() == before:
        assert time.perf_counter() - start < deadline, "the change was not seen"
        await asyncio.sleep(0.0005)
    return time.perf_counter() - start


def test_every_table_notifies_or_is_listed_quiet(postgres_url: str) -> None:
    async def check() -> None:
        engine = create_engine(database_url(postgres_url, Path()))
        try:
            async with engine.connect() as conn:
                tables = set(
                    await conn.run_sync(lambda c: __import__("sqlalchemy").inspect(c).get_table_names())
                )
                notifying = await conn.run_sync(notify.notifying_tables)
        finally:
            await engine.dispose()
        assert tables - notify.QUIET_TABLES == notifying
        assert {"repositories", "tags", "iam_users", "server_keys", "ecr_repositories"} <= notifying

    asyncio.run(check())


def test_slots_of_tables() -> None:
    assert slots_for("tags") == (DATA,)
    assert slots_for("iam_attachments") == (ACCESS,)
    assert slots_for("repositories") == (DATA, ACCESS)
    assert slots_for("a_table_added_later") == (DATA, ACCESS)


async def test_writes_elsewhere_move_the_right_slots(
    machine: Machine, empty_postgres_url: str, tmp_path: Path
) -> None:
    engine = create_engine(database_url(empty_postgres_url, tmp_path))
    store = SqlMetadataStore(engine, SystemClock())
    latencies = []
    try:
        data, access = machine.data.current(), machine.access.current()
        repository = await store.create_repository(ACCOUNT, "app")  # both slots
        latencies.append(await _until_moved(machine.data, data))
        latencies.append(await _until_moved(machine.access, access))

        access = machine.access.current()
        data = machine.data.current()
        content = b'{"schemaVersion":2}'
        record = ManifestRecord("sha256:" + "a" * 64, "application/vnd.oci.image.manifest.v1+json", content)
        await store.put_manifest(repository.id, NewManifest(record, (), (), "v1"))  # data only
        latencies.append(await _until_moved(machine.data, data))
        await asyncio.sleep(0.2)  # a notification for the access slot would have arrived by now
        assert machine.access.current() == access

        access = machine.access.current()
        async with engine.begin() as conn:  # an IAM write: access only
            await conn.execute(
                text("INSERT INTO accounts (id, created_at) VALUES (:id, :now)"),
                {"id": "444455556666", "now": datetime.now(UTC)},
            )
        latencies.append(await _until_moved(machine.access, access))
    finally:
        await engine.dispose()
    print(f"notification latency: max {max(latencies) * 1000:.1f} ms over {len(latencies)} writes")


async def test_a_lost_connection_drops_caches_and_reconnects(
    machine: Machine, empty_postgres_url: str
) -> None:
    data = machine.data.current()
    conn = await asyncpg.connect(empty_postgres_url)
    try:
        await conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE query LIKE 'LISTEN%' OR (backend_type = 'client backend' AND pid <> pg_backend_pid() "
            "AND datname = current_database())"
        )
    finally:
        await conn.close()
    await _until_moved(machine.data, data)
    deadline = time.monotonic() + 15
    while not machine.listener.listening:
        assert time.monotonic() < deadline, "the listener did not reconnect"
        await asyncio.sleep(0.05)
    engine = create_engine(database_url(empty_postgres_url, Path()))
    try:
        await asyncio.sleep(0.3)
        data = machine.data.current()
        await SqlMetadataStore(engine, SystemClock()).create_repository(ACCOUNT, "after")
        await _until_moved(machine.data, data)
    finally:
        await engine.dispose()


async def test_the_listening_socket_has_the_kernel_keepalive(machine: Machine) -> None:
    """A silently dead server is noticed by the kernel's probes, so the listener need not ping often."""
    sock = machine.listener._conn._transport.get_extra_info("socket")
    assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
    for option, value in TCP_KEEPALIVE:
        assert sock.getsockopt(socket.IPPROTO_TCP, getattr(socket, option)) == value
