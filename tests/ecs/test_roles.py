"""iam:PassRole and trust policies: registering a task definition or a container instance with a role, and
running a task, need the caller to be allowed to pass each role; the roles must trust the service
principal ECS uses for them. FARGATE's rules come with ECS's messages."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from .support import ACCOUNT, Agent, EcsServer, allow, unique

TASKS = "ecs-tasks.amazonaws.com"
EC2 = "ec2.amazonaws.com"
CONTAINERS = [{"name": "app", "image": "busybox", "memory": 64}]
FARGATE_ROLE = "Fargate requires task definition to have execution role ARN to support ECR images."


def _error(caught: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    error = caught.value.response["Error"]
    return error["Code"], error["Message"]


def _pass_role_refusal(user_arn_part: str, role: str) -> str:
    return (
        f"is not authorized to perform: iam:PassRole on resource: {role} because no identity-based policy "
        "allows the iam:PassRole action"
    )


def _user(server: EcsServer, *actions: str, pass_role: str | None = None, passed_to: str = TASKS) -> Any:
    statements: list[dict[str, Any]] = allow(*actions)["Statement"]
    if pass_role is not None:
        statements.append(
            {
                "Effect": "Allow",
                "Action": "iam:PassRole",
                "Resource": pass_role,
                "Condition": {"StringEquals": {"iam:PassedToService": passed_to}},
            }
        )
    return server.user({"Version": "2012-10-17", "Statement": statements})


def test_registering_a_definition_with_a_role_needs_pass_role(server: EcsServer) -> None:
    role = server.role(TASKS)
    refused = server.client("ecs", _user(server, "ecs:RegisterTaskDefinition"))
    with pytest.raises(ClientError) as caught:
        refused.register_task_definition(
            family=unique("f"), containerDefinitions=CONTAINERS, taskRoleArn=role
        )
    code, message = _error(caught)
    assert code == "AccessDeniedException"
    assert _pass_role_refusal("user", role) in message
    allowed = server.client("ecs", _user(server, "ecs:RegisterTaskDefinition", pass_role=role))
    found = allowed.register_task_definition(
        family=unique("f"), containerDefinitions=CONTAINERS, taskRoleArn=role, executionRoleArn=role
    )
    assert found["taskDefinition"]["taskRoleArn"] == role
    passed_elsewhere = server.client(
        "ecs", _user(server, "ecs:RegisterTaskDefinition", pass_role=role, passed_to=EC2)
    )
    with pytest.raises(ClientError, match="iam:PassRole"):
        passed_elsewhere.register_task_definition(
            family=unique("f"), containerDefinitions=CONTAINERS, executionRoleArn=role
        )


def test_running_a_task_needs_pass_role_on_its_roles_and_their_trust(
    server: EcsServer, cluster: str, agent: Agent
) -> None:
    ecs = server.client("ecs")
    role = server.role(TASKS)
    family = unique("f")
    ecs.register_task_definition(family=family, containerDefinitions=CONTAINERS, taskRoleArn=role)
    runner = server.client("ecs", _user(server, "ecs:RunTask"))
    with pytest.raises(ClientError) as caught:
        runner.run_task(cluster=cluster, taskDefinition=family)
    assert _pass_role_refusal("user", role) in _error(caught)[1]
    other = server.role(TASKS)
    allowed = server.client("ecs", _user(server, "ecs:RunTask", pass_role=role))
    with pytest.raises(ClientError) as caught:  # an override role needs passing too
        allowed.run_task(cluster=cluster, taskDefinition=family, overrides={"taskRoleArn": other})
    assert _pass_role_refusal("user", other) in _error(caught)[1]
    assert len(allowed.run_task(cluster=cluster, taskDefinition=family)["tasks"]) == 1


def test_a_role_that_does_not_trust_ecs_tasks_cannot_run(
    server: EcsServer, cluster: str, agent: Agent
) -> None:
    ecs = server.client("ecs")
    role = server.role(EC2)
    family = unique("f")
    ecs.register_task_definition(family=family, containerDefinitions=CONTAINERS, executionRoleArn=role)
    with pytest.raises(ClientError) as caught:
        ecs.run_task(cluster=cluster, taskDefinition=family)
    code, message = _error(caught)
    assert code == "ClientException"
    assert message.startswith(f"ECS was unable to assume the role '{role}' that was provided for this task.")
    missing = f"arn:aws:iam::{ACCOUNT}:role/{unique('gone')}"
    with pytest.raises(ClientError, match="ECS was unable to assume the role"):
        ecs.run_task(cluster=cluster, taskDefinition=family, overrides={"executionRoleArn": missing})


def test_an_instance_role_needs_pass_role_and_ec2_trust(server: EcsServer, cluster: str) -> None:
    actions = ("ecs:RegisterContainerInstance",)
    role = server.role(EC2)
    refused = Agent(server, _user(server, *actions), cluster, role_arn=role)
    with pytest.raises(ClientError) as caught:
        refused.register()
    assert _error(caught)[0] == "AccessDeniedException"
    assert _pass_role_refusal("user", role) in _error(caught)[1]
    tasks_only = server.role(TASKS)
    untrusted = Agent(
        server, _user(server, *actions, pass_role=tasks_only, passed_to=EC2), cluster, role_arn=tasks_only
    )
    with pytest.raises(ClientError) as caught:
        untrusted.register()
    code, message = _error(caught)
    assert code == "ClientException"
    assert (
        f"ECS was unable to assume the role '{tasks_only}' that was provided for this container instance"
        in message
    )
    allowed = Agent(server, _user(server, *actions, pass_role=role, passed_to=EC2), cluster, role_arn=role)
    assert allowed.register()["status"] == "ACTIVE"


def test_fargate_definitions_need_an_execution_role_and_task_level_resources(server: EcsServer) -> None:
    ecs = server.client("ecs")
    base = {
        "family": unique("fargate"),
        "containerDefinitions": CONTAINERS,
        "requiresCompatibilities": ["FARGATE"],
    }
    with pytest.raises(ClientError) as caught:
        ecs.register_task_definition(**base, cpu="256", memory="512")
    assert _error(caught) == ("ClientException", FARGATE_ROLE)
    role = server.role(TASKS)
    with pytest.raises(ClientError) as caught:
        ecs.register_task_definition(**base, executionRoleArn=role, memory="512")
    assert _error(caught) == ("ClientException", "Fargate requires that 'cpu' be defined at the task level.")
    found = ecs.register_task_definition(**base, executionRoleArn=role, cpu="0.25 vCPU", memory="0.5 GB")
    assert found["taskDefinition"]["compatibilities"] == ["EC2", "FARGATE"]
    assert found["taskDefinition"]["requiresCompatibilities"] == ["FARGATE"]


def test_run_task_keeps_fargate_rules(server: EcsServer, cluster: str) -> None:
    ecs = server.client("ecs")
    family = unique("ec2only")
    ecs.register_task_definition(family=family, containerDefinitions=CONTAINERS)
    node = Agent(server, server.root, cluster, capacity="FARGATE")
    node.register()
    with pytest.raises(ClientError) as caught:
        ecs.run_task(cluster=cluster, taskDefinition=family, launchType="FARGATE")
    assert _error(caught) == ("ClientException", "Task definition does not support launch_type FARGATE.")
    role = server.role(TASKS)
    fargate = unique("fargate")
    ecs.register_task_definition(
        family=fargate,
        containerDefinitions=CONTAINERS,
        requiresCompatibilities=["FARGATE"],
        executionRoleArn=role,
        cpu="256",
        memory="512",
    )
    placed = ecs.run_task(cluster=cluster, taskDefinition=fargate, launchType="FARGATE")["tasks"]
    assert [(t["launchType"], t["containerInstanceArn"], t["cpu"]) for t in placed] == [
        ("FARGATE", node.arn, "256")
    ]


def test_definition_checks_use_ecs_messages(server: EcsServer) -> None:
    ecs = server.client("ecs")
    cases: list[tuple[dict[str, Any], str]] = [
        ({"containerDefinitions": []}, "Container list cannot be empty."),
        (
            {"containerDefinitions": [{"name": "app", "image": "busybox"}]},
            "Invalid setting for container 'app'. At least one of 'memory' or 'memoryReservation' must be "
            "specified.",
        ),
        (
            {"containerDefinitions": [{"name": "app", "memory": 64}]},
            "Container.image should not be null or empty.",
        ),
        ({"containerDefinitions": CONTAINERS, "cpu": "lots"}, "Invalid 'cpu' setting for task."),
        ({"containerDefinitions": CONTAINERS, "taskRoleArn": "not-a-role"}, "Role is not valid: not-a-role"),
        (
            {"containerDefinitions": [{**CONTAINERS[0], "essential": False}]},
            "A task definition must have at least one essential container.",
        ),
    ]
    for extra, message in cases:
        with pytest.raises(ClientError) as caught:
            ecs.register_task_definition(family=unique("bad"), **extra)
        assert _error(caught) == ("ClientException", message), json.dumps(extra)
    with pytest.raises(ClientError) as caught:
        ecs.register_task_definition(family="no spaces", containerDefinitions=CONTAINERS)
    assert _error(caught)[0] == "ClientException"
