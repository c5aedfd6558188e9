"""The S3 + PostgreSQL mode (``--storage s3pg``): one S3-protocol server on loopback (moto's server,
started once), a bucket per registry, a fresh PostgreSQL database for Dockyard (dropped afterwards), and
the database counters that give "queries per cached manifest GET".

Counting queries: ``pg_stat_statements`` needs ``shared_preload_libraries`` (a server restart), so the
figures come from the cumulative statistics every PostgreSQL keeps per database: transactions
(``pg_stat_database.xact_commit + xact_rollback``) and table reads (``pg_stat_user_tables.seq_scan +
idx_scan``: one per table a statement's plan reads). Backends report them when they go idle, at most once
a second and otherwise within 10 s (PostgreSQL 15's ``PGSTAT_IDLE_INTERVAL``), so a reading waits
:data:`SETTLE_SECONDS` first; the scheduler's own polling (one small transaction a second per process) is
measured while idle and subtracted. The CPU time of the database's backends is read from ``/proc``.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from bench.servers import HOST, S3Bucket, Server, _spawn, free_port

POSTGRES_SERVER = os.environ.get("BENCH_POSTGRES_SERVER", "postgresql://postgres@127.0.0.1:5432")
SETTLE_SECONDS = 11.0
IDLE_SECONDS = 5.0
MOTO_READY_TIMEOUT = 60.0


def start_moto(workdir: Path) -> Server:
    port = free_port()
    script = Path(sys.executable).with_name("moto_server")
    found = str(script) if script.exists() else shutil.which("moto_server")
    if found is None:
        raise RuntimeError("moto_server is not installed (pip install -e '.[test]')")
    command = [found, "-H", HOST, "-p", str(port)]
    log_path = workdir / "moto.log"
    process = _spawn(command, log_path)
    return Server("moto", "moto_server (S3)", port, process, workdir, log_path, command)


def make_buckets(moto: Server, names: list[str]) -> list[S3Bucket]:
    import boto3  # the test extra; only this mode needs it
    from botocore.exceptions import EndpointConnectionError

    endpoint = f"http://{HOST}:{moto.port}"
    buckets = [S3Bucket(endpoint, name) for name in names]
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    deadline = time.monotonic() + MOTO_READY_TIMEOUT
    while True:
        if moto.process.poll() is not None:
            raise RuntimeError(f"moto_server exited with {moto.process.returncode}; see {moto.log_path}")
        try:
            for name in names:
                client.create_bucket(Bucket=name)
            return buckets
        except EndpointConnectionError:  # not listening yet
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


async def _execute(sql: str, database: str = "postgres") -> None:
    import asyncpg

    conn = await asyncpg.connect(f"{POSTGRES_SERVER}/{database}", timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def create_database() -> str:
    """A fresh database for one run; its name."""
    name = f"dockyard_bench_{uuid.uuid4().hex[:10]}"
    asyncio.run(_execute(f"CREATE DATABASE {name} TEMPLATE template0"))
    return name


def drop_database(name: str) -> None:
    asyncio.run(_execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


def dockyard_env(database: str, bucket: S3Bucket) -> dict[str, str]:
    from cryptography.fernet import Fernet

    return {
        "DOCKYARD_DATABASE_URL": f"{POSTGRES_SERVER}/{database}",
        "DOCKYARD_SECRET_KEYS": Fernet.generate_key().decode(),
        "DOCKYARD_STORAGE": "s3",
        "DOCKYARD_S3_BUCKET": bucket.bucket,
        "DOCKYARD_S3_ENDPOINT_URL": bucket.endpoint,
        "DOCKYARD_S3_REGION": bucket.region,
        "DOCKYARD_S3_ADDRESSING_STYLE": "path",
        "DOCKYARD_S3_ACCESS_KEY_ID": bucket.access_key,
        "DOCKYARD_S3_SECRET_ACCESS_KEY": bucket.secret_key,
        "DOCKYARD_REDIRECT": "true",
    }


@dataclass(frozen=True)
class DbCounters:
    transactions: int
    table_reads: int
    at: float


def _cpu_of(pid: int) -> float:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat[stat.rfind(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Database:
    """One database's counters, read on a connection of our own (whose reads are left out)."""

    def __init__(self, name: str) -> None:
        self.name = name

    async def _fetch(self, sql: str) -> list[tuple[int, ...]]:
        import asyncpg

        conn = await asyncpg.connect(f"{POSTGRES_SERVER}/{self.name}", timeout=5)
        try:
            rows = await conn.fetch(sql)
        finally:
            await conn.close()
        return [tuple(row) for row in rows]

    async def counters(self) -> DbCounters:
        [(transactions,)] = await self._fetch(
            "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()"
        )
        [(reads,)] = await self._fetch(
            "SELECT coalesce(sum(coalesce(seq_scan, 0) + coalesce(idx_scan, 0)), 0)::bigint"
            " FROM pg_stat_user_tables"
        )
        # Each _fetch is one connection whose statements count too: two transactions and the reads of
        # pg_stat_user_tables (a view over catalogs, not user tables) per call; taken off in `delta`.
        return DbCounters(int(transactions), int(reads), time.monotonic())

    async def backend_cpu_seconds(self) -> dict[int, float]:
        """CPU seconds of each server process of the database's client connections (not ours), by pid."""
        rows = await self._fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return {pid: _cpu_of(pid) for (pid,) in rows}


def cpu_since(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds the backends alive at ``after`` used since ``before`` (new ones: since they started;
    a backend that exited in between is not counted, so this may fall short, never go negative)."""
    return sum(max(cpu - before.get(pid, 0.0), 0.0) for pid, cpu in after.items())


OWN_TRANSACTIONS_PER_READING = 2  # the two connections `Database.counters` opens


@dataclass(frozen=True)
class QueryCount:
    transactions: float
    table_reads: float
    idle_transactions_per_s: float
    idle_reads_per_s: float


class QueryMeter:
    """Transactions and table reads of a window, less the idle background rate measured just before."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._idle: tuple[float, float] = (0.0, 0.0)
        self._start: DbCounters | None = None

    async def start(self) -> None:
        await asyncio.sleep(SETTLE_SECONDS)  # let earlier work (the scenario's setup) be reported
        before = await self.db.counters()
        await asyncio.sleep(IDLE_SECONDS)
        after = await self.db.counters()
        seconds = after.at - before.at
        own = OWN_TRANSACTIONS_PER_READING
        self._idle = (
            max(after.transactions - before.transactions - own, 0) / seconds,
            max(after.table_reads - before.table_reads, 0) / seconds,
        )
        self._start = after

    async def stop(self) -> QueryCount:
        assert self._start is not None, "start() first"
        await asyncio.sleep(SETTLE_SECONDS)
        end = await self.db.counters()
        seconds = end.at - self._start.at
        idle_tx, idle_reads = self._idle
        transactions = end.transactions - self._start.transactions - OWN_TRANSACTIONS_PER_READING
        return QueryCount(
            max(transactions - idle_tx * seconds, 0.0),
            max(end.table_reads - self._start.table_reads - idle_reads * seconds, 0.0),
            idle_tx,
            idle_reads,
        )
