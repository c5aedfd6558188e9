"""A task's state and how a report from its node changes it (SubmitTaskStateChange, SubmitContainerStateChange
and the poll's report), forward only (:mod:`.states`).

Times are filled once: ``startedAt`` when the task first reaches RUNNING, ``stoppedAt`` (and
``executionStoppedAt`` unless the agent gave it) when it reaches STOPPED; the agent's ``pullStartedAt`` and
``pullStoppedAt`` when it sends them. A task that stops on its own gets ECS's stop code (never started:
``TaskFailedToStart``, else ``EssentialContainerExited``) unless StopTask gave it ``UserInitiated``; the
first reason given becomes its ``stoppedReason``. When a task runs or stops, its containers go along (a
container already further on stays where it is).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from dockyard.domain.ecs.states import ESSENTIAL_EXITED, StopCode, TaskStatus, advance, stop_code


@dataclass(frozen=True, slots=True)
class ContainerChange:
    name: str
    status: str | None = None
    exit_code: int | None = None
    reason: str | None = None
    runtime_id: str | None = None
    image_digest: str | None = None


@dataclass(frozen=True, slots=True)
class TaskChange:
    status: str | None = None
    reason: str | None = None
    containers: tuple[ContainerChange, ...] = ()
    times: dict[str, datetime] = field(
        default_factory=dict
    )  # pullStartedAt, pullStoppedAt, executionStoppedAt


@dataclass(frozen=True, slots=True)
class TaskState:
    last_status: str
    stop_code: str | None
    stopped_reason: str | None
    containers: list[dict[str, Any]]
    times: dict[str, datetime]

    @property
    def stopped(self) -> bool:
        return self.last_status == TaskStatus.STOPPED


_CONTAINER_FIELDS = (
    ("exit_code", "exitCode"),
    ("reason", "reason"),
    ("runtime_id", "runtimeId"),
    ("image_digest", "imageDigest"),
)


def apply(state: TaskState, change: TaskChange, now: datetime) -> TaskState:
    """``state`` after ``change`` arrived at ``now``."""
    moved = advance(state.last_status, change.status) if change.status else None
    times = dict(state.times)
    for name, value in change.times.items():
        times.setdefault(name, value)
    containers = [_container(c, change.containers) for c in state.containers]
    new = replace(state, containers=containers, times=times)
    if moved is None:
        return _reason(new, change.reason) if new.stopped else new
    new = replace(new, last_status=moved, containers=[_follow(c, moved) for c in containers])
    if moved == TaskStatus.RUNNING:
        times.setdefault("startedAt", now)
    if moved == TaskStatus.STOPPED:
        times.setdefault("stoppedAt", now)
        times.setdefault("executionStoppedAt", now)
        code = state.stop_code or stop_code("startedAt" in times)
        new = _reason(replace(new, stop_code=code), change.reason)
    return new


def stop_now(state: TaskState, reason: str | None, now: datetime, code: StopCode) -> TaskState:
    """A task stopped by the server itself, with ``code`` unless it had one (StopTask before its agent saw
    it, a forced deregistration, credentials that cannot be minted)."""
    return apply(
        replace(state, stop_code=state.stop_code or code), TaskChange(TaskStatus.STOPPED, reason), now
    )


def _reason(state: TaskState, reason: str | None) -> TaskState:
    if state.stopped_reason:
        return state
    if reason:
        return replace(state, stopped_reason=reason)
    if state.stop_code == StopCode.ESSENTIAL_CONTAINER_EXITED:
        return replace(state, stopped_reason=ESSENTIAL_EXITED)
    return state


def _container(container: dict[str, Any], changes: tuple[ContainerChange, ...]) -> dict[str, Any]:
    updated = dict(container)
    for change in changes:
        if change.name != container.get("name"):
            continue
        if change.status:
            updated = _follow(updated, change.status)
        for attribute, wire in _CONTAINER_FIELDS:
            value = getattr(change, attribute)
            if value is not None:
                updated[wire] = value
    return updated


def _follow(container: dict[str, Any], status: str) -> dict[str, Any]:
    moved = advance(container.get("lastStatus", TaskStatus.PENDING), status)
    return container if moved is None else {**container, "lastStatus": str(moved)}
