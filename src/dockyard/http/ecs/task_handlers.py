"""ECS task operations (RunTask, DescribeTasks, ListTasks, StopTask) and the node agent's ECS operations
(DiscoverPollEndpoint, SubmitTaskStateChange, SubmitContainerStateChange); dispatch and authorization as
in :mod:`.handlers`."""

from __future__ import annotations

from dockyard.domain.ecs.changes import ContainerChange, TaskChange
from dockyard.http.ecr.auth import EcrCaller
from dockyard.http.ecs.handlers import Authorization, EcsContext, Operation, Output, Params
from dockyard.http.ecs.shapes import failure
from dockyard.services.ecs_tasks import change_of

ACKNOWLEDGED = "ACK"


class TaskHandlers:
    def __init__(self, ctx: EcsContext) -> None:
        self.ctx = ctx

    def operations(self) -> dict[str, Operation]:
        ctx = self.ctx
        return {
            "RunTask": Operation(self.run_task, self.on_definition),
            "DescribeTasks": Operation(self.describe_tasks, self.on_tasks),
            "ListTasks": Operation(self.list_tasks, self.on_listing),
            "StopTask": Operation(self.stop_task, self.on_task),
            "DiscoverPollEndpoint": Operation(self.discover_poll_endpoint, ctx.anything),
            "SubmitTaskStateChange": Operation(self.submit_task_state_change, ctx.on_cluster),
            "SubmitContainerStateChange": Operation(self.submit_container_state_change, ctx.on_cluster),
        }

    # -- what each is authorised on -------------------------------------------------------------------

    async def on_definition(self, caller: EcrCaller, params: Params) -> Authorization:
        arn = await self.ctx.clusters.definition_arn(caller.account, params["taskDefinition"])
        return Authorization([arn], self.ctx.cluster_arn(caller, params))

    async def on_tasks(self, caller: EcrCaller, params: Params) -> Authorization:
        return self.ctx.scoped(caller, params, "task", params["tasks"])

    async def on_task(self, caller: EcrCaller, params: Params) -> Authorization:
        return self.ctx.scoped(caller, params, "task", [params["task"]])

    async def on_listing(self, caller: EcrCaller, params: Params) -> Authorization:
        """ListTasks: on the container instance it names, else on the cluster."""
        if params.get("containerInstance"):
            return self.ctx.scoped(caller, params, "container-instance", [params["containerInstance"]])
        return await self.ctx.on_cluster(caller, params)

    # -- tasks ----------------------------------------------------------------------------------------

    async def run_task(self, caller: EcrCaller, params: Params) -> Output:
        cluster = await self.ctx.clusters.active(caller.account, params.get("cluster"))
        definition = await self.ctx.clusters.definition(caller.account, params["taskDefinition"])
        placed, failures = await self.ctx.tasks.run(caller.identity, cluster, definition, params)
        return {
            "tasks": [self.ctx.shapes.task(t, ("TAGS",)) for t in placed],
            "failures": [failure(f) for f in failures],
        }

    async def describe_tasks(self, caller: EcrCaller, params: Params) -> Output:
        cluster = await self.ctx.clusters.active(caller.account, params.get("cluster"))
        found, failures = await self.ctx.tasks.describe(cluster, params["tasks"])
        include = params.get("include", [])
        return {
            "tasks": [self.ctx.shapes.task(t, include) for t in found],
            "failures": [failure(f) for f in failures],
        }

    async def list_tasks(self, caller: EcrCaller, params: Params) -> Output:
        cluster = await self.ctx.clusters.active(caller.account, params.get("cluster"))
        page = await self.ctx.tasks.page(cluster, params)
        arns = self.ctx.shapes.arns(caller.account)
        return {"taskArns": [arns.task(cluster.name, i) for i in page.items], "nextToken": page.next_token}

    async def stop_task(self, caller: EcrCaller, params: Params) -> Output:
        cluster = await self.ctx.clusters.active(caller.account, params.get("cluster"))
        stopped = await self.ctx.tasks.stop(cluster, params["task"], params.get("reason"))
        return {"task": self.ctx.shapes.task(stopped)}

    # -- the node agent -------------------------------------------------------------------------------

    async def discover_poll_endpoint(self, caller: EcrCaller, params: Params) -> Output:
        if params.get("cluster"):
            await self.ctx.clusters.active(caller.account, params["cluster"])
        return {"endpoint": caller.base_url}

    async def submit_task_state_change(self, caller: EcrCaller, params: Params) -> Output:
        cluster = await self.ctx.clusters.active(caller.account, params.get("cluster"))
        await self.ctx.tasks.submit(cluster, params.get("task", ""), change_of(params))
        return {"acknowledgment": ACKNOWLEDGED}

    async def submit_container_state_change(self, caller: EcrCaller, params: Params) -> Output:
        cluster = await self.ctx.clusters.active(caller.account, params.get("cluster"))
        container = ContainerChange(
            params.get("containerName", ""),
            params.get("status"),
            params.get("exitCode"),
            params.get("reason"),
            params.get("runtimeId"),
        )
        await self.ctx.tasks.submit(cluster, params.get("task", ""), TaskChange(containers=(container,)))
        return {"acknowledgment": ACKNOWLEDGED}
