"""Runs background jobs on one replica at a time, under leases in the database (:mod:`dockyard.workers`).

Each replica's scheduler polls: one read of every job's due time and lease (an idle replica writes nothing),
then sleeps until the soonest of them, or until one of its own runs ends, or until it is woken
(:meth:`Scheduler.wake`), at most ``poll`` seconds (by default one lease). Due times only move later and
leases only end, so nothing becomes claimable before that moment except a lease released by a clean
shutdown or a job registered by a newer replica; on PostgreSQL both notify every replica, whose listener
wakes its scheduler, so there ``poll`` can be long. For each claimable
job it tries :meth:`JobLeases.claim`; the one replica that wins runs the job, renewing its lease every
third of the lease, and when the run ends (well or not) moves the job's due time one interval on and drops
the lease. A run whose renewal finds the lease gone (this replica was paused past it and another took
over) is cancelled. On a clean shutdown the scheduler cancels its runs and releases their leases at once,
so another replica takes over when woken (or at its next poll); a replica that dies holds its lease until
it lapses (``lease``), then another runs the job again.

Time is the replicas' clocks (``Clock``), which must agree to well within a lease (they must anyway:
SigV4 and token expiry depend on them).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
from collections.abc import Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from dockyard.ports import Clock, JobLeases

log = logging.getLogger("dockyard.jobs")
MIN_PAUSE = 0.01  # seconds


@dataclass(frozen=True)
class Job:
    """``run`` every ``interval`` on one replica; it must be idempotent (an interrupted run is repeated)."""

    name: str
    interval: timedelta
    run: Callable[[], Coroutine[Any, Any, object]]


async def stop_tasks(loop: asyncio.Task[None] | None, runs: Iterable[asyncio.Task[None]]) -> None:
    """Cancel a polling ``loop`` and wait for it, then cancel the ``runs`` it started and wait for them (each
    run settles its own lease on its way out)."""
    if loop is not None:
        loop.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await loop
    pending = list(runs)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)


def pause_until(at: datetime | None, now: datetime, *, longest: float, shortest: float) -> float:
    """Seconds to sleep until ``at`` (``None``: nothing known, ``longest``), between ``shortest`` (a time just
    passed is looked at soon, without spinning on a clock that lags) and ``longest``."""
    if at is None:
        return longest
    return min(max((at - now).total_seconds(), shortest), longest)


async def doze(bell: asyncio.Event, seconds: float) -> None:
    """Sleep ``seconds``, or less if ``bell`` rings; the bell is cleared either way."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(bell.wait(), seconds)
    bell.clear()


def replica_id() -> str:
    """This process, as lease owners and logs name it: host, pid and a random suffix."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class Scheduler:
    def __init__(
        self,
        leases: JobLeases,
        clock: Clock,
        jobs: Sequence[Job],
        *,
        owner: str | None = None,
        lease: timedelta = timedelta(seconds=30),
        poll: float | None = None,
    ) -> None:
        self._leases = leases
        self._clock = clock
        self._jobs = list(jobs)
        self.owner = owner or replica_id()
        self._lease = lease
        self._poll = lease.total_seconds() if poll is None else poll
        self._next_at: datetime | None = None
        self._wake = asyncio.Event()  # set by wake, and when a run here ends (its job's due time moved)
        self._running: dict[str, asyncio.Task[None]] = {}
        self._loop: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Register the jobs (first due one interval from now, unless known already) and start polling."""
        now = self._clock.now()
        for job in self._jobs:
            await self._leases.ensure(job.name, now + job.interval)
        self._loop = asyncio.create_task(self._poll_forever(), name="dockyard-scheduler")

    def wake(self) -> None:
        """Look at the jobs now (another replica handed a lease back, or registered a job)."""
        self._wake.set()

    async def stop(self) -> None:
        """Stop polling, cancel the runs in progress and release their leases."""
        await stop_tasks(self._loop, self._running.values())
        self._loop = None

    async def _poll_forever(self) -> None:
        while True:
            try:
                await self.tick()
            except Exception:
                self._next_at = None
                log.exception("job scheduling failed")
            await doze(self._wake, self.pause())

    def pause(self) -> float:
        """Seconds until the next poll: until the soonest due time or lease end the last one saw (a job
        this replica is running counts as held), at most ``poll``."""
        return pause_until(self._next_at, self._clock.now(), longest=self._poll, shortest=MIN_PAUSE)

    async def tick(self) -> list[str]:
        """Claim and start every due job this replica is not running; the names started."""
        started: list[str] = []
        schedule = await self._leases.claimable(self._clock.now())
        self._next_at = schedule.next_at
        for job in self._jobs:
            if job.name in self._running or job.name not in schedule.claimable:
                continue
            now = self._clock.now()
            if await self._leases.claim(job.name, self.owner, now, now + self._lease):
                task = asyncio.create_task(self._run(job), name=f"dockyard-job-{job.name}")
                self._running[job.name] = task
                started.append(job.name)
        return started

    async def _run(self, job: Job) -> None:
        run = asyncio.create_task(job.run())
        heartbeat = asyncio.create_task(self._heartbeat(job, run))
        finished = False
        try:
            await run
            finished = True
            log.info("job finished", extra={"job": job.name, "owner": self.owner})
        except asyncio.CancelledError:
            run.cancel()
            log.info("job cancelled", extra={"job": job.name, "owner": self.owner})
        except Exception:
            finished = True  # a failed run waits for its next turn rather than retrying at once
            log.exception("job failed", extra={"job": job.name})
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
            self._running.pop(job.name, None)
            await self._settle(job, finished)
            self._wake.set()

    async def _settle(self, job: Job, finished: bool) -> None:
        try:
            if finished:
                now = self._clock.now()
                await self._leases.finish(job.name, self.owner, now, now + job.interval)
            else:
                await self._leases.release(job.name, self.owner)
        except Exception:  # the lease lapses by itself
            log.exception("job lease could not be settled", extra={"job": job.name})

    async def _heartbeat(self, job: Job, run: asyncio.Task[object]) -> None:
        while True:
            await asyncio.sleep(self._lease.total_seconds() / 3)
            try:
                held = await self._leases.renew(job.name, self.owner, self._clock.now() + self._lease)
            except Exception:
                log.exception("job lease renewal failed", extra={"job": job.name})
                continue
            if not held:
                log.warning("job lease lost", extra={"job": job.name, "owner": self.owner})
                run.cancel()
                return
