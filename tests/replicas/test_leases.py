"""Job leases (``metadata/job_store.py``) and the scheduler (``workers/scheduler.py``) on SQLite and
PostgreSQL: one winner among concurrent claimers, lapsed leases taken over, runs never overlapping."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from dockyard.clock import SystemClock
from dockyard.metadata.engine import create_engine, database_url
from dockyard.metadata.job_store import SqlJobLeases
from dockyard.metadata.listener import ChangeListener, listener_dsn
from dockyard.workers.scheduler import Job, Scheduler

T0 = datetime(2026, 1, 1, tzinfo=UTC)


class FixedClock:
    def __init__(self) -> None:
        self.current = T0

    def now(self) -> datetime:
        return self.current


@pytest.fixture
async def open_leases(db_url: str) -> AsyncIterator[Callable[[], SqlJobLeases]]:
    """Lease stores on separate engines, as separate replicas have."""
    engines = []
    clock = FixedClock()

    def open_one() -> SqlJobLeases:
        engine = create_engine(db_url)
        engines.append(engine)
        return SqlJobLeases(engine, clock)

    try:
        yield open_one
    finally:
        for engine in engines:
            await engine.dispose()


async def test_one_claim_wins_among_many(open_leases: Callable[[], SqlJobLeases]) -> None:
    replicas = [open_leases() for _ in range(4)]
    await replicas[0].ensure("gc", T0)
    await replicas[1].ensure("gc", T0 + timedelta(days=1))  # a second ensure changes nothing
    won = await asyncio.gather(
        *(replicas[i % 4].claim("gc", f"r{i}", T0, T0 + timedelta(seconds=30)) for i in range(16))
    )
    assert won.count(True) == 1


async def test_lease_lifecycle(open_leases: Callable[[], SqlJobLeases]) -> None:
    a, b = open_leases(), open_leases()
    await a.ensure("gc", T0 + timedelta(seconds=10))
    assert not await a.claim("gc", "a", T0, T0 + timedelta(seconds=30))  # not due yet
    now = T0 + timedelta(seconds=10)
    assert await a.claim("gc", "a", now, now + timedelta(seconds=30))
    assert not await b.claim("gc", "b", now + timedelta(seconds=29), now + timedelta(seconds=59))
    assert await a.renew("gc", "a", now + timedelta(seconds=60))
    assert not await b.claim("gc", "b", now + timedelta(seconds=59), now + timedelta(seconds=90))
    # a dies: its lease lapses, b takes the job over; a's late renewal and finish change nothing
    assert await b.claim("gc", "b", now + timedelta(seconds=61), now + timedelta(seconds=91))
    assert not await a.renew("gc", "a", now + timedelta(seconds=120))
    await a.finish("gc", "a", now, now)
    assert not await a.claim("gc", "a", now + timedelta(seconds=62), now + timedelta(seconds=92))
    await b.finish("gc", "b", now + timedelta(seconds=70), now + timedelta(seconds=170))
    assert not await a.claim("gc", "a", now + timedelta(seconds=100), now + timedelta(seconds=130))
    assert await a.claim("gc", "a", now + timedelta(seconds=170), now + timedelta(seconds=200))
    await a.release("gc", "a")
    assert await b.claim("gc", "b", now + timedelta(seconds=171), now + timedelta(seconds=200))


async def test_schedulers_run_each_due_run_once(db_url: str) -> None:
    """Three schedulers (one engine each) with a job due every 0.3 s: the runs never overlap."""
    engines = [create_engine(db_url) for _ in range(3)]
    intervals: list[tuple[str, float, float]] = []
    active = 0

    def job_for(owner: str) -> Job:
        async def run() -> None:
            nonlocal active
            active += 1
            started = asyncio.get_running_loop().time()
            assert active == 1, "two runs at once"
            await asyncio.sleep(0.05)
            active -= 1
            intervals.append((owner, started, asyncio.get_running_loop().time()))

        return Job("tick", timedelta(seconds=0.3), run)

    clock = SystemClock()
    schedulers = [
        Scheduler(SqlJobLeases(e, clock), clock, [job_for(f"s{i}")], owner=f"s{i}", poll=0.05)
        for i, e in enumerate(engines)
    ]
    try:
        for scheduler in schedulers:
            await scheduler.start()
        deadline = asyncio.get_running_loop().time() + 20
        while len(intervals) < 5 and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)
    finally:
        for scheduler in schedulers:
            await scheduler.stop()
        for engine in engines:
            await engine.dispose()
    assert len(intervals) >= 5
    ordered = sorted(intervals, key=lambda run: run[1])
    for before, after in itertools.pairwise(ordered):
        assert after[1] >= before[2]  # each run starts after the previous one ended
        assert after[1] - before[1] >= 0.3 - 0.01  # and no sooner than one interval after it started


async def test_a_lost_lease_cancels_the_run(db_url: str) -> None:
    engine = create_engine(db_url)
    clock = SystemClock()
    leases = SqlJobLeases(engine, clock)
    cancelled = asyncio.Event()

    async def run() -> None:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    job = Job("slow", timedelta(0), run)
    scheduler = Scheduler(leases, clock, [job], owner="me", lease=timedelta(seconds=1.5))
    try:
        await leases.ensure("slow", clock.now())  # no polling loop: this test ticks by hand
        assert await scheduler.tick() == ["slow"]
        await leases.release("slow", "me")  # as if the lease had lapsed and another replica took it
        assert await leases.claim("slow", "other", clock.now(), clock.now() + timedelta(minutes=1))
        await asyncio.wait_for(cancelled.wait(), 10)
    finally:
        await scheduler.stop()
        await engine.dispose()


class CountingLeases(SqlJobLeases):
    claims = 0

    async def claim(self, name: str, owner: str, now: datetime, until: datetime) -> bool:
        self.claims += 1
        return await super().claim(name, owner, now, until)


async def test_an_idle_scheduler_only_reads(open_leases: Callable[[], SqlJobLeases]) -> None:
    """Ticks while nothing is due (or while another replica holds the job) claim nothing: an idle replica
    polls with one read and writes nothing."""
    clock = FixedClock()
    leases = CountingLeases(open_leases()._engine, clock)

    async def run() -> None:
        return None

    scheduler = Scheduler(leases, clock, [Job("gc", timedelta(seconds=60), run)], owner="idle")
    await scheduler.start()  # registers the job, due one interval from now
    try:
        assert await scheduler.tick() == []
        assert leases.claims == 0
        assert scheduler.pause() == 30.0  # due in 60 s: sleeps the most, one 30 s lease
        clock.current += timedelta(seconds=57)
        assert scheduler.pause() == 3.0  # and wakes when it falls due
        clock.current -= timedelta(seconds=57)
        clock.current += timedelta(seconds=61)
        assert await leases.claim("gc", "other", clock.current, clock.current + timedelta(seconds=30))
        schedule = await leases.claimable(clock.current)
        assert schedule.claimable == frozenset()
        assert schedule.next_at == clock.current + timedelta(seconds=30)  # when the lease ends
        assert await scheduler.tick() == []  # held by "other"
        assert leases.claims == 1  # only the one above
        clock.current += timedelta(seconds=31)  # "other" died: its lease lapsed
        assert await scheduler.tick() == ["gc"]
    finally:
        await scheduler.stop()


async def test_the_end_of_a_local_run_wakes_the_scheduler(db_url: str) -> None:
    """A run that ends moves its job's due time; the scheduler looks again at once rather than after its
    longest sleep (here 60 s), so a short-interval job keeps its pace."""
    engine = create_engine(db_url)
    clock = SystemClock()
    runs = 0

    async def run() -> None:
        nonlocal runs
        runs += 1

    scheduler = Scheduler(
        SqlJobLeases(engine, clock), clock, [Job("quick", timedelta(seconds=0.2), run)], poll=60
    )
    try:
        await scheduler.start()
        deadline = asyncio.get_running_loop().time() + 10
        while runs < 3 and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)
        assert runs >= 3
    finally:
        await scheduler.stop()
        await engine.dispose()


async def test_a_lease_handed_back_wakes_the_other_replicas_at_once(
    empty_postgres_url: str, tmp_path: Path
) -> None:
    """On PostgreSQL a replica shutting down mid-run hands its lease back and notifies; another replica's
    scheduler, asleep for up to a minute, runs the job again within moments rather than at its next poll."""
    url = database_url(empty_postgres_url, tmp_path)
    engines = [create_engine(url), create_engine(url)]
    clock = SystemClock()
    started: list[str] = []
    listener = ChangeListener(listener_dsn(url), {})
    first_run = asyncio.Event()

    def job(owner: str) -> Job:
        async def run() -> None:
            started.append(owner)
            first_run.set()
            await asyncio.sleep(3600)

        return Job("long", timedelta(hours=1), run)

    first, second = (
        Scheduler(SqlJobLeases(engine, clock), clock, [job(owner)], owner=owner, poll=60)
        for engine, owner in zip(engines, ("first", "second"), strict=True)
    )
    listener.on_change("jobs", second.wake)
    try:
        await listener.start()
        await SqlJobLeases(engines[0], clock).ensure("long", clock.now())  # due now
        await first.start()
        await asyncio.wait_for(first_run.wait(), 10)
        await second.start()  # sees the job held by "first": sleeps until its lease ends, 30 s away
        await asyncio.sleep(0.5)
        await first.stop()  # a clean shutdown: the run is cancelled and its lease handed back
        deadline = asyncio.get_running_loop().time() + 10
        while len(started) < 2 and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)
        assert started == ["first", "second"]
    finally:
        await second.stop()
        await first.stop()
        await listener.stop()
        for engine in engines:
            await engine.dispose()
