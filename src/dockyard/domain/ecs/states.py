"""The task state machine: ``lastStatus`` only moves forward, PROVISIONING → PENDING → RUNNING → STOPPED
(any step may be skipped: a task that fails to pull goes from PENDING straight to STOPPED); containers
likewise, PENDING → RUNNING → STOPPED. A report that would move a state backwards (a late RUNNING after
STOPPED, a retried PENDING) is acknowledged and ignored."""

from __future__ import annotations

from enum import StrEnum


class TaskStatus(StrEnum):
    PROVISIONING = "PROVISIONING"  # placed; the agent has not reported it yet
    PENDING = "PENDING"  # the agent pulls its images
    RUNNING = "RUNNING"
    STOPPED = "STOPPED"


class StopCode(StrEnum):
    TASK_FAILED_TO_START = "TaskFailedToStart"
    ESSENTIAL_CONTAINER_EXITED = "EssentialContainerExited"
    USER_INITIATED = "UserInitiated"


_ORDER = {status: index for index, status in enumerate(TaskStatus)}
CONTAINER_STATUSES = (TaskStatus.PENDING, TaskStatus.RUNNING, TaskStatus.STOPPED)
REPORTABLE = frozenset({TaskStatus.PENDING, TaskStatus.RUNNING, TaskStatus.STOPPED})
ESSENTIAL_EXITED = "Essential container in task exited"


def status_of(text: str) -> TaskStatus | None:
    """The status ``text`` names, or None for one this state machine does not know."""
    try:
        return TaskStatus(text)
    except ValueError:
        return None


def advance(current: str, reported: str) -> TaskStatus | None:
    """The new status when ``reported`` moves ``current`` forward, else None."""
    now, then = status_of(current), status_of(reported)
    if now is None or then is None or _ORDER[then] <= _ORDER[now]:
        return None
    return then


def is_active(status: str) -> bool:
    """Whether a task in ``status`` still holds its container instance's resources."""
    return status != TaskStatus.STOPPED


def stop_code(started: bool) -> StopCode:
    """Why a task stopped on its own: it never reached RUNNING (pull or start failed), or it ran and its
    essential container exited."""
    return StopCode.ESSENTIAL_CONTAINER_EXITED if started else StopCode.TASK_FAILED_TO_START
