"""SQL for ECS's clusters, task definitions and container instances (tasks: :mod:`.ecs_task_store`).
Schema: :mod:`dockyard.metadata.ecs_tables`.

Nothing caches these rows, so no write bumps the change signal. Writes that two replicas may race on
settle in the database: a unique constraint (a cluster's name, an agent's ACTIVE registration) and a retry
of the loser, which then finds the winner's row; a family's next revision is counted under a transaction
lock on the family (PostgreSQL's advisory lock; SQLite has one writer), the unique revision behind it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import and_, func, select, text, update
from sqlalchemy.engine import Connection, Row
from sqlalchemy.exc import IntegrityError

from dockyard.domain.ecs.errors import ClusterContainsInstances, ClusterContainsTasks, InvalidParameter
from dockyard.domain.ecs.records import (
    ClusterCounts,
    ClusterRecord,
    InstanceRecord,
    NewInstance,
    TaskCounts,
    TaskDefinitionRecord,
)
from dockyard.domain.ecs.states import TaskStatus
from dockyard.metadata.base import SqlStore
from dockyard.metadata.ecs_tables import (
    ecs_clusters,
    ecs_container_instances,
    ecs_task_definitions,
    ecs_tasks,
)
from dockyard.metadata.ecs_task_store import stop_instance_tasks
from dockyard.metadata.unit_sql import all_rows, first, scalars

T = TypeVar("T")
ATTEMPTS = 5
ACTIVE, INACTIVE = "ACTIVE", "INACTIVE"
_UNSTOPPED = ecs_tasks.c.last_status != TaskStatus.STOPPED
_INSTANCE_QUERY = select(ecs_container_instances, ecs_clusters.c.name.label("cluster_name")).join(
    ecs_clusters, ecs_clusters.c.id == ecs_container_instances.c.cluster_id
)


def cluster_record(row: Row[Any]) -> ClusterRecord:
    return ClusterRecord(
        row.id,
        row.account_id,
        row.name,
        row.status,
        row.created_at,
        list(row.tags),
        list(row.settings),
        row.configuration,
    )


def definition_record(row: Row[Any]) -> TaskDefinitionRecord:
    return TaskDefinitionRecord(
        row.id,
        row.account_id,
        row.family,
        row.revision,
        row.status,
        dict(row.definition),
        list(row.tags),
        row.registered_at,
        row.registered_by,
        row.deregistered_at,
    )


def instance_record(row: Row[Any]) -> InstanceRecord:
    values = dict(row._mapping)
    del values["deregistered_at"]
    values["attributes"], values["tags"] = list(row.attributes), list(row.tags)
    values["image_digests"] = list(row.image_digests)
    return InstanceRecord(**values)


class EcsStore(SqlStore):
    async def _write_retrying(self, fn: Callable[..., T], /, *args: Any) -> T:
        """A write unit that a concurrent writer may beat to a unique key: run again, up to a few times
        (the second run finds the winner's row)."""
        for attempt in range(ATTEMPTS):
            try:
                return await self._write_unit(fn, *args)
            except IntegrityError:
                if attempt == ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")

    # -- clusters -------------------------------------------------------------------------------------

    async def create_cluster(self, account: str, name: str, values: dict[str, Any]) -> ClusterRecord:
        """The ACTIVE cluster ``name``: created, made ACTIVE again, or as it is (CreateCluster is
        idempotent); ``values`` are its ``tags``, ``settings`` and ``configuration``."""
        return await self._write_retrying(_create_cluster, account, name, values, self._clock.now())

    async def cluster(self, account: str, name: str) -> ClusterRecord | None:
        query = select(ecs_clusters).where(ecs_clusters.c.account_id == account, ecs_clusters.c.name == name)
        row = await self._read_unit(first, query)
        return None if row is None else cluster_record(row)

    async def clusters(self, account: str, after: str | None, limit: int) -> list[ClusterRecord]:
        """ACTIVE clusters by name, after ``after``."""
        query = select(ecs_clusters).where(
            ecs_clusters.c.account_id == account, ecs_clusters.c.status == ACTIVE
        )
        if after is not None:
            query = query.where(self._lexical(ecs_clusters.c.name) > after)
        query = query.order_by(self._lexical(ecs_clusters.c.name)).limit(limit)
        return [cluster_record(row) for row in await self._read_unit(all_rows, query)]

    async def cluster_counts(self, cluster_ids: Sequence[int]) -> dict[int, ClusterCounts]:
        return await self._read_unit(_cluster_counts, list(cluster_ids))

    async def delete_cluster(self, cluster_id: int) -> ClusterRecord:
        """INACTIVE, unless ACTIVE container instances or unstopped tasks remain in it."""
        return await self._write_unit(_delete_cluster, cluster_id)

    # -- task definitions -----------------------------------------------------------------------------

    async def register_definition(
        self,
        account: str,
        family: str,
        definition: dict[str, Any],
        tags: list[dict[str, str]],
        by: str | None,
    ) -> TaskDefinitionRecord:
        """The family's next revision (one more than its highest, INACTIVE ones included)."""
        values = {"definition": definition, "tags": tags, "registered_by": by}
        return await self._write_retrying(_register_definition, account, family, values, self._clock.now())

    async def definition(
        self, account: str, family: str, revision: int | None
    ) -> TaskDefinitionRecord | None:
        """``family:revision``, or with no revision the family's latest ACTIVE one."""
        query = select(ecs_task_definitions).where(
            ecs_task_definitions.c.account_id == account, ecs_task_definitions.c.family == family
        )
        if revision is None:
            query = query.where(ecs_task_definitions.c.status == ACTIVE)
            query = query.order_by(ecs_task_definitions.c.revision.desc()).limit(1)
        else:
            query = query.where(ecs_task_definitions.c.revision == revision)
        row = await self._read_unit(first, query)
        return None if row is None else definition_record(row)

    async def definition_by_id(self, definition_id: int) -> TaskDefinitionRecord | None:
        query = select(ecs_task_definitions).where(ecs_task_definitions.c.id == definition_id)
        row = await self._read_unit(first, query)
        return None if row is None else definition_record(row)

    async def definitions(
        self,
        account: str,
        family: str | None,
        status: str,
        descending: bool,
        after: list[Any] | None,
        limit: int,
    ) -> list[TaskDefinitionRecord]:
        """A page of ``(family, revision)`` in order, after the position ``after``."""
        table = ecs_task_definitions
        key = (self._lexical(table.c.family), table.c.revision)
        query = select(table).where(table.c.account_id == account, table.c.status == status)
        if family is not None:
            query = query.where(table.c.family == family)
        if after is not None:
            family_after, revision_after = after
            if descending:
                query = query.where(
                    (key[0] < family_after) | and_(key[0] == family_after, key[1] < revision_after)
                )
            else:
                query = query.where(
                    (key[0] > family_after) | and_(key[0] == family_after, key[1] > revision_after)
                )
        order = [k.desc() for k in key] if descending else list(key)
        rows = await self._read_unit(all_rows, query.order_by(*order).limit(limit))
        return [definition_record(row) for row in rows]

    async def deregister_definition(self, definition_id: int) -> TaskDefinitionRecord:
        table = ecs_task_definitions
        now = self._clock.now()
        statement = (
            update(table)
            .where(table.c.id == definition_id)
            .values(status=INACTIVE, deregistered_at=func.coalesce(table.c.deregistered_at, now))
            .returning(*table.c)
        )
        row = await self._write_unit(first, statement)
        return definition_record(row)

    # -- container instances --------------------------------------------------------------------------

    async def register_instance(self, account: str, cluster_id: int, new: NewInstance) -> InstanceRecord:
        """A new ACTIVE container instance, or the one this agent (``ec2_instance_id``) registered before,
        with its new capacity and details; either way every credential sent to it counts as unsent."""
        return await self._write_retrying(_register_instance, account, cluster_id, new, self._clock.now())

    async def instance(self, cluster_id: int, instance_id: str) -> InstanceRecord | None:
        query = _INSTANCE_QUERY.where(
            ecs_container_instances.c.cluster_id == cluster_id,
            ecs_container_instances.c.instance_id == instance_id,
        )
        row = await self._read_unit(first, query)
        return None if row is None else instance_record(row)

    async def instances(
        self, cluster_id: int, statuses: Sequence[str], after: str | None = None, limit: int | None = None
    ) -> list[InstanceRecord]:
        table = ecs_container_instances
        query = _INSTANCE_QUERY.where(table.c.cluster_id == cluster_id, table.c.status.in_(list(statuses)))
        if after is not None:
            query = query.where(table.c.instance_id > after)
        query = query.order_by(table.c.instance_id)
        if limit is not None:
            query = query.limit(limit)
        return [instance_record(row) for row in await self._read_unit(all_rows, query)]

    async def instance_counts(self, instance_ids: Sequence[int]) -> dict[int, TaskCounts]:
        """Running and pending (PROVISIONING or PENDING) tasks of each instance."""
        return await self._read_unit(_instance_counts, list(instance_ids))

    async def deregister_instance(self, record_id: int, force: bool) -> InstanceRecord:
        """INACTIVE; its unstopped tasks are stopped (only with ``force`` when there are any)."""
        return await self._write_unit(_deregister_instance, record_id, force, self._clock.now())

    async def heartbeat(self, record_id: int, until: datetime, digests: list[str] | None) -> None:
        """The agent is in contact until ``until``; its tasks run ``digests`` (None: unchanged)."""
        values: dict[str, Any] = {"heartbeat_at": until}
        if digests is not None:
            values["image_digests"] = digests
        table = ecs_container_instances
        await self._write_unit(
            first, update(table).where(table.c.id == record_id).values(**values).returning(table.c.id)
        )

    async def instance_credentials_sent(self, record_id: int, until: datetime) -> None:
        table = ecs_container_instances
        statement = update(table).where(table.c.id == record_id).values(credentials_until=until)
        await self._write_unit(first, statement.returning(table.c.id))

    async def images_in_use(self, _account: str = "", _repository: str = "") -> frozenset[str]:
        """Every image digest the tasks on ACTIVE container instances run, as their agents last said:
        lifecycle's ``in_use`` hook. Any account's and repository's are returned (a digest names the same
        image everywhere, and a task may pull across accounts), so an image is kept wherever it is used."""
        table = ecs_container_instances
        query = select(table.c.image_digests).where(table.c.status == ACTIVE)
        return frozenset(digest for digests in await self._read_unit(scalars, query) for digest in digests)


# ------------------------------------------------------------------------------------------------- units


def _create_cluster(
    conn: Connection, account: str, name: str, values: dict[str, Any], now: datetime
) -> ClusterRecord:
    table = ecs_clusters
    found = conn.execute(select(table).where(table.c.account_id == account, table.c.name == name)).first()
    if found is not None and found.status == ACTIVE:
        return cluster_record(found)
    if found is not None:
        revived = update(table).where(table.c.id == found.id).values(status=ACTIVE, created_at=now, **values)
        return cluster_record(conn.execute(revived.returning(*table.c)).one())
    created = table.insert().values(account_id=account, name=name, status=ACTIVE, created_at=now, **values)
    return cluster_record(conn.execute(created.returning(*table.c)).one())


def _cluster_counts(conn: Connection, cluster_ids: list[int]) -> dict[int, ClusterCounts]:
    instances = ecs_container_instances
    counted = conn.execute(
        select(instances.c.cluster_id, func.count())
        .where(instances.c.cluster_id.in_(cluster_ids), instances.c.status == ACTIVE)
        .group_by(instances.c.cluster_id)
    ).all()
    registered = {cluster_id: count for cluster_id, count in counted}
    tasks = conn.execute(
        select(ecs_tasks.c.cluster_id, ecs_tasks.c.last_status, func.count())
        .where(ecs_tasks.c.cluster_id.in_(cluster_ids), _UNSTOPPED)
        .group_by(ecs_tasks.c.cluster_id, ecs_tasks.c.last_status)
    ).all()
    found: dict[int, ClusterCounts] = {}
    for cluster_id in cluster_ids:
        statuses = {status: count for owner, status, count in tasks if owner == cluster_id}
        running = statuses.get(TaskStatus.RUNNING, 0)
        pending = sum(statuses.values()) - running
        found[cluster_id] = ClusterCounts(registered.get(cluster_id, 0), running, pending)
    return found


def _delete_cluster(conn: Connection, cluster_id: int) -> ClusterRecord:
    instances = ecs_container_instances
    active = select(instances.c.id).where(instances.c.cluster_id == cluster_id, instances.c.status == ACTIVE)
    if conn.execute(active.limit(1)).first() is not None:
        raise ClusterContainsInstances()
    tasks = select(ecs_tasks.c.id).where(ecs_tasks.c.cluster_id == cluster_id, _UNSTOPPED)
    if conn.execute(tasks.limit(1)).first() is not None:
        raise ClusterContainsTasks()
    statement = update(ecs_clusters).where(ecs_clusters.c.id == cluster_id).values(status=INACTIVE)
    return cluster_record(conn.execute(statement.returning(*ecs_clusters.c)).one())


def _register_definition(
    conn: Connection, account: str, family: str, values: dict[str, Any], now: datetime
) -> TaskDefinitionRecord:
    table = ecs_task_definitions
    if conn.dialect.name == "postgresql":  # one registration of a family at a time (SQLite has one writer)
        lock = text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))")
        conn.execute(lock, {"key": f"ecs-task-definition/{account}/{family}"})
    highest = conn.execute(
        select(func.max(table.c.revision)).where(table.c.account_id == account, table.c.family == family)
    ).scalar()
    statement = table.insert().values(
        account_id=account,
        family=family,
        revision=(highest or 0) + 1,
        status=ACTIVE,
        registered_at=now,
        **values,
    )
    return definition_record(conn.execute(statement.returning(*table.c)).one())


def _register_instance(
    conn: Connection, account: str, cluster_id: int, new: NewInstance, now: datetime
) -> InstanceRecord:
    table = ecs_container_instances
    same_agent = (
        table.c.cluster_id == cluster_id,
        table.c.ec2_instance_id == new.ec2_instance_id,
        table.c.status == ACTIVE,
    )
    details = {
        "capacity": new.capacity,
        "attributes": new.attributes,
        "version_info": new.version_info,
        "role_arn": new.role_arn,
        "heartbeat_at": now,
        "credentials_until": None,
    }
    found = conn.execute(select(table).where(*same_agent)).first()
    if found is None:
        conn.execute(table.insert().values(**details, **_new_instance(account, cluster_id, new, now)))
    else:
        _reregister(conn, found, new, details)
    return instance_record(conn.execute(_INSTANCE_QUERY.where(*same_agent)).one())


def _new_instance(account: str, cluster_id: int, new: NewInstance, now: datetime) -> dict[str, Any]:
    return {
        "instance_id": uuid.uuid4().hex,
        "cluster_id": cluster_id,
        "account_id": account,
        "ec2_instance_id": new.ec2_instance_id,
        "status": ACTIVE,
        "tags": new.tags,
        "version": 1,
        "cpu": new.cpu,
        "memory": new.memory,
        "remaining_cpu": new.cpu,
        "remaining_memory": new.memory,
        "registered_at": now,
        "image_digests": [],
    }


def _reregister(conn: Connection, found: Row[Any], new: NewInstance, details: dict[str, Any]) -> None:
    """A restarted agent's registration: new capacity (what its tasks hold stays held), new details, and
    every credential sent to it or its tasks counts as unsent."""
    table = ecs_container_instances
    conn.execute(
        update(table)
        .where(table.c.id == found.id)
        .values(
            cpu=new.cpu,
            memory=new.memory,
            remaining_cpu=table.c.remaining_cpu + (new.cpu - found.cpu),
            remaining_memory=table.c.remaining_memory + (new.memory - found.memory),
            version=table.c.version + 1,
            **details,
        )
    )
    resend = update(ecs_tasks).where(ecs_tasks.c.container_instance_id == found.id)
    conn.execute(resend.values(credentials_until=None))


def _instance_counts(conn: Connection, instance_ids: list[int]) -> dict[int, TaskCounts]:
    rows = conn.execute(
        select(ecs_tasks.c.container_instance_id, ecs_tasks.c.last_status, func.count())
        .where(ecs_tasks.c.container_instance_id.in_(instance_ids), _UNSTOPPED)
        .group_by(ecs_tasks.c.container_instance_id, ecs_tasks.c.last_status)
    ).all()
    found: dict[int, TaskCounts] = {}
    for instance_id in instance_ids:
        statuses = {status: count for owner, status, count in rows if owner == instance_id}
        running = statuses.get(TaskStatus.RUNNING, 0)
        found[instance_id] = TaskCounts(running, sum(statuses.values()) - running)
    return found


def _deregister_instance(conn: Connection, record_id: int, force: bool, now: datetime) -> InstanceRecord:
    table = ecs_container_instances
    unstopped = select(ecs_tasks.c.id).where(ecs_tasks.c.container_instance_id == record_id, _UNSTOPPED)
    if conn.execute(unstopped.limit(1)).first() is not None:
        if not force:
            raise InvalidParameter("Found running tasks on the instance.")
        stop_instance_tasks(conn, record_id, "Container instance deregistered", now)
    statement = (
        update(table)
        .where(table.c.id == record_id)
        .values(status=INACTIVE, deregistered_at=now, image_digests=[], version=table.c.version + 1)
    )
    conn.execute(statement)
    return instance_record(conn.execute(_INSTANCE_QUERY.where(table.c.id == record_id)).one())
