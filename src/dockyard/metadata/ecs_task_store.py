"""SQL for ECS tasks: placement, the state changes their nodes report, and what a poll reads and records.
Schema: :mod:`dockyard.metadata.ecs_tables`.

Placement is race-free across replicas because the database decides it: one transaction takes the task's
CPU and memory from its container instance with a conditional ``UPDATE … WHERE remaining_cpu >= :cpu AND
remaining_memory >= :memory`` (PostgreSQL re-checks the condition on the row it locked; SQLite has one
writer) and inserts the task only when that matched. A task's state changes under ``SELECT … FOR UPDATE``
(a no-op on SQLite, which serialises writers), and the first change that stops it gives its resources back,
once (``resources_released``).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.engine import Connection, Row

from dockyard.domain.ecs.changes import TaskChange, TaskState, apply, stop_now
from dockyard.domain.ecs.records import NewTask, TaskRecord
from dockyard.domain.ecs.states import StopCode, TaskStatus
from dockyard.metadata.base import SqlStore
from dockyard.metadata.ecs_tables import (
    TASK_TIMES,
    ecs_clusters,
    ecs_container_instances,
    ecs_task_definitions,
    ecs_tasks,
)
from dockyard.metadata.unit_sql import all_rows, first

_TASK_QUERY = (
    select(
        ecs_tasks,
        ecs_clusters.c.name.label("cluster_name"),
        ecs_container_instances.c.instance_id.label("instance_uid"),
        ecs_task_definitions.c.family,
        ecs_task_definitions.c.revision,
    )
    .join(ecs_clusters, ecs_clusters.c.id == ecs_tasks.c.cluster_id)
    .join(ecs_container_instances, ecs_container_instances.c.id == ecs_tasks.c.container_instance_id)
    .join(ecs_task_definitions, ecs_task_definitions.c.id == ecs_tasks.c.task_definition_id)
)
_WIRE_TIMES = {wire: column for column, wire in TASK_TIMES.items()}


@dataclass(frozen=True, slots=True)
class TaskFilter:
    """ListTasks' filters (None: not filtered)."""

    account_id: str
    cluster_id: int
    desired_status: str
    instance_row: int | None = None
    family: str | None = None
    started_by: str | None = None
    launch_type: str | None = None


def task_record(row: Row[Any]) -> TaskRecord:
    times = {wire: row._mapping[column] for column, wire in TASK_TIMES.items() if row._mapping[column]}
    return TaskRecord(
        id=row.id,
        task_id=row.task_id,
        account_id=row.account_id,
        cluster_name=row.cluster_name,
        instance_id=row.instance_uid,
        family=row.family,
        revision=row.revision,
        task_definition_id=row.task_definition_id,
        launch_type=row.launch_type,
        overrides=dict(row.overrides),
        cpu=row.cpu,
        memory=row.memory,
        last_status=row.last_status,
        desired_status=row.desired_status,
        containers=[dict(c) for c in row.containers],
        tags=list(row.tags),
        created_at=row.created_at,
        version=row.version,
        started_by=row.started_by,
        group=row.group_name,
        stop_code=row.stop_code,
        stopped_reason=row.stopped_reason,
        times=times,
        sent_at=row.sent_at,
        credentials_until=row.credentials_until,
    )


class TaskStore(SqlStore):
    async def place(self, new: NewTask, instance_row: int) -> TaskRecord | None:
        """``new`` on the instance, or None when the instance no longer has room for it (or is gone)."""
        return await self._write_unit(_place, new, instance_row)

    async def task(self, account: str, task_id: str) -> TaskRecord | None:
        query = _TASK_QUERY.where(ecs_tasks.c.account_id == account, ecs_tasks.c.task_id == task_id)
        row = await self._read_unit(first, query)
        return None if row is None else task_record(row)

    async def tasks(self, account: str, task_ids: Collection[str]) -> list[TaskRecord]:
        query = _TASK_QUERY.where(ecs_tasks.c.account_id == account, ecs_tasks.c.task_id.in_(list(task_ids)))
        return [task_record(row) for row in await self._read_unit(all_rows, query)]

    async def task_ids(self, where: TaskFilter, after: str | None, limit: int) -> list[str]:
        """A page of ListTasks: task ids in order, after ``after``."""
        query = select(ecs_tasks.c.task_id).where(
            ecs_tasks.c.account_id == where.account_id,
            ecs_tasks.c.cluster_id == where.cluster_id,
            ecs_tasks.c.desired_status == where.desired_status,
        )
        if where.instance_row is not None:
            query = query.where(ecs_tasks.c.container_instance_id == where.instance_row)
        if where.family is not None:
            family = select(ecs_task_definitions.c.id).where(ecs_task_definitions.c.family == where.family)
            query = query.where(ecs_tasks.c.task_definition_id.in_(family.scalar_subquery()))
        if where.started_by is not None:
            query = query.where(ecs_tasks.c.started_by == where.started_by)
        if where.launch_type is not None:
            query = query.where(ecs_tasks.c.launch_type == where.launch_type)
        if after is not None:
            query = query.where(ecs_tasks.c.task_id > after)
        rows = await self._read_unit(all_rows, query.order_by(ecs_tasks.c.task_id).limit(limit))
        return [row.task_id for row in rows]

    async def stop(self, row_id: int, reason: str | None) -> TaskRecord:
        """StopTask: desired STOPPED (``UserInitiated``); a task never sent to its agent stops at once."""
        return await self._write_unit(_stop, row_id, reason, self._clock.now())

    async def fail_unsent(self, row_id: int, reason: str) -> None:
        """Stop a task its agent was never sent (``TaskFailedToStart``: its credentials cannot be had)."""
        await self._write_unit(_fail_unsent, row_id, reason, self._clock.now())

    async def change(self, row_id: int, change: TaskChange) -> TaskRecord:
        """A state change reported by the task's node (forward only, :mod:`dockyard.domain.ecs.changes`)."""
        return await self._write_unit(_change, row_id, change, self._clock.now())

    async def advance(self, moves: Mapping[int, str]) -> None:
        """Statuses a poll's report moves forward, by task row."""
        if moves:
            await self._write_unit(_advance, dict(moves), self._clock.now())

    async def instance_tasks(self, instance_row: int, also: Collection[str]) -> list[TaskRecord]:
        """The instance's unstopped tasks, and those of ``also`` (task ids the agent reported) on it."""
        query = _TASK_QUERY.where(
            ecs_tasks.c.container_instance_id == instance_row,
            or_(ecs_tasks.c.last_status != TaskStatus.STOPPED, ecs_tasks.c.task_id.in_(list(also))),
        )
        return [task_record(row) for row in await self._read_unit(all_rows, query)]

    async def sent(self, sent: Mapping[int, datetime | None]) -> None:
        """The tasks (by row) a poll carried, each with when its credentials expire (None: it has none)."""
        if sent:
            await self._write_unit(_sent, dict(sent), self._clock.now())


# ------------------------------------------------------------------------------------------------- units


def _place(conn: Connection, new: NewTask, instance_row: int) -> TaskRecord | None:
    instances = ecs_container_instances
    took = conn.execute(
        update(instances)
        .where(
            instances.c.id == instance_row,
            instances.c.status == "ACTIVE",
            instances.c.remaining_cpu >= new.cpu,
            instances.c.remaining_memory >= new.memory,
        )
        .values(
            remaining_cpu=instances.c.remaining_cpu - new.cpu,
            remaining_memory=instances.c.remaining_memory - new.memory,
        )
    ).rowcount
    if not took:
        return None
    values = {
        "task_id": new.task_id,
        "account_id": new.account_id,
        "cluster_id": new.cluster_id,
        "container_instance_id": instance_row,
        "task_definition_id": new.task_definition_id,
        "launch_type": new.launch_type,
        "overrides": new.overrides,
        "cpu": new.cpu,
        "memory": new.memory,
        "resources_released": False,
        "last_status": TaskStatus.PROVISIONING.value,
        "desired_status": TaskStatus.RUNNING.value,
        "started_by": new.started_by,
        "group_name": new.group,
        "containers": new.containers,
        "tags": new.tags,
        "created_at": new.created_at,
        "version": 1,
    }
    row_id = conn.execute(ecs_tasks.insert().values(**values).returning(ecs_tasks.c.id)).scalar_one()
    return _read(conn, row_id)


def _read(conn: Connection, row_id: int, lock: bool = False) -> TaskRecord:
    query = _TASK_QUERY.where(ecs_tasks.c.id == row_id)
    if lock:
        query = query.with_for_update(of=ecs_tasks)
    return task_record(conn.execute(query).one())


def _state(task: TaskRecord) -> TaskState:
    return TaskState(task.last_status, task.stop_code, task.stopped_reason, task.containers, task.times)


def _write(conn: Connection, task: TaskRecord, state: TaskState, extra: dict[str, Any]) -> None:
    """``state`` (and ``extra`` columns) onto the task's row; the first write that stops it gives its
    resources back to its instance."""
    values: dict[str, Any] = {
        "last_status": state.last_status,
        "stop_code": state.stop_code,
        "stopped_reason": state.stopped_reason,
        "containers": state.containers,
        **{_WIRE_TIMES[name]: value for name, value in state.times.items() if name in _WIRE_TIMES},
        **extra,
    }
    current = _state(task)
    if state == current and all(getattr(task, k, None) == v for k, v in extra.items()):
        return
    values["version"] = ecs_tasks.c.version + 1
    if state.stopped:  # a stopped task is meant to stay stopped, and has given its resources back
        values |= {"resources_released": True, "desired_status": TaskStatus.STOPPED.value}
    released = conn.execute(
        update(ecs_tasks)
        .where(ecs_tasks.c.id == task.id)
        .values(**values)
        .returning(ecs_tasks.c.container_instance_id)
    ).scalar_one()
    if state.stopped and not current.stopped:
        instances = ecs_container_instances
        conn.execute(
            update(instances)
            .where(instances.c.id == released)
            .values(
                remaining_cpu=instances.c.remaining_cpu + task.cpu,
                remaining_memory=instances.c.remaining_memory + task.memory,
            )
        )


def _stop(conn: Connection, row_id: int, reason: str | None, now: datetime) -> TaskRecord:
    task = _read(conn, row_id, lock=True)
    state = _state(task)
    if task.desired_status == TaskStatus.STOPPED or state.stopped:
        return task
    extra: dict[str, Any] = {"desired_status": TaskStatus.STOPPED.value, "stopping_at": now}
    if task.sent_at is None:
        state = stop_now(state, reason, now, StopCode.USER_INITIATED)
    else:
        state = TaskState(state.last_status, StopCode.USER_INITIATED, reason, state.containers, state.times)
    _write(conn, task, state, extra)
    return _read(conn, row_id)


def _fail_unsent(conn: Connection, row_id: int, reason: str, now: datetime) -> None:
    task = _read(conn, row_id, lock=True)
    if task.sent_at is None and task.last_status != TaskStatus.STOPPED:
        stopped = stop_now(_state(task), reason, now, StopCode.TASK_FAILED_TO_START)
        _write(conn, task, stopped, {"desired_status": TaskStatus.STOPPED.value})


def _change(conn: Connection, row_id: int, change: TaskChange, now: datetime) -> TaskRecord:
    task = _read(conn, row_id, lock=True)
    _write(conn, task, apply(_state(task), change, now), {})
    return _read(conn, row_id)


def _advance(conn: Connection, moves: dict[int, str], now: datetime) -> None:
    for row_id, status in moves.items():
        _change(conn, row_id, TaskChange(status), now)


def _sent(conn: Connection, sent: dict[int, datetime | None], now: datetime) -> None:
    for row_id, until in sent.items():
        conn.execute(
            update(ecs_tasks).where(ecs_tasks.c.id == row_id).values(sent_at=now, credentials_until=until)
        )


def stop_instance_tasks(conn: Connection, instance_row: int, reason: str, now: datetime) -> None:
    """Stop every unstopped task of a container instance being deregistered (in the caller's unit)."""
    rows = conn.execute(
        select(ecs_tasks.c.id).where(
            ecs_tasks.c.container_instance_id == instance_row, ecs_tasks.c.last_status != TaskStatus.STOPPED
        )
    ).scalars()
    for row_id in list(rows):
        task = _read(conn, row_id, lock=True)
        stopped = stop_now(_state(task), reason, now, StopCode.USER_INITIATED)
        _write(conn, task, stopped, {"desired_status": TaskStatus.STOPPED.value})
