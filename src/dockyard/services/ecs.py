"""ECS clusters and task definitions, the use cases (container instances: :mod:`.ecs_instances`; tasks:
:mod:`.ecs_tasks`; the node agent's channel: :mod:`.ecs_agent`).

Every resource belongs to the caller's account. Clusters and task definitions are never deleted: DeleteCluster
and DeregisterTaskDefinition make them INACTIVE, and they stay describable, as on ECS. A family's revisions
count up from 1, INACTIVE ones included.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dockyard.domain.ecs import taskdef
from dockyard.domain.ecs.arns import DEFAULT_CLUSTER, EcsArns, cluster_name, task_definition_ref
from dockyard.domain.ecs.errors import ClientError, ClusterNotFound, task_definition_not_found
from dockyard.domain.ecs.records import ClusterCounts, ClusterRecord, TaskDefinitionRecord
from dockyard.metadata.ecs_store import ACTIVE, EcsStore
from dockyard.services.access import Caller
from dockyard.services.ecr_tokens import PageTokens
from dockyard.services.ecs_roles import TASKS_PRINCIPAL, RoleGate
from dockyard.services.ecs_types import EcsConfig, Failure, Page, Pager

MISSING = "MISSING"


class EcsClusters:
    def __init__(self, store: EcsStore, roles: RoleGate, pages: PageTokens, config: EcsConfig) -> None:
        self.store = store
        self.roles = roles
        self.pages = pages
        self.config = config

    def arns(self, account: str) -> EcsArns:
        return EcsArns(self.config.region, account)

    # -- clusters -------------------------------------------------------------------------------------

    async def active(self, account: str, reference: str | None) -> ClusterRecord:
        """The ACTIVE cluster a ``cluster`` parameter names; ClusterNotFoundException otherwise."""
        found = await self.store.cluster(account, cluster_name(reference, account))
        if found is None or found.status != ACTIVE:
            raise ClusterNotFound()
        return found

    async def create(self, account: str, params: dict[str, Any]) -> ClusterRecord:
        values = {
            "tags": params.get("tags", []),
            "settings": params.get("settings", []),
            "configuration": params.get("configuration"),
        }
        return await self.store.create_cluster(account, params.get("clusterName") or DEFAULT_CLUSTER, values)

    async def describe(
        self, account: str, references: Sequence[str]
    ) -> tuple[list[ClusterRecord], list[Failure]]:
        found: list[ClusterRecord] = []
        failures: list[Failure] = []
        for reference in dict.fromkeys(references or [DEFAULT_CLUSTER]):
            name = cluster_name(reference, account)
            cluster = await self.store.cluster(account, name)
            if cluster is None:
                failures.append(Failure(self.arns(account).cluster(name), MISSING))
            else:
                found.append(cluster)
        return found, failures

    async def counts(self, clusters: Sequence[ClusterRecord]) -> dict[int, ClusterCounts]:
        return await self.store.cluster_counts([c.id for c in clusters])

    async def page(self, account: str, token: str | None, max_results: int | None) -> Page[ClusterRecord]:
        pager = Pager.of(self.pages, "ListClusters", account, max_results)
        found = await self.store.clusters(account, pager.position(token), pager.limit + 1)
        return pager.page(found, lambda cluster: cluster.name)

    async def delete(self, account: str, reference: str) -> ClusterRecord:
        cluster = await self.active(account, reference)
        return await self.store.delete_cluster(cluster.id)

    # -- task definitions -----------------------------------------------------------------------------

    async def register(
        self, caller: Caller, definition: dict[str, Any], tags: list[dict[str, str]]
    ) -> TaskDefinitionRecord:
        """A new revision of ``definition['family']`` (RegisterTaskDefinition's members but tags)."""
        checked = taskdef.validate(definition)
        await self.roles.pass_roles(caller, taskdef.roles(checked).values(), TASKS_PRINCIPAL)
        return await self.store.register_definition(
            caller.account, checked["family"], checked, tags, caller.principal.arn
        )

    async def definition(self, account: str, reference: str) -> TaskDefinitionRecord:
        """``family``, ``family:revision`` or an ARN; ClientException when there is none."""
        ref = task_definition_ref(reference, account)
        found = await self.store.definition(account, ref.family, ref.revision)
        if found is None:
            raise task_definition_not_found()
        return found

    async def definition_arn(self, account: str, reference: str) -> str:
        """The ARN IAM authorises an action on ``reference`` against: its revision, else the family's
        latest ACTIVE one (ECS resolves the revision before authorising)."""
        ref = task_definition_ref(reference, account)
        revision: int | str | None = ref.revision
        if revision is None:
            found = await self.store.definition(account, ref.family, None)
            revision = found.revision if found is not None else "*"
        return self.arns(account).task_definition(ref.family, revision)

    async def definitions(self, account: str, params: dict[str, Any]) -> Page[TaskDefinitionRecord]:
        status, descending = params.get("status", ACTIVE), params.get("sort", "ASC") == "DESC"
        family = params.get("familyPrefix")
        scope = f"{account}/{family or ''}/{status}/{descending}"
        pager = Pager.of(self.pages, "ListTaskDefinitions", scope, params.get("maxResults"))
        found = await self.store.definitions(
            account, family, status, descending, pager.position(params.get("nextToken")), pager.limit + 1
        )
        return pager.page(found, lambda d: [d.family, d.revision])

    async def deregister(self, account: str, reference: str) -> TaskDefinitionRecord:
        ref = task_definition_ref(reference, account)
        if ref.revision is None:
            raise ClientError("Revision is missing.")
        found = await self.store.definition(account, ref.family, ref.revision)
        if found is None:
            raise task_definition_not_found()
        return await self.store.deregister_definition(found.id)
