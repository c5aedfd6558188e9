"""ECS on PostgreSQL: the whole operation walk, and an agent's task from RunTask to STOPPED with the
resources it held given back."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest

from dockyard.config import Settings

from .support import Agent, EcsServer, create_account, serve, unique
from .test_model import MODEL, SCENARIO, call, missing_required


@pytest.fixture(scope="module")
def pg_server(tmp_path_factory: pytest.TempPathFactory, module_postgres_url: str) -> Iterator[EcsServer]:
    data_dir = tmp_path_factory.mktemp("ecs-pg")
    settings = Settings(
        data_dir=data_dir, database_url=module_postgres_url, access_log=False, auth="none", scan_concurrency=0
    )
    root = create_account(settings, str(random.randrange(10**11, 10**12)))
    with serve(settings, root) as running:
        yield running


def test_operation_walk(pg_server: EcsServer) -> None:
    ecs, context = pg_server.client("ecs"), {}
    for operation, params in SCENARIO:
        answer = call(ecs, operation, params(context))
        if "containerInstance" in answer:
            context["instance"] = answer["containerInstance"]["containerInstanceArn"]
        if answer.get("tasks"):
            context["task"] = answer["tasks"][0]["taskArn"]
        answer.pop("ResponseMetadata")
        assert missing_required(MODEL.operation_model(operation).output_shape, answer, operation) == []
        assert not answer.get("failures"), (operation, answer["failures"])


def test_a_task_from_run_to_stopped(pg_server: EcsServer) -> None:
    ecs, cluster, family = pg_server.client("ecs"), unique("pg"), unique("pg")
    ecs.create_cluster(clusterName=cluster)
    ecs.register_task_definition(
        family=family, containerDefinitions=[{"name": "a", "image": "x", "memory": 2048}]
    )
    agent = Agent(pg_server, pg_server.root, cluster)
    agent.register()
    answer = ecs.run_task(cluster=cluster, taskDefinition=family, count=3)
    assert (len(answer["tasks"]), answer["failures"]) == (
        2,
        [{"arn": agent.arn, "reason": "RESOURCE:MEMORY"}],
    )
    tasks = [t["taskArn"] for t in answer["tasks"]]
    assert sorted(t["taskArn"] for t in agent.poll()["tasks"]) == sorted(tasks)
    agent.poll([{"taskArn": arn, "lastStatus": "RUNNING"} for arn in tasks])
    stopping = ecs.stop_task(cluster=cluster, task=tasks[0])["task"]
    assert stopping["desiredStatus"] == "STOPPED"
    agent.submit(tasks[0], "STOPPED", containers=[{"containerName": "a", "exitCode": 0, "status": "STOPPED"}])
    stopped = ecs.describe_tasks(cluster=cluster, tasks=[tasks[0]])["tasks"][0]
    assert (stopped["lastStatus"], stopped["stopCode"]) == ("STOPPED", "UserInitiated")
    found = ecs.describe_container_instances(cluster=cluster, containerInstances=[agent.arn])[
        "containerInstances"
    ]
    remaining = {r["name"]: r["integerValue"] for r in found[0]["remainingResources"]}
    assert remaining["MEMORY"] == 2048
    assert (found[0]["runningTasksCount"], found[0]["pendingTasksCount"]) == (1, 0)
    assert ecs.list_tasks(cluster=cluster)["taskArns"] == [tasks[1]]
