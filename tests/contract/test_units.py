"""The unit-of-work runners: one hop per store call, group commit on SQLite, isolation of a failing unit."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, event, func, insert, select
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from dockyard.metadata.engine import create_engine, database_url
from dockyard.metadata.units import SqliteUnits, Units, units_for

_metadata = MetaData()
_items = Table("unit_items", _metadata, Column("id", Integer, primary_key=True), Column("name", String))


class Boom(Exception):
    pass


@pytest.fixture(params=["sqlite", "postgresql"])
def unit_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return database_url(None, tmp_path)
    return database_url(request.getfixturevalue("postgres_url"), tmp_path)


@pytest.fixture
async def units(unit_url: str) -> AsyncIterator[Units]:
    engine = create_engine(unit_url)
    async with engine.begin() as conn:
        await conn.run_sync(_metadata.drop_all)
        await conn.run_sync(_metadata.create_all)
    yield units_for(engine)
    async with engine.begin() as conn:
        await conn.run_sync(_metadata.drop_all)
    await engine.dispose()


def _add(name: str, fail: bool = False) -> Callable[[Connection], int]:
    def unit(conn: Connection) -> int:
        conn.execute(insert(_items).values(name=name))
        if fail:
            raise Boom(name)
        return len(name)

    return unit


def _names(conn: Connection) -> set[str]:
    return set(conn.execute(select(_items.c.name)).scalars())


async def test_a_failing_unit_rolls_back_only_its_own_work(units: Units) -> None:
    calls = [units.write(_add(f"n{i}", fail=i % 7 == 3)) for i in range(40)]
    results = await asyncio.gather(*calls, return_exceptions=True)
    failed = {i for i, r in enumerate(results) if isinstance(r, Boom)}
    assert failed == {i for i in range(40) if i % 7 == 3}
    assert all(results[i] == len(f"n{i}") for i in range(40) if i not in failed)
    assert await units.read(_names) == {f"n{i}" for i in range(40) if i not in failed}


async def test_a_write_is_visible_to_the_next_read(units: Units) -> None:
    for i in range(20):
        await units.write(_add(f"seq{i}"))
        assert f"seq{i}" in await units.read(_names)


async def test_writes_queued_behind_a_slow_one_share_one_commit(tmp_path: Path) -> None:
    engine = create_engine(database_url(None, tmp_path))
    async with engine.begin() as conn:
        await conn.run_sync(_metadata.create_all)
    units = units_for(engine)
    assert isinstance(units, SqliteUnits)
    commits: list[int] = []
    event.listen(units.engine, "commit", lambda _conn: commits.append(1))
    release = threading.Event()

    def slow(conn: Connection) -> None:
        release.wait(10)
        conn.execute(insert(_items).values(name="slow"))

    first = asyncio.ensure_future(units.write(slow))
    await asyncio.sleep(0.05)  # the writer thread is inside ``slow`` now
    rest = [asyncio.ensure_future(units.write(_add(f"q{i}"))) for i in range(31)]
    await asyncio.sleep(0.05)
    release.set()
    await asyncio.gather(first, *rest)
    assert len(commits) == 2
    assert len(await units.read(_names)) == 32
    await engine.dispose()


async def test_an_abandoned_caller_leaves_the_writer_working(units: Units) -> None:
    task = asyncio.ensure_future(units.write(_add("abandoned")))
    await asyncio.sleep(0)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert await units.write(_add("after")) == len("after")
    assert "after" in await units.read(_names)


async def test_closing_finishes_queued_writes_and_a_later_unit_starts_again(tmp_path: Path) -> None:
    url = database_url(None, tmp_path)
    engine = create_async_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(_metadata.create_all)
    units = units_for(engine)
    pending = [asyncio.ensure_future(units.write(_add(f"c{i}"))) for i in range(10)]
    await asyncio.sleep(0)
    await asyncio.to_thread(units.close)
    await asyncio.gather(*pending)
    await units.write(_add("reopened"))
    count = await units.read(lambda conn: conn.execute(select(func.count()).select_from(_items)).scalar())
    assert count == 11
    await engine.dispose()
