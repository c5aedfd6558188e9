"""Who may use CloudWatch Logs: IAM users with scoped policies, and roles with the two AWS managed policies
ECS's roles use (AmazonECSTaskExecutionRolePolicy, AmazonEC2ContainerServiceforEC2Role), through STS
sessions as the node agent will use them."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from identity.support import Creds, allow, error_of, new_user, unique

from .conftest import REGION, Plane

EXECUTION_POLICY = "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
INSTANCE_POLICY = "arn:aws:iam::aws:policy/service-role/AmazonEC2ContainerServiceforEC2Role"


def event(message: str) -> list[dict[str, Any]]:
    return [{"timestamp": int(time.time() * 1000), "message": message}]


def new_group(plane: Plane) -> str:
    name = f"/ecs/{uuid.uuid4().hex[:10]}"
    plane.logs().create_log_group(logGroupName=name)
    return name


def denied(call: Any, **params: Any) -> str:
    with pytest.raises(ClientError) as caught:
        call(**params)
    assert error_of(caught) == ("AccessDeniedException", 400)
    message: str = caught.value.response["Error"]["Message"]
    return message


def role_with(plane: Plane, policy_arn: str) -> Creds:
    """A role with ``policy_arn`` attached, assumed by a user of the account: its session's credentials."""
    iam = plane.iam()
    trust = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": plane.account}, "Action": "sts:AssumeRole"}]}  # fmt: skip
    name = unique("role")
    role_arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    iam.attach_role_policy(RoleName=name, PolicyArn=policy_arn)
    _, user = new_user(iam, policy=allow("sts:AssumeRole", resource=role_arn))
    assumed = plane.client("sts", user).assume_role(RoleArn=role_arn, RoleSessionName="task")
    return Creds.of(assumed["Credentials"])


def test_a_writer_scoped_to_one_group_writes_there_and_nowhere_else(plane: Plane) -> None:
    mine, other = new_group(plane), new_group(plane)
    scope = f"arn:aws:logs:{REGION}:{plane.account}:log-group:{mine}:*"
    name, creds = new_user(
        plane.iam(), policy=allow("logs:CreateLogStream", "logs:PutLogEvents", resource=scope)
    )
    writer = plane.logs(creds)
    writer.create_log_stream(logGroupName=mine, logStreamName="app/1")
    writer.put_log_events(logGroupName=mine, logStreamName="app/1", logEvents=event("hello"))
    stored = plane.logs().get_log_events(logGroupName=mine, logStreamName="app/1")["events"]
    assert [e["message"] for e in stored] == ["hello"]
    message = denied(writer.create_log_stream, logGroupName=other, logStreamName="app/1")
    assert message == (
        f"User: arn:aws:iam::{plane.account}:user/{name} is not authorized to perform: logs:CreateLogStream "
        f"on resource: arn:aws:logs:{REGION}:{plane.account}:log-group:{other}:log-stream:app/1 "
        "because no identity-based policy allows the logs:CreateLogStream action"
    )
    plane.logs().create_log_stream(logGroupName=other, logStreamName="app/1")
    denied(writer.put_log_events, logGroupName=other, logStreamName="app/1", logEvents=event("sneaky"))
    assert plane.logs().get_log_events(logGroupName=other, logStreamName="app/1")["events"] == []
    denied(writer.get_log_events, logGroupName=mine, logStreamName="app/1")
    denied(writer.filter_log_events, logGroupName=mine)
    denied(writer.describe_log_groups)
    denied(writer.create_log_group, logGroupName=mine + "/new")


def test_a_reader_is_authorised_per_group(plane: Plane) -> None:
    mine, other = new_group(plane), new_group(plane)
    scope = f"arn:aws:logs:{REGION}:{plane.account}:log-group:{mine}:*"
    _, creds = new_user(
        plane.iam(), policy=allow("logs:GetLogEvents", "logs:FilterLogEvents", resource=scope)
    )
    plane.logs().create_log_stream(logGroupName=mine, logStreamName="s")
    reader = plane.logs(creds)
    assert reader.get_log_events(logGroupName=mine, logStreamName="s")["events"] == []
    assert reader.filter_log_events(logGroupName=mine)["events"] == []
    denied(reader.filter_log_events, logGroupName=other)
    denied(reader.put_log_events, logGroupName=mine, logStreamName="s", logEvents=event("no"))


def test_tags_on_a_new_group_also_need_tag_resource(plane: Plane) -> None:
    _, creds = new_user(plane.iam(), policy=allow("logs:CreateLogGroup"))
    logs = plane.logs(creds)
    name = f"/tagged/{uuid.uuid4().hex[:8]}"
    denied(logs.create_log_group, logGroupName=name, tags={"team": "a"})
    logs.create_log_group(logGroupName=name)


def test_the_managed_policies_are_aws_own(plane: Plane) -> None:
    iam = plane.iam()
    builtin = {
        p["PolicyName"]: p for p in iam.list_policies(Scope="AWS", PathPrefix="/service-role/")["Policies"]
    }
    assert builtin["AmazonECSTaskExecutionRolePolicy"]["Arn"] == EXECUTION_POLICY
    assert builtin["AmazonEC2ContainerServiceforEC2Role"]["Arn"] == INSTANCE_POLICY

    def statements(arn: str) -> list[dict[str, Any]]:
        version = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
        document = iam.get_policy_version(PolicyArn=arn, VersionId=version)["PolicyVersion"]["Document"]
        return list(document["Statement"])

    assert statements(EXECUTION_POLICY) == [
        {
            "Effect": "Allow",
            "Action": [
                "ecr:GetAuthorizationToken",
                "ecr:BatchCheckLayerAvailability",
                "ecr:GetDownloadUrlForLayer",
                "ecr:BatchGetImage",
                "logs:CreateLogStream",
                "logs:PutLogEvents",
            ],
            "Resource": "*",
        }
    ]
    instance = statements(INSTANCE_POLICY)
    assert instance[0]["Action"] == [
        "ec2:DescribeTags",
        "ecs:CreateCluster",
        "ecs:DeregisterContainerInstance",
        "ecs:DiscoverPollEndpoint",
        "ecs:Poll",
        "ecs:RegisterContainerInstance",
        "ecs:StartTelemetrySession",
        "ecs:UpdateContainerInstancesState",
        "ecs:Submit*",
        "ecr:GetAuthorizationToken",
        "ecr:BatchCheckLayerAvailability",
        "ecr:GetDownloadUrlForLayer",
        "ecr:BatchGetImage",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
    ]
    assert [s["Action"] for s in instance[1:]] == ["ecs:TagResource", ["ecs:ListTagsForResource"]]


def test_a_task_execution_role_pulls_and_ships_logs_and_nothing_more(plane: Plane) -> None:
    creds = role_with(plane, EXECUTION_POLICY)
    ecr, logs = plane.client("ecr", creds), plane.logs(creds)
    assert ecr.get_authorization_token()["authorizationData"]
    group = new_group(plane)
    logs.create_log_stream(logGroupName=group, logStreamName="ecs/web/1")
    logs.put_log_events(logGroupName=group, logStreamName="ecs/web/1", logEvents=event("from a task"))
    stored = plane.logs().get_log_events(logGroupName=group, logStreamName="ecs/web/1")["events"]
    assert [e["message"] for e in stored] == ["from a task"]
    message = denied(ecr.put_image, repositoryName="app", imageManifest="{}")
    assert "assumed-role/" in message
    assert "ecr:PutImage" in message
    denied(logs.get_log_events, logGroupName=group, logStreamName="ecs/web/1")
    denied(logs.create_log_group, logGroupName=group + "/x")


def test_an_instance_role_may_ship_logs_but_not_read_them(plane: Plane) -> None:
    creds = role_with(plane, INSTANCE_POLICY)
    logs = plane.logs(creds)
    assert plane.client("ecr", creds).get_authorization_token()["authorizationData"]
    group = new_group(plane)
    logs.create_log_stream(logGroupName=group, logStreamName="agent")
    logs.put_log_events(logGroupName=group, logStreamName="agent", logEvents=event("from the agent"))
    denied(logs.filter_log_events, logGroupName=group)
    denied(logs.delete_log_group, logGroupName=group)
