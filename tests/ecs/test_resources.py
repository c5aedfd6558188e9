"""Clusters, task definitions and listings as ECS keeps them: idempotent creation, INACTIVE instead of
deleted, family:revision numbering, ``failures`` for what is missing, pagination with ``nextToken``."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from .support import ACCOUNT, REGION, Agent, EcsServer, unique

CONTAINERS = [{"name": "app", "image": "busybox", "memory": 16}]


def _error(caught: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    error = caught.value.response["Error"]
    return error["Code"], error["Message"]


def test_clusters_are_created_once_and_deleted_to_inactive(server: EcsServer, ecs: Any) -> None:
    name = unique("life")
    first = ecs.create_cluster(clusterName=name)["cluster"]
    assert ecs.create_cluster(clusterName=name)["cluster"]["clusterArn"] == first["clusterArn"]
    assert first["clusterArn"] == f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/{name}"
    agent = Agent(server, server.root, name)
    agent.register()
    with pytest.raises(ClientError) as caught:
        ecs.delete_cluster(cluster=name)
    assert _error(caught) == (
        "ClusterContainsContainerInstancesException",
        "The Cluster cannot be deleted while Container Instances are active or draining.",
    )
    ecs.deregister_container_instance(cluster=name, containerInstance=agent.arn)
    assert ecs.delete_cluster(cluster=first["clusterArn"])["cluster"]["status"] == "INACTIVE"
    assert ecs.describe_clusters(clusters=[name])["clusters"][0]["status"] == "INACTIVE"
    assert first["clusterArn"] not in ecs.list_clusters()["clusterArns"]
    with pytest.raises(ClientError) as caught:
        ecs.list_tasks(cluster=name)
    assert _error(caught) == ("ClusterNotFoundException", "Cluster not found.")
    assert ecs.create_cluster(clusterName=name)["cluster"]["status"] == "ACTIVE"


def test_missing_clusters_are_failures(ecs: Any) -> None:
    name = unique("missing")
    found = ecs.describe_clusters(clusters=[name])
    assert found == {
        **found,
        "clusters": [],
        "failures": [{"arn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/{name}", "reason": "MISSING"}],
    }


def test_list_clusters_pages(ecs: Any) -> None:
    names = {unique("page") for _ in range(5)}
    for name in names:
        ecs.create_cluster(clusterName=name)
    seen: list[str] = []
    token: str | None = None
    while True:
        page = ecs.list_clusters(maxResults=2, **({"nextToken": token} if token else {}))
        assert len(page["clusterArns"]) <= 2
        seen += page["clusterArns"]
        token = page.get("nextToken")
        if token is None:
            break
    assert len(seen) == len(set(seen))
    assert {arn.rsplit("/", 1)[-1] for arn in seen} >= names
    with pytest.raises(ClientError) as caught:
        ecs.list_clusters(nextToken="forged")
    assert _error(caught)[0] == "InvalidParameterException"


def test_task_definition_revisions(ecs: Any, cluster: str, agent: Agent) -> None:
    family = unique("rev")
    arns = [
        ecs.register_task_definition(family=family, containerDefinitions=CONTAINERS)["taskDefinition"][
            "taskDefinitionArn"
        ]
        for _ in range(3)
    ]
    assert [arn.rsplit(":", 1)[-1] for arn in arns] == ["1", "2", "3"]
    gone = ecs.deregister_task_definition(taskDefinition=arns[2])["taskDefinition"]
    assert (gone["status"], gone["revision"]) == ("INACTIVE", 3)
    assert "deregisteredAt" in gone
    assert ecs.describe_task_definition(taskDefinition=family)["taskDefinition"]["revision"] == 2
    assert (
        ecs.describe_task_definition(taskDefinition=f"{family}:3")["taskDefinition"]["status"] == "INACTIVE"
    )
    assert ecs.list_task_definitions(familyPrefix=family)["taskDefinitionArns"] == arns[:2]
    assert ecs.list_task_definitions(familyPrefix=family, sort="DESC")["taskDefinitionArns"] == arns[1::-1]
    assert ecs.list_task_definitions(familyPrefix=family, status="INACTIVE")["taskDefinitionArns"] == arns[2:]
    page = ecs.list_task_definitions(familyPrefix=family, maxResults=1)
    rest = ecs.list_task_definitions(familyPrefix=family, maxResults=1, nextToken=page["nextToken"])
    assert page["taskDefinitionArns"] + rest["taskDefinitionArns"] == arns[:2]
    assert "nextToken" not in rest
    assert (
        ecs.register_task_definition(family=family, containerDefinitions=CONTAINERS)["taskDefinition"][
            "revision"
        ]
        == 4
    )
    with pytest.raises(ClientError) as caught:
        ecs.run_task(cluster=cluster, taskDefinition=f"{family}:3")
    assert _error(caught) == ("ClientException", "TaskDefinition is inactive")
    with pytest.raises(ClientError) as caught:
        ecs.deregister_task_definition(taskDefinition=family)
    assert _error(caught) == ("ClientException", "Revision is missing.")
    with pytest.raises(ClientError) as caught:
        ecs.describe_task_definition(taskDefinition=f"{family}:99")
    assert _error(caught) == ("ClientException", "Unable to describe task definition.")


def test_task_definitions_keep_what_was_registered(ecs: Any) -> None:
    family = unique("keep")
    container = {
        "name": "app",
        "image": "busybox",
        "memory": 32,
        "cpu": 64,
        "command": ["echo", "hi"],
        "entryPoint": ["/bin/sh", "-c"],
        "environment": [{"name": "A", "value": "1"}],
        "logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": "/ecs/keep"}},
    }
    registered = ecs.register_task_definition(
        family=family,
        containerDefinitions=[container],
        networkMode="bridge",
        tags=[{"key": "k", "value": "v"}],
    )
    assert registered["tags"] == [{"key": "k", "value": "v"}]
    found = ecs.describe_task_definition(taskDefinition=family, include=["TAGS"])
    shown = found["taskDefinition"]["containerDefinitions"][0]
    assert {k: shown[k] for k in container} == container
    assert shown["essential"] is True
    assert found["taskDefinition"]["registeredBy"] == f"arn:aws:iam::{ACCOUNT}:root"
    assert found["tags"] == [{"key": "k", "value": "v"}]
    assert "tags" not in ecs.describe_task_definition(taskDefinition=family)


def test_list_and_describe_tasks(server: EcsServer, ecs: Any, cluster: str, agent: Agent) -> None:
    other = Agent(server, server.root, cluster)
    other.register()
    family, another = unique("list"), unique("list")
    for name in (family, another):
        ecs.register_task_definition(family=name, containerDefinitions=CONTAINERS)
    mine = ecs.run_task(cluster=cluster, taskDefinition=family, count=2, startedBy="me")["tasks"]
    theirs = ecs.run_task(cluster=cluster, taskDefinition=another)["tasks"]
    everything = {t["taskArn"] for t in mine + theirs}
    assert set(ecs.list_tasks(cluster=cluster)["taskArns"]) == everything
    assert set(ecs.list_tasks(cluster=cluster, family=family)["taskArns"]) == {t["taskArn"] for t in mine}
    assert ecs.list_tasks(cluster=cluster, startedBy="nobody")["taskArns"] == []
    on_other = {t["taskArn"] for t in mine + theirs if t["containerInstanceArn"] == other.arn}
    assert set(ecs.list_tasks(cluster=cluster, containerInstance=other.arn)["taskArns"]) == on_other
    missing = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/{cluster}/{'0' * 32}"
    described = ecs.describe_tasks(cluster=cluster, tasks=[mine[0]["taskArn"].rsplit("/", 1)[-1], missing])
    assert [t["taskArn"] for t in described["tasks"]] == [mine[0]["taskArn"]]
    assert described["failures"] == [{"arn": missing, "reason": "MISSING"}]
    with pytest.raises(ClientError) as caught:
        ecs.stop_task(cluster=cluster, task=missing)
    assert _error(caught) == ("InvalidParameterException", "The referenced task was not found.")
