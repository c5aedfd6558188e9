"""Every served ECS operation: its response parses with every required member (walking botocore's model),
and each is authorised as ``ecs:<Operation>``, so a caller without policies is refused every one (the poll
included), before anything happens."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import botocore.session
import pytest
from botocore.exceptions import ClientError

from aws_shapes import call, missing_required

from .support import ACCOUNT, REGION, Agent, EcsServer, allow, unique

MODEL = botocore.session.get_session().get_service_model("ecs")
Params = Callable[[dict[str, Any]], dict[str, Any]]
CLUSTER = unique("walk")
FAMILY = unique("walk")
CONTAINERS = [{"name": "app", "image": "busybox", "memory": 64, "command": ["true"], "essential": True}]
DOCUMENT = json.dumps({"instanceId": "i-0123456789abcdef"})
RESOURCES = [
    {"name": "CPU", "type": "INTEGER", "integerValue": 1024},
    {"name": "MEMORY", "type": "INTEGER", "integerValue": 1024},
]
INSTANCE = f"arn:aws:ecs:{REGION}:{ACCOUNT}:container-instance/{CLUSTER}/0123456789abcdef0123456789abcdef"
TASK = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/{CLUSTER}/0123456789abcdef0123456789abcdef"

SCENARIO: list[tuple[str, Params]] = [
    ("CreateCluster", lambda c: {"clusterName": CLUSTER, "tags": [{"key": "a", "value": "b"}]}),
    ("DescribeClusters", lambda c: {"clusters": [CLUSTER], "include": ["TAGS"]}),
    ("ListClusters", lambda c: {}),
    (
        "RegisterTaskDefinition",
        lambda c: {
            "family": FAMILY,
            "containerDefinitions": CONTAINERS,
            "tags": [{"key": "t", "value": "v"}],
        },
    ),
    ("DescribeTaskDefinition", lambda c: {"taskDefinition": FAMILY, "include": ["TAGS"]}),
    ("ListTaskDefinitions", lambda c: {"familyPrefix": FAMILY}),
    (
        "RegisterContainerInstance",
        lambda c: {"cluster": CLUSTER, "instanceIdentityDocument": DOCUMENT, "totalResources": RESOURCES},
    ),
    ("ListContainerInstances", lambda c: {"cluster": CLUSTER}),
    ("DescribeContainerInstances", lambda c: {"cluster": CLUSTER, "containerInstances": [c["instance"]]}),
    ("DiscoverPollEndpoint", lambda c: {"cluster": CLUSTER}),
    (
        "RunTask",
        lambda c: {"cluster": CLUSTER, "taskDefinition": FAMILY, "tags": [{"key": "k", "value": "v"}]},
    ),
    ("DescribeTasks", lambda c: {"cluster": CLUSTER, "tasks": [c["task"]], "include": ["TAGS"]}),
    ("ListTasks", lambda c: {"cluster": CLUSTER, "family": FAMILY}),
    ("SubmitTaskStateChange", lambda c: {"cluster": CLUSTER, "task": c["task"], "status": "RUNNING"}),
    (
        "SubmitContainerStateChange",
        lambda c: {"cluster": CLUSTER, "task": c["task"], "containerName": "app", "status": "RUNNING"},
    ),
    ("StopTask", lambda c: {"cluster": CLUSTER, "task": c["task"], "reason": "walk over"}),
    (
        "DeregisterContainerInstance",
        lambda c: {"cluster": CLUSTER, "containerInstance": c["instance"], "force": True},
    ),
    ("DeregisterTaskDefinition", lambda c: {"taskDefinition": f"{FAMILY}:1"}),
    ("DeleteCluster", lambda c: {"cluster": CLUSTER}),
]


def _remember(context: dict[str, Any], answer: dict[str, Any]) -> None:
    if "containerInstance" in answer:
        context["instance"] = answer["containerInstance"]["containerInstanceArn"]
    if answer.get("tasks"):
        context["task"] = answer["tasks"][0]["taskArn"]


def test_scenario_covers_every_served_operation(server: EcsServer) -> None:
    served = set(server.client("ecs").meta.service_model.operation_names) & {op for op, _ in SCENARIO}
    assert served == {op for op, _ in SCENARIO}
    assert len(SCENARIO) == 19


def test_every_response_parses_with_its_required_members(server: EcsServer) -> None:
    ecs, context = server.client("ecs"), {}
    for operation, params in SCENARIO:
        answer = call(ecs, operation, params(context))
        _remember(context, answer)
        answer.pop("ResponseMetadata")
        shape = MODEL.operation_model(operation).output_shape
        assert missing_required(shape, answer, operation) == [], operation
        assert set(answer) <= set(shape.members), operation
        assert answer, f"{operation} answered nothing"
        assert not answer.get("failures"), (operation, answer["failures"])
    assert context["task"].startswith(f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/{CLUSTER}/")


def test_an_operation_the_model_has_and_dockyard_does_not_serve_is_unknown(server: EcsServer) -> None:
    with pytest.raises(ClientError) as caught:
        server.client("ecs").list_services(cluster="default")
    assert caught.value.response["Error"]["Code"] == "UnknownOperationException"


def test_a_caller_without_policies_is_refused_every_operation(server: EcsServer) -> None:
    nobody = server.user()
    ecs, context = server.client("ecs", nobody), {"instance": INSTANCE, "task": TASK}
    for operation, params in SCENARIO:
        with pytest.raises(ClientError) as caught:
            call(ecs, operation, params(context))
        error = caught.value.response["Error"]
        assert error["Code"] == "AccessDeniedException", operation
        assert f"is not authorized to perform: ecs:{operation} on resource: " in error["Message"]
        assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    with pytest.raises(ClientError):  # nothing was created while refused
        server.client("ecs").delete_cluster(cluster=CLUSTER)
    agent = Agent(server, nobody, "default")
    agent.arn = INSTANCE
    refused = agent.poll_response()
    assert refused.status_code == 400
    assert refused.json()["__type"] == "AccessDeniedException"
    assert f"is not authorized to perform: ecs:Poll on resource: {INSTANCE}" in refused.json()["message"]


def test_resources_are_cluster_task_and_definition_arns(server: EcsServer, cluster: str) -> None:
    ecs = server.client("ecs")
    other = unique("other")
    ecs.create_cluster(clusterName=other)
    family = unique("family")
    ecs.register_task_definition(family=family, containerDefinitions=CONTAINERS)
    cluster_arn = f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/{cluster}"
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "ecs:DescribeClusters", "Resource": cluster_arn},
            {
                "Effect": "Allow",
                "Action": "ecs:DescribeTaskDefinition",
                "Resource": f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/{family}:*",
            },
            {
                "Effect": "Allow",
                "Action": "ecs:DescribeTasks",
                "Resource": "*",
                "Condition": {"ArnEquals": {"ecs:cluster": cluster_arn}},
            },
        ],
    }
    limited = server.client("ecs", server.user(policy))
    assert limited.describe_clusters(clusters=[cluster])["clusters"][0]["clusterName"] == cluster
    with pytest.raises(ClientError, match=f"on resource: arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/{other}"):
        limited.describe_clusters(clusters=[other])
    assert limited.describe_task_definition(taskDefinition=family)["taskDefinition"]["revision"] == 1
    with pytest.raises(ClientError, match=f"task-definition/{FAMILY}x:"):
        limited.describe_task_definition(taskDefinition=f"{FAMILY}x")
    missing = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/{cluster}/{'0' * 32}"
    assert limited.describe_tasks(cluster=cluster, tasks=[missing])["failures"][0]["reason"] == "MISSING"
    with pytest.raises(ClientError, match="ecs:DescribeTasks"):
        limited.describe_tasks(cluster=other, tasks=["0" * 32])


def test_an_allowed_user_reaches_the_service(server: EcsServer) -> None:
    user = server.client("ecs", server.user(allow("ecs:CreateCluster", "ecs:ListClusters")))
    name = unique("mine")
    assert user.create_cluster(clusterName=name)["cluster"]["status"] == "ACTIVE"
    assert any(arn.endswith(f"/{name}") for arn in user.list_clusters()["clusterArns"])
