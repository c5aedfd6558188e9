"""The vulnerability database on a fresh schema (SQLite and PostgreSQL), and one SQLite database with every
real advisory fixture imported once per session (copied for each test that reads it)."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from clocks import StepClock
from dockyard.metadata.engine import create_engine, database_url
from dockyard.metadata.vulndb_store import VulnDbStore
from dockyard.services.vulndb import VulnDb
from shared_fixtures import FIXTURES

PYPA = FIXTURES / "pypa-advisory-database" / "vulns"
GO = FIXTURES / "golang-vulndb" / "osv"
USN = FIXTURES / "ubuntu-security-notices" / "osv" / "usn" / "USN-3863-1.json"
DSA = FIXTURES / "osv.dev" / "DSA-3029-1.json"
GHSA = FIXTURES / "osv.dev" / "GHSA-838r-hvwh-24h8.json"
UBUNTU_CVE = FIXTURES / "osv.dev" / "UBUNTU-CVE-2025-38094.json"
REAL_SOURCES = (PYPA, GO, USN, DSA, GHSA, UBUNTU_CVE)


@pytest.fixture
def clock() -> StepClock:
    return StepClock(datetime(2026, 6, 1, 12, 0, tzinfo=UTC))


@pytest.fixture
async def open_vulndb(db_url: str, clock: StepClock) -> AsyncIterator[Callable[..., VulnDb]]:
    """Open a :class:`VulnDb` on the test's database (``batch_size`` may be given); closed at the end."""
    engines = []

    def open_one(batch_size: int = 300) -> VulnDb:
        engine = create_engine(db_url)
        engines.append(engine)
        return VulnDb(VulnDbStore(engine, clock), clock, batch_size=batch_size)

    try:
        yield open_one
    finally:
        for engine in engines:
            await engine.dispose()


@pytest.fixture
def vulndb(open_vulndb: Callable[..., VulnDb]) -> VulnDb:
    return open_vulndb()


async def _import_all(directory: Path) -> None:
    engine = create_engine(database_url(None, directory))
    try:
        db = VulnDb(VulnDbStore(engine, StepClock()), StepClock())
        for source in REAL_SOURCES:
            report = await db.import_path(source)
            assert report.rejected == 0, report.rejections
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def real_db_template(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite database with every real OSV fixture imported (built once per session)."""
    directory = tmp_path_factory.mktemp("vulndb-real")
    shutil.copyfile(sqlite_template, directory / "dockyard.db")
    asyncio.run(_import_all(directory))
    return directory / "dockyard.db"


@pytest.fixture
async def real_db(real_db_template: Path, tmp_path: Path, clock: StepClock) -> AsyncIterator[VulnDb]:
    """A copy of the real-data database, opened."""
    shutil.copyfile(real_db_template, tmp_path / "dockyard.db")
    engine = create_engine(database_url(None, tmp_path))
    try:
        yield VulnDb(VulnDbStore(engine, clock), clock)
    finally:
        await engine.dispose()
