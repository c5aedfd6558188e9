"""When background jobs may run: the pure part of the scheduler's poll (:mod:`dockyard.workers.scheduler`)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class JobSchedule:
    """What one poll learns: the jobs claimable now, and the soonest time another may become claimable
    (its due time, or its holder's lease end if that is later); ``None`` when every job is claimable now
    or none is known."""

    claimable: frozenset[str]
    next_at: datetime | None


def job_schedule(rows: Iterable[tuple[str, datetime, datetime | None]], now: datetime) -> JobSchedule:
    """From each job's ``(name, due_at, lease_until)``: claimable when due and unheld (a lease that ended
    before ``now``), as :meth:`dockyard.ports.JobLeases.claim` decides it."""
    claimable: set[str] = set()
    later: list[datetime] = []
    for name, due_at, lease_until in rows:
        if due_at <= now and (lease_until is None or lease_until < now):
            claimable.add(name)
        else:
            later.append(due_at if lease_until is None else max(due_at, lease_until))
    return JobSchedule(frozenset(claimable), min(later, default=None))
