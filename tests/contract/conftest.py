"""Metadata store implementations under contract, each on a fresh empty schema."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from clocks import StepClock
from dockyard.metadata.cache import CachedMetadataStore
from dockyard.metadata.engine import create_engine, database_url
from dockyard.metadata.signal import LocalChangeSignal
from dockyard.metadata.store import SqlMetadataStore
from dockyard.ports import MetadataStore

# name: (database, wrap the SQL store in the read cache)
STORES = {
    "sqlite": ("sqlite", False),
    "postgresql": ("postgresql", False),
    "cached-sqlite": ("sqlite", True),
}


@pytest.fixture
def clock() -> StepClock:
    return StepClock()


@pytest.fixture(params=list(STORES))
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, bool]:
    """The database URL of a fresh, migrated schema for one store implementation, and whether to cache it."""
    database, cached = STORES[request.param]
    if database == "postgresql":
        return database_url(request.getfixturevalue("empty_postgres_url"), tmp_path), cached
    request.getfixturevalue("migrated_sqlite")(tmp_path)
    return database_url(None, tmp_path), cached


@pytest.fixture
async def open_store(
    store_url: tuple[str, bool], clock: StepClock
) -> AsyncIterator[Callable[[], MetadataStore]]:
    """Open another store on the same database (as another process would); all are closed at the end."""
    url, cached = store_url
    engines = []
    signal = LocalChangeSignal()  # shared, as every process on one machine shares the file signal

    def open_one() -> MetadataStore:
        engine = create_engine(url)
        engines.append(engine)
        sql = SqlMetadataStore(engine, clock)
        return CachedMetadataStore(sql, signal) if cached else sql

    try:
        yield open_one
    finally:
        for engine in engines:
            await engine.dispose()


@pytest.fixture
def store(open_store: Callable[[], MetadataStore]) -> MetadataStore:
    return open_store()
