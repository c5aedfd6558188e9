"""What a poll answers: which of an instance's tasks the agent must be told about, and which statuses the
agent's report moves forward (contract: ``docs/ecs-agent-protocol.md`` §2).

A task is sent when

* the server wants it RUNNING and the agent did not report it (new, or lost by a restarted agent);
* the server wants it STOPPED and the agent reports it not stopped;
* the server wants it RUNNING, the agent runs it, and the credentials last sent with it expire within
  the refresh margin (15 minutes), so the agent gets fresh ones before the old ones lapse.

A task the server wants STOPPED that the agent does not report is not sent: there is nothing to stop.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from dockyard.domain.ecs.states import TaskStatus, advance

REFRESH_MARGIN = timedelta(minutes=15)
CREDENTIAL_LIFETIME = 3600


@dataclass(frozen=True, slots=True)
class Reported:
    """One task of a poll's report: what the node runs now."""

    task_id: str
    last_status: str
    image_digests: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Known:
    """One task placed on the instance, as the server has it."""

    task_id: str
    last_status: str
    desired_status: str
    has_roles: bool
    credentials_until: datetime | None


def needs_send(known: Known, reported: Reported | None, now: datetime) -> bool:
    if known.desired_status == TaskStatus.STOPPED:
        return reported is not None and reported.last_status != TaskStatus.STOPPED
    if known.last_status == TaskStatus.STOPPED:
        return False
    if reported is None:
        return True
    if reported.last_status == TaskStatus.STOPPED or not known.has_roles:
        return False
    return known.credentials_until is None or known.credentials_until - now < REFRESH_MARGIN


def to_send(known: Sequence[Known], reported: Mapping[str, Reported], now: datetime) -> list[str]:
    """The ids of the tasks this poll must carry."""
    return [task.task_id for task in known if needs_send(task, reported.get(task.task_id), now)]


def advances(known: Sequence[Known], reported: Mapping[str, Reported]) -> dict[str, TaskStatus]:
    """Task id → the status the report moves it to (forward only)."""
    moved: dict[str, TaskStatus] = {}
    for task in known:
        report = reported.get(task.task_id)
        new = None if report is None else advance(task.last_status, report.last_status)
        if new is not None:
            moved[task.task_id] = new
    return moved


def credentials_due(until: datetime | None, now: datetime) -> bool:
    """Whether credentials sent until ``until`` (None: never sent) must be sent again."""
    return until is None or until - now < REFRESH_MARGIN


def digests_in_use(reported: Sequence[Reported]) -> list[str]:
    """The image digests the node's unstopped tasks run, sorted, once each."""
    found = {d for r in reported if r.last_status != TaskStatus.STOPPED for d in r.image_digests}
    return sorted(found)
