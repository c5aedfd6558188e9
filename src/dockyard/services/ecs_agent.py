"""The node agent's poll (contract: ``docs/ecs-agent-protocol.md`` §2): heartbeat, report, long wait, and
the tasks and credentials the agent must be told about (:mod:`dockyard.domain.ecs.sync`).

A poll first records the heartbeat (the agent counts as connected until its poll ends) and the image
digests its tasks run, moves forward the statuses its report gives, then answers at once if there is
work, else waits up to ``waitSeconds``: woken in this process when a task of the instance is placed or
stopped here, and looking at the database every ``poll_interval`` for what other replicas did.

Credentials are minted by the server's STS as the service principals get them (the instance role as
``ec2.amazonaws.com``, execution and task roles as ``ecs-tasks.amazonaws.com``), last an hour and are sent
again when less than 15 minutes remain. A task whose roles cannot be assumed any more when it is first
sent stops with ``TaskFailedToStart``. Credentials are never logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from cachetools import LRUCache

from dockyard.domain.ecs import sync, taskdef
from dockyard.domain.ecs.errors import ClientError, EcsError
from dockyard.domain.ecs.records import InstanceRecord, TaskDefinitionRecord, TaskRecord
from dockyard.domain.ecs.states import TaskStatus
from dockyard.metadata.ecs_store import ACTIVE, EcsStore
from dockyard.metadata.ecs_task_store import TaskStore
from dockyard.ports import Clock
from dockyard.services.ecs_roles import INSTANCE_PRINCIPAL, TASKS_PRINCIPAL, RoleGate
from dockyard.services.ecs_types import EcsConfig
from dockyard.services.sts import TemporaryCredentials

log = logging.getLogger("dockyard.ecs")


class PollWaker:
    """Wakes the polls of a container instance waiting in this process.

    A poll watches (:meth:`watch`) before it reads the database and waits on what it got: a wake that comes
    between its read and its wait is not lost (the event is already set)."""

    def __init__(self) -> None:
        self._events: dict[str, asyncio.Event] = {}

    def watch(self, instance_id: str) -> asyncio.Event:
        return self._events.setdefault(instance_id, asyncio.Event())

    def wake(self, instance_id: str) -> None:
        event = self._events.pop(instance_id, None)
        if event is not None:
            event.set()


async def _wait(event: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(max(seconds, 0)):
            await event.wait()


@dataclass(frozen=True, slots=True)
class PollTask:
    task: TaskRecord
    definition: TaskDefinitionRecord
    execution: TemporaryCredentials | None = None
    role: TemporaryCredentials | None = None


@dataclass(frozen=True, slots=True)
class PollAnswer:
    instance: TemporaryCredentials | None
    tasks: list[PollTask]


class EcsAgent:
    def __init__(
        self, store: EcsStore, tasks: TaskStore, roles: RoleGate, clock: Clock, config: EcsConfig
    ) -> None:
        self.store = store
        self.tasks = tasks
        self.roles = roles
        self.clock = clock
        self.config = config
        self.waker = PollWaker()
        self._definitions: LRUCache[int, TaskDefinitionRecord] = LRUCache(4096)

    def wait_seconds(self, requested: int | None) -> int:
        wait = self.config.default_wait if requested is None else requested
        return max(0, min(wait, self.config.max_wait))

    async def poll(
        self, instance: InstanceRecord, reports: Mapping[str, sync.Reported], wait: int
    ) -> PollAnswer:
        if instance.status != ACTIVE:
            raise ClientError("The container instance is not ACTIVE; register it again.")
        until = self.clock.now() + timedelta(seconds=wait)
        await self.store.heartbeat(instance.id, until, sync.digests_in_use(list(reports.values())))
        woken = self.waker.watch(instance.instance_id)
        known = await self._known(instance, reports, advance=True)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while True:
            now = self.clock.now()
            due = [task for task, state in known if sync.needs_send(state, reports.get(task.task_id), now)]
            instance_due = instance.role_arn is not None and sync.credentials_due(
                instance.credentials_until, now
            )
            remaining = deadline - loop.time()
            if due or instance_due or remaining <= 0:
                answer = await self._answer(instance, due, instance_due)
                await self.store.heartbeat(instance.id, self.clock.now(), None)  # the poll ends now
                return answer
            await _wait(woken, min(self.config.poll_interval, remaining))
            woken = self.waker.watch(instance.instance_id)
            known = await self._known(instance, reports, advance=False)

    async def _known(
        self, instance: InstanceRecord, reports: Mapping[str, sync.Reported], *, advance: bool
    ) -> list[tuple[TaskRecord, sync.Known]]:
        """The instance's tasks and what the server knows of each; with ``advance``, first moved forward
        as the report says."""
        found = await self.tasks.instance_tasks(instance.id, list(reports))
        known = [(task, await self._known_of(task)) for task in found]
        if not advance:
            return known
        moves = sync.advances([state for _, state in known], reports)
        if not moves:
            return known
        rows = {task.task_id: task.id for task in found}
        await self.tasks.advance({rows[task_id]: status for task_id, status in moves.items()})
        return await self._known(instance, reports, advance=False)

    async def _known_of(self, task: TaskRecord) -> sync.Known:
        definition = await self.definition(task.task_definition_id)
        has_roles = bool(taskdef.roles(definition.definition, task.overrides))
        return sync.Known(
            task.task_id, task.last_status, task.desired_status, has_roles, task.credentials_until
        )

    async def definition(self, definition_id: int) -> TaskDefinitionRecord:
        found = self._definitions.get(definition_id)
        if found is None:
            found = await self.store.definition_by_id(definition_id)
            if found is None:
                raise ClientError("Unable to describe task definition.")
            self._definitions[definition_id] = found
        return found

    async def _answer(
        self, instance: InstanceRecord, due: Sequence[TaskRecord], instance_due: bool
    ) -> PollAnswer:
        creds = None
        if instance_due and instance.role_arn is not None:
            creds = await self._instance_credentials(instance, instance.role_arn)
        sent: dict[int, datetime | None] = {}
        answered: list[PollTask] = []
        for task in due:
            found = await self._poll_task(task)
            if found is None:
                continue
            answered.append(found)
            expiries = [c.expiration for c in (found.execution, found.role) if c is not None]
            sent[task.id] = min(expiries) if expiries else None
        await self.tasks.sent(sent)
        return PollAnswer(creds, answered)

    async def _instance_credentials(self, instance: InstanceRecord, role: str) -> TemporaryCredentials | None:
        try:
            creds = await self.roles.credentials(role, INSTANCE_PRINCIPAL, _session(instance.ec2_instance_id))
        except EcsError:
            log.warning("the instance role cannot be assumed", extra={"instance": instance.instance_id})
            return None
        await self.store.instance_credentials_sent(instance.id, creds.expiration)
        return creds

    async def _poll_task(self, task: TaskRecord) -> PollTask | None:
        """The task as the poll carries it, with fresh credentials when it is to run; None when its roles
        cannot be assumed (a task never sent then stops, one running keeps the credentials it has)."""
        definition = await self.definition(task.task_definition_id)
        if task.desired_status == TaskStatus.STOPPED:
            return PollTask(task, definition)
        roles = taskdef.roles(definition.definition, task.overrides)
        minted: dict[str, TemporaryCredentials] = {}
        try:
            for member, role in roles.items():
                minted[member] = await self.roles.credentials(role, TASKS_PRINCIPAL, task.task_id)
        except ClientError as exc:
            log.warning("a task role cannot be assumed", extra={"task": task.task_id})
            await self.tasks.fail_unsent(task.id, str(exc))
            return None
        return PollTask(task, definition, minted.get("executionRoleArn"), minted.get("taskRoleArn"))


def _session(name: str) -> str:
    """A role session name from an agent-chosen id (2-64 of ``[\\w+=,.@-]``)."""
    cleaned = "".join(ch if ch.isalnum() or ch in "+=,.@-_" else "-" for ch in name)[:64]
    return cleaned if len(cleaned) >= 2 else f"instance-{cleaned}"
