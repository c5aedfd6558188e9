"""The pure half of the scheduler's poll (``domain/jobs.py``): which jobs are claimable, and when to look
again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dockyard.domain.jobs import job_schedule

NOW = datetime(2026, 1, 1, tzinfo=UTC)
S = timedelta(seconds=1)


def test_due_and_unheld_jobs_are_claimable() -> None:
    schedule = job_schedule([("gc", NOW, None), ("expire", NOW - S, NOW - S)], NOW)
    assert schedule.claimable == {"gc", "expire"}
    assert schedule.next_at is None


def test_the_next_time_is_the_later_of_due_time_and_lease_end() -> None:
    rows = [
        ("later", NOW + 60 * S, None),  # not due yet
        ("held", NOW - S, NOW + 20 * S),  # due, but another replica's lease runs 20 s more
        ("held-then-due", NOW + 5 * S, NOW + 2 * S),  # the lease ends first, the due time counts
    ]
    schedule = job_schedule(rows, NOW)
    assert schedule.claimable == frozenset()
    assert schedule.next_at == NOW + 5 * S
    assert job_schedule(rows[:2], NOW).next_at == NOW + 20 * S


def test_a_lease_ending_at_this_moment_still_holds() -> None:
    schedule = job_schedule([("gc", NOW - S, NOW)], NOW)
    assert schedule.claimable == frozenset()
    assert schedule.next_at == NOW


def test_nothing_known() -> None:
    schedule = job_schedule([], NOW)
    assert schedule.claimable == frozenset()
    assert schedule.next_at is None
