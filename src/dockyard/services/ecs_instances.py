"""Container instances: nodes whose agents registered (contract: ``docs/ecs-agent-protocol.md`` §1).

An agent registers with its capacity (``totalResources`` CPU and MEMORY), its launch type (attribute
``dockyard.capacity``: EC2 or FARGATE) and an identity document naming its instance id and instance role.
The caller must be allowed to pass the instance role (unless it signs as that role: a restarted agent
using its instance role's credentials), and the role must trust ``ec2.amazonaws.com``.
Registering again with the same instance id in the same cluster returns the same container instance.

``agentConnected`` is whether the agent was in contact within ``agent_timeout``: registration counts, and
a poll counts until it ends. An instance whose agent went away keeps its tasks as they were last reported.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dockyard.domain.ecs.arns import role_arn_account, scoped_id
from dockyard.domain.ecs.errors import InvalidParameter, instance_not_found, invalid_role
from dockyard.domain.ecs.records import ClusterRecord, InstanceRecord, NewInstance, TaskCounts
from dockyard.domain.ecs.taskdef import LAUNCH_TYPES
from dockyard.metadata.ecs_store import ACTIVE, EcsStore
from dockyard.ports import Clock
from dockyard.services.access import Caller
from dockyard.services.ecr_tokens import PageTokens
from dockyard.services.ecs_roles import INSTANCE_PRINCIPAL, RoleGate
from dockyard.services.ecs_types import EcsConfig, Failure, Page, Pager

CAPACITY_ATTRIBUTE = "dockyard.capacity"


@dataclass(frozen=True, slots=True)
class InstanceView:
    """A container instance as DescribeContainerInstances shows it."""

    record: InstanceRecord
    counts: TaskCounts
    connected: bool


def _resource(resources: Sequence[dict[str, Any]], name: str) -> int:
    for resource in resources:
        if resource.get("name") == name:
            value = resource.get("integerValue", resource.get("longValue"))
            if isinstance(value, int) and value > 0:
                return value
    raise InvalidParameter(f"totalResources must include {name} as a positive INTEGER.")


def new_instance(params: dict[str, Any]) -> NewInstance:
    """RegisterContainerInstance's parameters as a registration."""
    try:
        document = json.loads(params.get("instanceIdentityDocument") or "")
    except ValueError:
        document = None
    if not isinstance(document, dict) or not isinstance(document.get("instanceId"), str):
        raise InvalidParameter("instanceIdentityDocument must be a JSON document naming the instanceId.")
    role = document.get("instanceRoleArn")
    if role is not None and (not isinstance(role, str) or role_arn_account(role) is None):
        raise invalid_role(str(role))
    attributes = list(params.get("attributes", []))
    capacity = next((a.get("value") for a in attributes if a.get("name") == CAPACITY_ATTRIBUTE), "EC2")
    if capacity not in LAUNCH_TYPES:
        raise InvalidParameter(f"{CAPACITY_ATTRIBUTE} must be one of {', '.join(LAUNCH_TYPES)}.")
    if not any(a.get("name") == CAPACITY_ATTRIBUTE for a in attributes):
        attributes.append({"name": CAPACITY_ATTRIBUTE, "value": capacity})
    resources = params.get("totalResources", [])
    return NewInstance(
        ec2_instance_id=document["instanceId"][:255],
        capacity=capacity,
        cpu=_resource(resources, "CPU"),
        memory=_resource(resources, "MEMORY"),
        attributes=attributes,
        version_info=params.get("versionInfo"),
        tags=params.get("tags", []),
        role_arn=role,
    )


class EcsInstances:
    def __init__(
        self, store: EcsStore, roles: RoleGate, pages: PageTokens, clock: Clock, config: EcsConfig
    ) -> None:
        self.store = store
        self.roles = roles
        self.pages = pages
        self.clock = clock
        self.config = config

    def connected(self, record: InstanceRecord, now: datetime | None = None) -> bool:
        now = now or self.clock.now()
        return record.status == ACTIVE and now - record.heartbeat_at < self.config.agent_timeout

    async def register(
        self, caller: Caller, cluster: ClusterRecord, params: dict[str, Any]
    ) -> InstanceRecord:
        new = new_instance(params)
        if new.role_arn is not None:
            await self.roles.pass_instance_role(caller, new.role_arn)
            await self.roles.check_trust(new.role_arn, INSTANCE_PRINCIPAL, "container instance")
        return await self.store.register_instance(caller.account, cluster.id, new)

    async def get(self, cluster: ClusterRecord, reference: str) -> InstanceRecord:
        """The cluster's container instance ``reference`` (id or ARN); InvalidParameter otherwise."""
        named, instance_id = scoped_id(reference, "container-instance", cluster.account_id)
        found = None
        if named in (None, cluster.name):
            found = await self.store.instance(cluster.id, instance_id)
        if found is None:
            raise instance_not_found(reference)
        return found

    async def views(self, records: Sequence[InstanceRecord]) -> list[InstanceView]:
        counts = await self.store.instance_counts([r.id for r in records])
        now = self.clock.now()
        return [InstanceView(r, counts.get(r.id, TaskCounts()), self.connected(r, now)) for r in records]

    async def describe(
        self, cluster: ClusterRecord, references: Sequence[str]
    ) -> tuple[list[InstanceView], list[Failure]]:
        found: list[InstanceRecord] = []
        failures: list[Failure] = []
        for reference in dict.fromkeys(references):
            try:
                found.append(await self.get(cluster, reference))
            except InvalidParameter:
                failures.append(Failure(reference, "MISSING"))
        return await self.views(found), failures

    async def page(
        self, cluster: ClusterRecord, status: str | None, token: str | None, max_results: int | None
    ) -> Page[InstanceRecord]:
        """ACTIVE instances (the only listed status Dockyard has: nodes do not drain)."""
        scope = f"{cluster.account_id}/{cluster.name}/{status or ''}"
        pager = Pager.of(self.pages, "ListContainerInstances", scope, max_results)
        statuses = [ACTIVE] if status in (None, ACTIVE) else []
        found = await self.store.instances(cluster.id, statuses, pager.position(token), pager.limit + 1)
        return pager.page(found, lambda record: record.instance_id)

    async def deregister(self, cluster: ClusterRecord, reference: str, force: bool) -> InstanceRecord:
        found = await self.get(cluster, reference)
        if found.status != ACTIVE:
            raise instance_not_found(reference)
        return await self.store.deregister_instance(found.id, force)
