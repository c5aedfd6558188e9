"""ECS operations: model-validated parameters in, a service call, a dict shaped by the output model out.

Each operation is served through :func:`bound`: authorization of ``ecs:<Operation>`` on each resource it
touches (cluster, task definition, container instance or task ARNs, ``*`` where ECS takes none, with the
``ecs:cluster`` condition key when a cluster is named), then the handler. This module serves clusters, task
definitions and container instances; :mod:`.task_handlers` tasks and the node agent's operations.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from dockyard.domain.ecs.arns import cluster_name, scoped_id
from dockyard.domain.ecs.errors import InvalidParameter
from dockyard.http.aws.endpoint import Handler
from dockyard.http.ecr.auth import EcrCaller
from dockyard.http.ecs.shapes import Shapes, failure
from dockyard.services.access import Access
from dockyard.services.ecs import EcsClusters
from dockyard.services.ecs_agent import EcsAgent
from dockyard.services.ecs_instances import EcsInstances
from dockyard.services.ecs_tasks import EcsTasks

Params = dict[str, Any]
Output = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Authorization:
    """What an operation is authorised on: resource ARNs, and the cluster for ``ecs:cluster``."""

    resources: list[str]
    cluster: str | None = None


@dataclass(frozen=True, slots=True)
class Operation:
    run: Callable[[EcrCaller, Params], Awaitable[Output | None]]
    on: Callable[[EcrCaller, Params], Awaitable[Authorization]]


@dataclass
class EcsContext:
    """The ECS services the handlers call."""

    clusters: EcsClusters
    instances: EcsInstances
    tasks: EcsTasks
    agent: EcsAgent
    access: Access
    shapes: Shapes

    def cluster_arn(self, caller: EcrCaller, params: Params) -> str:
        return self.shapes.arns(caller.account).cluster(cluster_name(params.get("cluster"), caller.account))

    async def anything(self, caller: EcrCaller, params: Params) -> Authorization:
        return Authorization(["*"])

    async def on_cluster(self, caller: EcrCaller, params: Params) -> Authorization:
        arn = self.cluster_arn(caller, params)
        return Authorization([arn], arn)

    def scoped(self, caller: EcrCaller, params: Params, kind: str, references: list[str]) -> Authorization:
        """ARNs of tasks or container instances (``kind``) of the ``cluster`` parameter's cluster."""
        arns = self.shapes.arns(caller.account)
        name = cluster_name(params.get("cluster"), caller.account)
        build = arns.task if kind == "task" else arns.container_instance
        found = [
            build(named or name, ref_id)
            for named, ref_id in (scoped_id(r, kind, caller.account) for r in references)
        ]
        return Authorization(found, arns.cluster(name))


def bound(name: str, op: Operation, access: Access) -> Handler[EcrCaller]:
    action = f"ecs:{name}"

    async def handle(caller: EcrCaller, params: Params) -> Mapping[str, Any] | None:
        target = await op.on(caller, params)
        keys = {"ecs:cluster": target.cluster} if target.cluster else None
        for resource in target.resources:
            await access.require(caller.identity, action, resource, keys=keys)
        return await op.run(caller, params)

    return handle


class ClusterHandlers:
    """Clusters, task definitions and container instances."""

    def __init__(self, ctx: EcsContext) -> None:
        self.ctx = ctx

    def operations(self) -> dict[str, Operation]:
        ctx = self.ctx
        return {
            "CreateCluster": Operation(self.create_cluster, ctx.anything),
            "DescribeClusters": Operation(self.describe_clusters, self.on_clusters),
            "ListClusters": Operation(self.list_clusters, ctx.anything),
            "DeleteCluster": Operation(self.delete_cluster, ctx.on_cluster),
            "RegisterTaskDefinition": Operation(self.register_task_definition, ctx.anything),
            "DescribeTaskDefinition": Operation(self.describe_task_definition, self.on_definition),
            "ListTaskDefinitions": Operation(self.list_task_definitions, ctx.anything),
            "DeregisterTaskDefinition": Operation(self.deregister_task_definition, self.on_definition),
            "RegisterContainerInstance": Operation(self.register_container_instance, ctx.on_cluster),
            "ListContainerInstances": Operation(self.list_container_instances, ctx.on_cluster),
            "DescribeContainerInstances": Operation(self.describe_container_instances, self.on_instances),
            "DeregisterContainerInstance": Operation(self.deregister_container_instance, self.on_instance),
        }

    # -- what each is authorised on -------------------------------------------------------------------

    async def on_clusters(self, caller: EcrCaller, params: Params) -> Authorization:
        arns = self.ctx.shapes.arns(caller.account)
        names = [cluster_name(ref, caller.account) for ref in params.get("clusters") or [None]]
        return Authorization([arns.cluster(name) for name in dict.fromkeys(names)])

    async def on_definition(self, caller: EcrCaller, params: Params) -> Authorization:
        return Authorization(
            [await self.ctx.clusters.definition_arn(caller.account, params["taskDefinition"])]
        )

    async def on_instances(self, caller: EcrCaller, params: Params) -> Authorization:
        return self.ctx.scoped(caller, params, "container-instance", params["containerInstances"])

    async def on_instance(self, caller: EcrCaller, params: Params) -> Authorization:
        return self.ctx.scoped(caller, params, "container-instance", [params["containerInstance"]])

    # -- clusters -------------------------------------------------------------------------------------

    async def _cluster_output(self, found: Any, include: list[str] | tuple[str, ...] = ("TAGS",)) -> Output:
        counts = await self.ctx.clusters.counts([found])
        return self.ctx.shapes.cluster(found, counts[found.id], include)

    async def create_cluster(self, caller: EcrCaller, params: Params) -> Output:
        created = await self.ctx.clusters.create(caller.account, params)
        return {"cluster": await self._cluster_output(created)}

    async def describe_clusters(self, caller: EcrCaller, params: Params) -> Output:
        found, failures = await self.ctx.clusters.describe(caller.account, params.get("clusters", []))
        counts = await self.ctx.clusters.counts(found)
        include = params.get("include", [])
        return {
            "clusters": [self.ctx.shapes.cluster(c, counts[c.id], include) for c in found],
            "failures": [failure(f) for f in failures],
        }

    async def list_clusters(self, caller: EcrCaller, params: Params) -> Output:
        page = await self.ctx.clusters.page(caller.account, params.get("nextToken"), params.get("maxResults"))
        arns = self.ctx.shapes.arns(caller.account)
        return {"clusterArns": [arns.cluster(c.name) for c in page.items], "nextToken": page.next_token}

    async def delete_cluster(self, caller: EcrCaller, params: Params) -> Output:
        deleted = await self.ctx.clusters.delete(caller.account, params["cluster"])
        return {"cluster": await self._cluster_output(deleted)}

    # -- task definitions -----------------------------------------------------------------------------

    async def register_task_definition(self, caller: EcrCaller, params: Params) -> Output:
        definition = {k: v for k, v in params.items() if k != "tags"}
        tags = params.get("tags", [])
        registered = await self.ctx.clusters.register(caller.identity, definition, tags)
        return {"taskDefinition": self.ctx.shapes.task_definition(registered), "tags": tags or None}

    async def describe_task_definition(self, caller: EcrCaller, params: Params) -> Output:
        found = await self.ctx.clusters.definition(caller.account, params["taskDefinition"])
        tags = found.tags if "TAGS" in params.get("include", []) else None
        return {"taskDefinition": self.ctx.shapes.task_definition(found), "tags": tags}

    async def list_task_definitions(self, caller: EcrCaller, params: Params) -> Output:
        page = await self.ctx.clusters.definitions(caller.account, params)
        arns = self.ctx.shapes.arns(caller.account)
        listed = [arns.task_definition(d.family, d.revision) for d in page.items]
        return {"taskDefinitionArns": listed, "nextToken": page.next_token}

    async def deregister_task_definition(self, caller: EcrCaller, params: Params) -> Output:
        found = await self.ctx.clusters.deregister(caller.account, params["taskDefinition"])
        return {"taskDefinition": self.ctx.shapes.task_definition(found)}

    # -- container instances --------------------------------------------------------------------------

    async def register_container_instance(self, caller: EcrCaller, params: Params) -> Output:
        cluster = await self.ctx.clusters.active(caller.account, params.get("cluster"))
        registered = await self.ctx.instances.register(caller.identity, cluster, params)
        views = await self.ctx.instances.views([registered])
        return {"containerInstance": self.ctx.shapes.instance(views[0], ("TAGS",))}

    async def list_container_instances(self, caller: EcrCaller, params: Params) -> Output:
        if params.get("filter"):
            raise InvalidParameter("Dockyard does not support the cluster query language (filter).")
        cluster = await self.ctx.clusters.active(caller.account, params.get("cluster"))
        page = await self.ctx.instances.page(
            cluster, params.get("status"), params.get("nextToken"), params.get("maxResults")
        )
        arns = self.ctx.shapes.arns(caller.account)
        listed = [arns.container_instance(cluster.name, r.instance_id) for r in page.items]
        return {"containerInstanceArns": listed, "nextToken": page.next_token}

    async def describe_container_instances(self, caller: EcrCaller, params: Params) -> Output:
        cluster = await self.ctx.clusters.active(caller.account, params.get("cluster"))
        views, failures = await self.ctx.instances.describe(cluster, params["containerInstances"])
        include = params.get("include", [])
        return {
            "containerInstances": [self.ctx.shapes.instance(v, include) for v in views],
            "failures": [failure(f) for f in failures],
        }

    async def deregister_container_instance(self, caller: EcrCaller, params: Params) -> Output:
        cluster = await self.ctx.clusters.active(caller.account, params.get("cluster"))
        found = await self.ctx.instances.deregister(
            cluster, params["containerInstance"], bool(params.get("force", False))
        )
        self.ctx.agent.waker.wake(found.instance_id)
        views = await self.ctx.instances.views([found])
        return {"containerInstance": self.ctx.shapes.instance(views[0])}
