"""The ECS stores on SQLite and PostgreSQL, each with two engines standing for two replicas: placements
racing for an instance's last slot (one wins, at the store and through RunTask's scheduler), revisions
registered at once (each gets its own), and resources given back exactly once."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import Connection, inspect
from sqlalchemy.ext.asyncio import AsyncEngine

from dockyard.clock import SystemClock
from dockyard.domain.ecs.changes import TaskChange
from dockyard.domain.ecs.records import ClusterRecord, NewInstance, NewTask, TaskDefinitionRecord
from dockyard.metadata.ecs_store import EcsStore
from dockyard.metadata.ecs_task_store import TaskStore
from dockyard.metadata.engine import create_engine, database_url
from dockyard.metadata.migrate import alembic_config, upgrade
from dockyard.services.ecr_tokens import PageTokens, SigningKey
from dockyard.services.ecs_instances import EcsInstances
from dockyard.services.ecs_roles import RoleGate
from dockyard.services.ecs_tasks import EcsTasks
from dockyard.services.ecs_types import EcsConfig

ACCOUNT = "123456789012"
ROUNDS = 8
CLOCK = SystemClock()
CONFIG = EcsConfig("us-east-1", agent_timeout=timedelta(hours=1))
DEFINITION = {"family": "race", "containerDefinitions": [{"name": "a", "image": "x", "memory": 512}]}


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path, migrated_sqlite: Callable[[Path], Path]) -> str:
    """A migrated, empty database of each kind."""
    if request.param == "sqlite":
        migrated_sqlite(tmp_path)
        return database_url(None, tmp_path)
    return database_url(request.getfixturevalue("empty_postgres_url"), tmp_path)


@pytest.fixture
async def engines(database: str) -> AsyncIterator[tuple[AsyncEngine, AsyncEngine]]:
    first, second = create_engine(database), create_engine(database)
    try:
        yield first, second
    finally:
        await first.dispose()
        await second.dispose()


async def _cluster(store: EcsStore) -> tuple[ClusterRecord, TaskDefinitionRecord]:
    cluster = await store.create_cluster(ACCOUNT, f"c-{uuid.uuid4().hex[:6]}", {"tags": [], "settings": []})
    definition = await store.register_definition(ACCOUNT, "race", DEFINITION, [], None)
    return cluster, definition


def _instance(memory: int) -> NewInstance:
    return NewInstance(f"i-{uuid.uuid4().hex[:16]}", "EC2", 1024, memory, [], None, [], None)


def _task(cluster: ClusterRecord, definition: TaskDefinitionRecord, memory: int = 512) -> NewTask:
    return NewTask(
        uuid.uuid4().hex, ACCOUNT, cluster.id, definition.id, "EC2", {}, 0, memory, [], None, None, [],
        datetime.now(UTC),
    )  # fmt: skip


async def test_two_placements_race_for_the_last_slot(engines: tuple[AsyncEngine, AsyncEngine]) -> None:
    stores = [EcsStore(e, CLOCK) for e in engines]
    tasks = [TaskStore(e, CLOCK) for e in engines]
    cluster, definition = await _cluster(stores[0])
    for _ in range(ROUNDS):
        instance = await stores[0].register_instance(ACCOUNT, cluster.id, _instance(512))
        placed = await asyncio.gather(*(t.place(_task(cluster, definition), instance.id) for t in tasks))
        assert sum(found is not None for found in placed) == 1
        after = await stores[1].instance(cluster.id, instance.instance_id)
        assert after is not None
        assert (after.remaining_memory, after.remaining_cpu) == (0, 1024)


async def test_two_run_tasks_race_for_the_last_slot(engines: tuple[AsyncEngine, AsyncEngine]) -> None:
    """Through the scheduler: the loser of the conditional update re-ranks, finds no room, reports it."""
    key = SigningKey.generate()
    schedulers = []
    for engine in engines:
        store = EcsStore(engine, CLOCK)
        roles = RoleGate(Any, Any)  # type: ignore[arg-type]  (a definition without roles passes none)
        instances = EcsInstances(store, roles, PageTokens(key), CLOCK, CONFIG)
        schedulers.append(
            EcsTasks(instances, TaskStore(engine, CLOCK), roles, PageTokens(key), CLOCK, CONFIG)
        )
    store = EcsStore(engines[0], CLOCK)
    cluster, definition = await _cluster(store)
    for _ in range(ROUNDS):
        instance = await store.register_instance(ACCOUNT, cluster.id, _instance(512))
        answers = await asyncio.gather(*(s.run(Any, cluster, definition, {}) for s in schedulers))
        placed = [task for tasks, _ in answers for task in tasks]
        failures = [(f.arn.rsplit("/", 1)[-1], f.reason) for _, found in answers for f in found]
        assert len(placed) == 1
        assert (instance.instance_id, "RESOURCE:MEMORY") in failures  # each round's instance stays full


async def test_revisions_registered_at_once_each_get_their_own(
    engines: tuple[AsyncEngine, AsyncEngine],
) -> None:
    stores = [EcsStore(e, CLOCK) for e in engines]
    family = f"f-{uuid.uuid4().hex[:6]}"
    registered = await asyncio.gather(
        *(stores[i % 2].register_definition(ACCOUNT, family, DEFINITION, [], None) for i in range(6))
    )
    assert sorted(d.revision for d in registered) == [1, 2, 3, 4, 5, 6]
    latest = await stores[1].definition(ACCOUNT, family, None)
    assert latest is not None
    assert latest.revision == 6
    await stores[0].deregister_definition(latest.id)
    active = await stores[1].definition(ACCOUNT, family, None)
    assert active is not None
    assert active.revision == 5


async def test_a_stop_gives_resources_back_once(engines: tuple[AsyncEngine, AsyncEngine]) -> None:
    store, tasks = EcsStore(engines[0], CLOCK), [TaskStore(e, CLOCK) for e in engines]
    cluster, definition = await _cluster(store)
    instance = await store.register_instance(ACCOUNT, cluster.id, _instance(1024))
    task = await tasks[0].place(_task(cluster, definition), instance.id)
    assert task is not None
    await asyncio.gather(*(t.change(task.id, TaskChange("STOPPED")) for t in tasks))
    await tasks[1].change(task.id, TaskChange("RUNNING"))
    after = await store.instance(cluster.id, instance.instance_id)
    assert after is not None
    assert after.remaining_memory == 1024
    stopped = await tasks[0].task(ACCOUNT, task.task_id)
    assert stopped is not None
    assert (stopped.last_status, stopped.desired_status) == ("STOPPED", "STOPPED")


async def test_a_restarted_agent_gets_its_registration_back(engines: tuple[AsyncEngine, AsyncEngine]) -> None:
    stores = [EcsStore(e, CLOCK) for e in engines]
    cluster, _ = await _cluster(stores[0])
    new = _instance(1024)
    first, second = await asyncio.gather(*(s.register_instance(ACCOUNT, cluster.id, new) for s in stores))
    assert first.instance_id == second.instance_id
    assert [i.instance_id for i in await stores[1].instances(cluster.id, ["ACTIVE"])] == [first.instance_id]


async def test_migration_0012_goes_down_and_up(database: str) -> None:
    ecs_tables = {"ecs_clusters", "ecs_task_definitions", "ecs_container_instances", "ecs_tasks"}
    engine = create_engine(database)

    def down(connection: Connection) -> None:
        command.downgrade(alembic_config(connection), "0011")

    async def tables() -> set[str]:
        async with engine.connect() as conn:
            return set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))

    try:
        async with engine.begin() as conn:
            await conn.run_sync(down)
        assert not ecs_tables & await tables()
        await upgrade(engine)
        assert ecs_tables <= await tables()
    finally:
        await engine.dispose()
