"""Tasks: RunTask's scheduler, DescribeTasks, ListTasks, StopTask and the state changes nodes submit.

RunTask places each of ``count`` tasks on its own: it ranks the cluster's container instances
(:mod:`dockyard.domain.ecs.placement`) and asks the database for the best one's resources; when another
placement (on any replica) took them first, it reads the instances again and re-ranks, a few times. A task
that fits nowhere comes back in ``failures``, one entry per container instance with ECS's reason. A
placed task wakes the polls of its instance waiting in this process; other replicas' polls see it at their
next look at the database.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import Any

from dockyard.domain.ecs import placement, taskdef
from dockyard.domain.ecs.arns import EcsArns, scoped_id
from dockyard.domain.ecs.changes import ContainerChange, TaskChange
from dockyard.domain.ecs.errors import ClientError, InvalidParameter, task_not_found
from dockyard.domain.ecs.records import ClusterRecord, NewTask, TaskDefinitionRecord, TaskRecord
from dockyard.domain.ecs.resources import Demand, demand, with_overrides
from dockyard.domain.ecs.states import TaskStatus
from dockyard.metadata.ecs_store import ACTIVE
from dockyard.metadata.ecs_task_store import TaskFilter, TaskStore
from dockyard.ports import Clock
from dockyard.services.access import Caller
from dockyard.services.ecr_tokens import PageTokens
from dockyard.services.ecs_instances import EcsInstances
from dockyard.services.ecs_roles import TASKS_PRINCIPAL, RoleGate
from dockyard.services.ecs_types import EcsConfig, Failure, Page, Pager

MAX_COUNT = 10
PLACEMENT_ROUNDS = 5  # re-rankings after losing an instance's last slot to a concurrent placement
Wake = Callable[[str], None]  # container instance id -> wake the polls waiting for it here


def _new_containers(definition: TaskDefinitionRecord, overrides: dict[str, Any]) -> list[dict[str, Any]]:
    containers = with_overrides(definition.definition["containerDefinitions"], overrides)
    made = []
    for c in containers:
        made.append(
            {
                "containerId": uuid.uuid4().hex,
                "name": c["name"],
                "image": c["image"],
                "lastStatus": TaskStatus.PENDING.value,
                "cpu": str(c.get("cpu") or 0),
                "memory": str(c["memory"]) if c.get("memory") else None,
                "memoryReservation": str(c["memoryReservation"]) if c.get("memoryReservation") else None,
                "essential": c.get("essential", True),
            }
        )
    return made


def change_of(params: dict[str, Any]) -> TaskChange:
    """SubmitTaskStateChange's parameters as a change."""
    containers = tuple(
        ContainerChange(
            c.get("containerName", ""),
            c.get("status"),
            c.get("exitCode"),
            c.get("reason"),
            c.get("runtimeId"),
            c.get("imageDigest"),
        )
        for c in params.get("containers", [])
    )
    names = ("pullStartedAt", "pullStoppedAt", "executionStoppedAt")
    times = {name: params[name] for name in names if params.get(name) is not None}
    return TaskChange(params.get("status"), params.get("reason"), containers, times)


class EcsTasks:
    def __init__(
        self,
        instances: EcsInstances,
        store: TaskStore,
        roles: RoleGate,
        pages: PageTokens,
        clock: Clock,
        config: EcsConfig,
    ) -> None:
        self.instances = instances
        self.store = store
        self.roles = roles
        self.pages = pages
        self.clock = clock
        self.config = config
        self.wake: Wake = lambda _instance: None

    # -- RunTask --------------------------------------------------------------------------------------

    async def run(
        self, caller: Caller, cluster: ClusterRecord, definition: TaskDefinitionRecord, params: dict[str, Any]
    ) -> tuple[list[TaskRecord], list[Failure]]:
        launch_type = await self._admit(caller, definition, params)
        need = demand(definition.definition, params.get("overrides", {}))
        if not await self.instances.store.instances(cluster.id, [ACTIVE]):
            raise InvalidParameter(placement.NO_INSTANCES)
        placed: list[TaskRecord] = []
        refused: dict[tuple[str, str], None] = {}
        for _ in range(params.get("count", 1)):
            new = self._new_task(cluster, definition, params, need, launch_type)
            task, refusals = await self._place(cluster, new, need)
            if task is None:
                refused.update(dict.fromkeys(refusals))
                break
            placed.append(task)
            self.wake(task.instance_id)
        return placed, [Failure(arn, reason) for arn, reason in refused]

    async def _admit(self, caller: Caller, definition: TaskDefinitionRecord, params: dict[str, Any]) -> str:
        """RunTask's checks before placement (ECS's refusals); the launch type."""
        if definition.status != ACTIVE:
            raise ClientError("TaskDefinition is inactive")
        launch_type: str = params.get("launchType", taskdef.EC2)
        if launch_type not in taskdef.LAUNCH_TYPES:
            raise InvalidParameter(f"launch type should be one of [{','.join(taskdef.LAUNCH_TYPES)}]")
        if not 1 <= params.get("count", 1) <= MAX_COUNT:
            raise InvalidParameter(f"count must be between 1 and {MAX_COUNT}.")
        overrides = params.get("overrides", {})
        taskdef.check_launch_type({**definition.definition, **_role_overrides(overrides)}, launch_type)
        roles = taskdef.roles(definition.definition, overrides)
        await self.roles.pass_roles(caller, roles.values(), TASKS_PRINCIPAL)
        for role in dict.fromkeys(roles.values()):
            await self.roles.check_trust(role, TASKS_PRINCIPAL)
        return launch_type

    def _new_task(
        self,
        cluster: ClusterRecord,
        definition: TaskDefinitionRecord,
        params: dict[str, Any],
        need: Demand,
        launch_type: str,
    ) -> NewTask:
        overrides = params.get("overrides", {})
        return NewTask(
            task_id=uuid.uuid4().hex,
            account_id=cluster.account_id,
            cluster_id=cluster.id,
            task_definition_id=definition.id,
            launch_type=launch_type,
            overrides=overrides,
            cpu=need.cpu,
            memory=need.memory,
            containers=_new_containers(definition, overrides),
            started_by=params.get("startedBy"),
            group=params.get("group") or f"family:{definition.family}",
            tags=params.get("tags", []),
            created_at=self.clock.now(),
        )

    async def _place(
        self, cluster: ClusterRecord, new: NewTask, need: Demand
    ) -> tuple[TaskRecord | None, list[tuple[str, str]]]:
        ranking = placement.Ranking([], [])
        for _ in range(PLACEMENT_ROUNDS):
            ranking = placement.rank(await self._candidates(cluster), need, new.launch_type)
            if not ranking.fits:
                break
            for candidate in ranking.fits:
                task = await self.store.place(new, candidate.key)
                if task is not None:
                    return task, []
        return None, ranking.refusals

    async def _candidates(self, cluster: ClusterRecord) -> list[placement.Candidate]:
        arns = self.instances_arns(cluster)
        now = self.clock.now()
        return [
            placement.Candidate(
                r.id,
                arns(r.instance_id),
                r.capacity,
                self.instances.connected(r, now),
                r.remaining_cpu,
                r.remaining_memory,
            )
            for r in await self.instances.store.instances(cluster.id, [ACTIVE])
        ]

    def instances_arns(self, cluster: ClusterRecord) -> Callable[[str], str]:
        arns = EcsArns(self.config.region, cluster.account_id)
        return lambda instance_id: arns.container_instance(cluster.name, instance_id)

    # -- reading and stopping -------------------------------------------------------------------------

    async def get(self, cluster: ClusterRecord, reference: str) -> TaskRecord:
        named, task_id = scoped_id(reference, "task", cluster.account_id)
        found = await self.store.task(cluster.account_id, task_id)
        if found is None or found.cluster_name != cluster.name or named not in (None, cluster.name):
            raise task_not_found()
        return found

    async def describe(
        self, cluster: ClusterRecord, references: Sequence[str]
    ) -> tuple[list[TaskRecord], list[Failure]]:
        wanted = {ref: scoped_id(ref, "task", cluster.account_id) for ref in dict.fromkeys(references)}
        found = {
            t.task_id: t
            for t in await self.store.tasks(cluster.account_id, [i for _, i in wanted.values()])
            if t.cluster_name == cluster.name
        }
        tasks, failures = [], []
        for reference, (named, task_id) in wanted.items():
            task = found.get(task_id)
            if task is None or named not in (None, cluster.name):
                failures.append(Failure(reference, "MISSING"))
            else:
                tasks.append(task)
        return tasks, failures

    async def page(self, cluster: ClusterRecord, params: dict[str, Any]) -> Page[str]:
        """ListTasks: task ids (desired status RUNNING unless asked otherwise). Dockyard has no services
        or daemons, so a ``serviceName``/``daemonName`` filter matches nothing."""
        if params.get("serviceName") or params.get("daemonName"):
            return Page([])
        instance_row = None
        if params.get("containerInstance"):
            instance_row = (await self.instances.get(cluster, params["containerInstance"])).id
        where = TaskFilter(
            cluster.account_id,
            cluster.id,
            params.get("desiredStatus", TaskStatus.RUNNING.value),
            instance_row,
            params.get("family"),
            params.get("startedBy"),
            params.get("launchType"),
        )
        pager = Pager.of(self.pages, "ListTasks", f"{cluster.account_id}/{where}", params.get("maxResults"))
        found = await self.store.task_ids(where, pager.position(params.get("nextToken")), pager.limit + 1)
        return pager.page(found, lambda task_id: task_id)

    async def stop(self, cluster: ClusterRecord, reference: str, reason: str | None) -> TaskRecord:
        task = await self.store.stop((await self.get(cluster, reference)).id, reason)
        self.wake(task.instance_id)
        return task

    # -- what nodes submit ----------------------------------------------------------------------------

    async def submit(self, cluster: ClusterRecord, reference: str, change: TaskChange) -> TaskRecord:
        """SubmitTaskStateChange / SubmitContainerStateChange (forward only; a stop gives resources back)."""
        task = await self.get(cluster, reference)
        return await self.store.change(task.id, change)


def _role_overrides(overrides: dict[str, Any]) -> dict[str, Any]:
    return {k: overrides[k] for k in taskdef.ROLE_MEMBERS if overrides.get(k)}
