"""Fixtures shared by every test directory: a migrated SQLite file to copy, and one throwaway PostgreSQL
database per test session."""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import asyncpg
import hypothesis
import pytest

from dockyard.metadata.engine import create_engine, database_url
from dockyard.metadata.migrate import upgrade

# No test asserts timing, and the machine may be busy: Hypothesis must not fail an example for being slow.
hypothesis.settings.register_profile("dockyard", deadline=None)
hypothesis.settings.load_profile("dockyard")

POSTGRES_SERVER = os.environ.get("TEST_POSTGRES_SERVER", "postgresql://postgres@127.0.0.1:5432")


async def _create_database(name: str) -> None:
    conn = await asyncpg.connect(f"{POSTGRES_SERVER}/postgres", timeout=5)
    try:
        try:  # an ICU locale, so that an ORDER BY without COLLATE "C" is not lexical and tests catch it
            await conn.execute(
                f"CREATE DATABASE {name} TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US'"
                " LOCALE 'C.UTF-8'"
            )
        except asyncpg.PostgresError:
            await conn.execute(f"CREATE DATABASE {name} TEMPLATE template0")
    finally:
        await conn.close()


async def _drop_database(name: str) -> None:
    conn = await asyncpg.connect(f"{POSTGRES_SERVER}/postgres", timeout=5)
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    finally:
        await conn.close()


async def _migrate_url(url: str) -> None:
    engine = create_engine(url)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated, empty ``dockyard.db``; copying it is much faster than migrating afresh."""
    directory = tmp_path_factory.mktemp("sqlite-template")
    asyncio.run(_migrate_url(database_url(None, directory)))
    return directory / "dockyard.db"


@pytest.fixture
def migrated_sqlite(sqlite_template: Path) -> Callable[[Path], Path]:
    """Put an empty migrated database where the server looks for one under ``data_dir``."""

    def place(data_dir: Path) -> Path:
        data_dir.mkdir(parents=True, exist_ok=True)
        return Path(shutil.copyfile(sqlite_template, data_dir / "dockyard.db"))

    return place


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The async SQLAlchemy URL of a fresh, migrated, empty schema, on each database in turn (PostgreSQL
    skipped when no server is reachable)."""
    if request.param == "postgresql":
        return database_url(request.getfixturevalue("empty_postgres_url"), tmp_path)
    request.getfixturevalue("migrated_sqlite")(tmp_path)
    return database_url(None, tmp_path)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """DSN of a migrated database created for this session (dropped afterwards)."""
    name = f"dockyard_test_{uuid.uuid4().hex[:12]}"
    try:
        asyncio.run(_create_database(name))
    except (OSError, asyncpg.PostgresError) as exc:
        pytest.skip(f"PostgreSQL is not reachable at {POSTGRES_SERVER}: {exc}")
    dsn = f"{POSTGRES_SERVER}/{name}"
    try:
        asyncio.run(_migrate_url(database_url(dsn, Path())))
        yield dsn
    finally:
        asyncio.run(_drop_database(name))


TRUNCATE_LOCK_TIMEOUT = "15s"
_OTHER_SESSIONS = """
    SELECT pid, state, application_name, now() - xact_start AS age, left(query, 160) AS query
    FROM pg_stat_activity
    WHERE datname = current_database() AND pid <> pg_backend_pid() AND state <> 'idle'
"""


async def _truncate(dsn: str) -> None:
    """Empty every table. ``TRUNCATE`` waits for every lock on them, so a transaction an earlier test left
    open (a connection abandoned on a closed event loop) would make it wait for ever: it waits at most
    :data:`TRUNCATE_LOCK_TIMEOUT`, then ends such idle transactions with a warning naming them and tries
    once more; anything else still holding a lock fails the test with its description."""
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version'"
        )
        names = ", ".join(f'"{row["tablename"]}"' for row in rows)
        await conn.execute(f"SET lock_timeout = '{TRUNCATE_LOCK_TIMEOUT}'")
        try:
            await conn.execute(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
        except asyncpg.LockNotAvailableError:
            await _end_stale_transactions(conn)
            await conn.execute(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
    finally:
        await conn.close()


async def _end_stale_transactions(conn: asyncpg.Connection) -> None:
    sessions = await conn.fetch(_OTHER_SESSIONS)
    described = "; ".join(
        f"pid {s['pid']} {s['state']} for {s['age']} ({s['application_name']!r}): {s['query']}"
        for s in sessions
    )
    warnings.warn(f"TRUNCATE waited on other sessions: {described}", stacklevel=1)
    for session in sessions:
        if str(session["state"]).startswith("idle in transaction"):
            await conn.execute("SELECT pg_terminate_backend($1)", session["pid"])


@pytest.fixture(scope="module")
def module_postgres_url(postgres_url: str) -> str:
    """``postgres_url`` emptied for one test module's server (whose server keys, sealed with its own data
    directory's secrets, must not meet another module's)."""
    asyncio.run(_truncate(postgres_url))
    return postgres_url


@pytest.fixture
def empty_postgres_url(postgres_url: str) -> str:
    """``postgres_url`` with every table emptied, for one test."""
    asyncio.run(_truncate(postgres_url))
    return postgres_url


# One Docker Engine and one set of offline-built images for the end-to-end and the access tests.
# One S3 service (moto on loopback unless DOCKYARD_TEST_S3_ENDPOINT names another) for the storage tests.
from e2e.shared import docker, dockerd, images  # noqa: E402, F401
from s3_target import s3_target  # noqa: E402, F401
