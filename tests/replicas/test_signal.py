"""Change notifications on PostgreSQL (``metadata/notify.py``, ``metadata/listener.py``): a write through
one "machine" moves the signal slots of another, with no shared file; a lost connection is made up for."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import text

from dockyard.clock import SystemClock
from dockyard.domain.digest import Digest
from dockyard.domain.records import ManifestRecord, NewManifest
from dockyard.metadata import notify
from dockyard.metadata.engine import create_engine, database_url
from dockyard.metadata.job_store import SqlJobLeases
from dockyard.metadata.listener import TCP_KEEPALIVE, ChangeListener, listener_dsn, slots_for
from dockyard.metadata.scan_store import ScanStore
from dockyard.metadata.signal import ACCESS, DATA, FileChangeSignal, LocalChangeSignal
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
    assert slots_for("jobs") == slots_for("image_scans") == ()  # queues' wake-ups drop no cache


async def _rung(event: asyncio.Event) -> bool:
    """Whether ``event`` is set within 10 s (a notification's round trip takes milliseconds); cleared."""
    try:
        await asyncio.wait_for(event.wait(), 10)
    except TimeoutError:
        return False
    event.clear()
    return True


async def test_work_handed_over_rings_the_other_replicas(
    machine: Machine, empty_postgres_url: str, tmp_path: Path
) -> None:
    """A job registered or handed back, a scan queued, retried or handed back: the other replicas'
    listeners ring the scheduler or the scan worker, and drop no cache. Claims, renewals and finished runs
    ring nobody (nothing became claimable sooner)."""
    jobs_rung, scans_rung = asyncio.Event(), asyncio.Event()
    machine.listener.on_change("jobs", jobs_rung.set)
    machine.listener.on_change("image_scans", scans_rung.set)
    engine = create_engine(database_url(empty_postgres_url, tmp_path))
    clock = SystemClock()
    leases, scans = SqlJobLeases(engine, clock), ScanStore(engine, clock, LocalChangeSignal())
    store = SqlMetadataStore(engine, clock)
    try:
        repository = await store.create_repository(ACCOUNT, "queued")
        content = b'{"schemaVersion":2,"n":1}'
        media_type = "application/vnd.oci.image.manifest.v1+json"
        record = ManifestRecord(str(Digest.of(content)), media_type, content)
        await store.put_manifest(repository.id, NewManifest(record, (), (), "v1"))
        manifest_id = await scans.manifest_id(repository.id, record.digest)
        assert manifest_id is not None
        await asyncio.sleep(0.3)  # the notifications of those writes have arrived
        data, access = machine.data.current(), machine.access.current()
        now, lease = clock.now(), timedelta(seconds=30)

        await leases.ensure("gc", now)
        assert await _rung(jobs_rung)
        assert await leases.claim("gc", "a", now, now + lease)
        assert await leases.renew("gc", "a", now + lease)
        await leases.release("gc", "a")
        assert await _rung(jobs_rung)
        assert await leases.claim("gc", "b", now, now + lease)
        await leases.finish("gc", "b", now, now + lease)

        await scans.request([manifest_id], now)
        assert await _rung(scans_rung)
        (claimed,) = await scans.claim("a", now, now + lease, 1)
        assert await scans.retry(claimed.manifest_id, "a", now, "try again")
        assert await _rung(scans_rung)
        (claimed,) = await scans.claim("a", now, now + lease, 1)
        await scans.release(claimed.manifest_id, "a")
        assert await _rung(scans_rung)

        await asyncio.sleep(0.3)
        assert not jobs_rung.is_set()  # the claims, the renewal and the finish
        assert not scans_rung.is_set()
        assert (machine.data.current(), machine.access.current()) == (data, access)
    finally:
        await engine.dispose()


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
