"""RunTask's scheduler: each task on an ACTIVE, connected container instance of its launch type with
enough remaining CPU and memory, ECS's reasons for the instances that cannot take it, and resources given
back when a task stops."""

from __future__ import annotations

import re
from typing import Any

import pytest
from botocore.exceptions import ClientError

from .support import Agent, EcsServer, unique


def _definition(ecs: Any, *, cpu: int = 256, memory: int = 512, **extra: Any) -> str:
    family = unique("sched")
    containers = [{"name": "app", "image": "busybox", "cpu": cpu, "memory": memory}]
    ecs.register_task_definition(family=family, containerDefinitions=containers, **extra)
    return family


def _remaining(ecs: Any, cluster: str, agent: Agent) -> dict[str, int]:
    found = ecs.describe_container_instances(cluster=cluster, containerInstances=[agent.arn])
    return {r["name"]: r["integerValue"] for r in found["containerInstances"][0]["remainingResources"]}


def test_a_cluster_without_instances_refuses_with_ecs_text(ecs: Any, cluster: str) -> None:
    with pytest.raises(ClientError) as caught:
        ecs.run_task(cluster=cluster, taskDefinition=_definition(ecs))
    error = caught.value.response["Error"]
    assert (error["Code"], error["Message"]) == (
        "InvalidParameterException",
        "No Container Instances were found in your cluster.",
    )


def test_cpu_and_memory_shortfalls_are_reported_per_instance(ecs: Any, cluster: str, agent: Agent) -> None:
    too_much_cpu = ecs.run_task(cluster=cluster, taskDefinition=_definition(ecs, cpu=4096))
    assert too_much_cpu["tasks"] == []
    assert too_much_cpu["failures"] == [{"arn": agent.arn, "reason": "RESOURCE:CPU"}]
    too_much_memory = ecs.run_task(cluster=cluster, taskDefinition=_definition(ecs, memory=8192))
    assert too_much_memory["failures"] == [{"arn": agent.arn, "reason": "RESOURCE:MEMORY"}]
    bigger = ecs.run_task(
        cluster=cluster,
        taskDefinition=_definition(ecs),
        overrides={"containerOverrides": [{"name": "app", "memory": 5000}]},
    )
    assert bigger["failures"] == [{"arn": agent.arn, "reason": "RESOURCE:MEMORY"}]
    assert _remaining(ecs, cluster, agent) == {"CPU": 2048, "MEMORY": 4096}


def test_tasks_take_resources_until_none_are_left(ecs: Any, cluster: str, agent: Agent) -> None:
    family = _definition(ecs, memory=1500)
    answer = ecs.run_task(cluster=cluster, taskDefinition=family, count=3)
    assert len(answer["tasks"]) == 2
    assert answer["failures"] == [{"arn": agent.arn, "reason": "RESOURCE:MEMORY"}]
    assert _remaining(ecs, cluster, agent) == {"CPU": 2048 - 512, "MEMORY": 4096 - 3000}
    described = ecs.describe_container_instances(cluster=cluster, containerInstances=[agent.arn])
    instance = described["containerInstances"][0]
    assert (instance["pendingTasksCount"], instance["runningTasksCount"]) == (2, 0)
    counts = ecs.describe_clusters(clusters=[cluster])["clusters"][0]
    assert (counts["pendingTasksCount"], counts["registeredContainerInstancesCount"]) == (2, 1)


def test_task_level_resources_win_over_the_containers(ecs: Any, cluster: str, agent: Agent) -> None:
    family = unique("tasklevel")
    ecs.register_task_definition(
        family=family,
        cpu="1 vCPU",
        memory="3 GB",
        containerDefinitions=[{"name": "app", "image": "busybox", "cpu": 10, "memory": 10}],
    )
    task = ecs.run_task(cluster=cluster, taskDefinition=family)["tasks"][0]
    assert (task["cpu"], task["memory"]) == ("1024", "3072")
    assert _remaining(ecs, cluster, agent) == {"CPU": 1024, "MEMORY": 1024}


def test_a_stopped_task_gives_its_resources_back(ecs: Any, cluster: str, agent: Agent) -> None:
    family = _definition(ecs, memory=4096)
    first = ecs.run_task(cluster=cluster, taskDefinition=family)["tasks"][0]["taskArn"]
    assert ecs.run_task(cluster=cluster, taskDefinition=family)["failures"][0]["reason"] == "RESOURCE:MEMORY"
    agent.poll([{"taskArn": first, "lastStatus": "PENDING"}])
    agent.submit(first, "RUNNING")
    agent.submit(first, "STOPPED", containers=[{"containerName": "app", "exitCode": 0, "status": "STOPPED"}])
    assert _remaining(ecs, cluster, agent) == {"CPU": 2048, "MEMORY": 4096}
    agent.submit(first, "STOPPED")  # a repeated stop gives nothing back twice
    assert _remaining(ecs, cluster, agent)["MEMORY"] == 4096
    assert len(ecs.run_task(cluster=cluster, taskDefinition=family)["tasks"]) == 1


def test_stopping_a_task_its_agent_never_saw_stops_it_at_once(ecs: Any, cluster: str, agent: Agent) -> None:
    task = ecs.run_task(cluster=cluster, taskDefinition=_definition(ecs))["tasks"][0]["taskArn"]
    stopped = ecs.stop_task(cluster=cluster, task=task, reason="changed my mind")["task"]
    assert (stopped["lastStatus"], stopped["desiredStatus"]) == ("STOPPED", "STOPPED")
    assert (stopped["stopCode"], stopped["stoppedReason"]) == ("UserInitiated", "changed my mind")
    assert _remaining(ecs, cluster, agent) == {"CPU": 2048, "MEMORY": 4096}
    assert agent.poll()["tasks"] == []
    assert ecs.list_tasks(cluster=cluster)["taskArns"] == []
    assert ecs.list_tasks(cluster=cluster, desiredStatus="STOPPED")["taskArns"] == [task]


def test_launch_types_go_to_their_own_nodes(server: EcsServer, ecs: Any, cluster: str, agent: Agent) -> None:
    fargate_node = Agent(server, server.root, cluster, capacity="FARGATE")
    fargate_node.register()
    role = server.role("ecs-tasks.amazonaws.com")
    fargate = unique("fargate")
    for cpu in ("4096", "256"):  # revision 1 is too big for the FARGATE node, revision 2 fits
        ecs.register_task_definition(
            family=fargate,
            requiresCompatibilities=["FARGATE"],
            executionRoleArn=role,
            cpu=cpu,
            memory="512",
            containerDefinitions=[{"name": "app", "image": "busybox"}],
        )
    answer = ecs.run_task(cluster=cluster, taskDefinition=f"{fargate}:1", launchType="FARGATE")
    assert sorted((f["arn"], f["reason"]) for f in answer["failures"]) == sorted(
        [(agent.arn, "ATTRIBUTE"), (fargate_node.arn, "RESOURCE:CPU")]
    )
    placed = ecs.run_task(cluster=cluster, taskDefinition=fargate, launchType="FARGATE")["tasks"]
    assert [t["containerInstanceArn"] for t in placed] == [fargate_node.arn]
    ec2 = ecs.run_task(cluster=cluster, taskDefinition=_definition(ecs), count=2)["tasks"]
    assert {t["containerInstanceArn"] for t in ec2} == {agent.arn}


def test_tasks_spread_over_the_nodes(server: EcsServer, ecs: Any, cluster: str, agent: Agent) -> None:
    other = Agent(server, server.root, cluster)
    other.register()
    placed = ecs.run_task(cluster=cluster, taskDefinition=_definition(ecs), count=2)["tasks"]
    assert {t["containerInstanceArn"] for t in placed} == {agent.arn, other.arn}


def test_a_deregistered_node_takes_no_tasks(ecs: Any, cluster: str, agent: Agent) -> None:
    family = _definition(ecs)
    task = ecs.run_task(cluster=cluster, taskDefinition=family)["tasks"][0]["taskArn"]
    with pytest.raises(ClientError, match=re.escape("Found running tasks on the instance.")):
        ecs.deregister_container_instance(cluster=cluster, containerInstance=agent.arn)
    gone = ecs.deregister_container_instance(cluster=cluster, containerInstance=agent.arn, force=True)
    assert gone["containerInstance"]["status"] == "INACTIVE"
    stopped = ecs.describe_tasks(cluster=cluster, tasks=[task])["tasks"][0]
    assert (stopped["lastStatus"], stopped["stopCode"]) == ("STOPPED", "UserInitiated")
    assert ecs.list_container_instances(cluster=cluster)["containerInstanceArns"] == []
    with pytest.raises(ClientError, match=re.escape("No Container Instances were found in your cluster.")):
        ecs.run_task(cluster=cluster, taskDefinition=family)
    refused = agent.poll_response()
    assert (refused.status_code, refused.json()["__type"]) == (400, "ClientException")
