"""The node agent against the real server side, end to end: a ``dockyard serve`` with IAM auth (its ECS
control plane, the long poll, STS minting the roles' credentials for the service principals, the registry
and Logs), the agent with bootstrap credentials of a user allowed the agent actions, and the e2e tests'
real dockerd. Tasks are started and stopped with ECS's own API and watched with DescribeTasks."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3  # type: ignore[import-untyped]
import pytest

from agent.support import DEADLINE
from dockyard.agent.loop import Agent, AgentConfig, running_agent
from identity.support import allow, unique

from .agent_support import (
    AGENT_ACTIONS,
    EC2_PRINCIPAL,
    TASKS_PRINCIPAL,
    Plane,
    host_netns_released,  # noqa: F401  (a fixture)
    start_plane,
)
from .shared import DockerDaemon
from .support import LocalImages, Tool

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("host_netns_released")]
FETCH_CREDENTIALS = (  # what an SDK in the container does, with busybox's wget
    'wget -q -O- --header "Authorization: $AWS_CONTAINER_AUTHORIZATION_TOKEN" '
    '"$AWS_CONTAINER_CREDENTIALS_FULL_URI"'
)


@dataclass
class Node:
    """A cluster with this node's agent running in the test's event loop."""

    plane: Plane
    cluster: str
    agent: Agent
    execution_role: str

    def ecs(self) -> Any:
        return self.plane.client("ecs")

    def run(self, family: str) -> str:
        started = self.ecs().run_task(cluster=self.cluster, taskDefinition=family, launchType="EC2")
        assert started["failures"] == [], started
        return str(started["tasks"][0]["taskArn"])

    def describe(self, arn: str) -> dict[str, Any]:
        found: dict[str, Any] = self.ecs().describe_tasks(cluster=self.cluster, tasks=[arn])["tasks"][0]
        return found

    async def until(self, arn: str, condition: Callable[[dict[str, Any]], bool], what: str) -> dict[str, Any]:
        """Describe the task until ``condition`` holds (boto3 in a thread: the agent shares this loop)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + DEADLINE
        while True:
            found = await asyncio.to_thread(self.describe, arn)
            if condition(found):
                return found
            if loop.time() > deadline:
                raise AssertionError(f"timed out waiting for {what}: {found}")
            await asyncio.sleep(0.1)

    def family(
        self, *containers: dict[str, Any], task_role: str | None = None, execution: str | None = None
    ) -> str:
        name = unique("agent-e2e")
        definition: dict[str, Any] = {"family": name, "containerDefinitions": list(containers)}
        definition["executionRoleArn"] = execution or self.execution_role
        if task_role is not None:
            definition["taskRoleArn"] = task_role
        self.ecs().register_task_definition(**definition)
        return name


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory, images: LocalImages, skopeo: Tool) -> Iterator[Plane]:
    started = start_plane(tmp_path_factory.mktemp("agent-ecs") / "data", images, skopeo)
    try:
        yield started
    finally:
        started.server.stop()


@pytest.fixture
async def node(plane: Plane, dockerd: DockerDaemon, tmp_path: Path) -> AsyncIterator[Node]:
    cluster = unique("agent")
    plane.client("ecs").create_cluster(clusterName=cluster)
    instance_role = plane.role(EC2_PRINCIPAL, managed=("service-role/AmazonEC2ContainerServiceforEC2Role",))
    policy = allow(*AGENT_ACTIONS)
    policy["Statement"].append({"Effect": "Allow", "Action": "iam:PassRole", "Resource": instance_role})
    bootstrap = plane.user(policy)
    session = boto3.session.Session(
        aws_access_key_id=bootstrap.key, aws_secret_access_key=bootstrap.secret, region_name="us-east-1"
    )
    config = AgentConfig(
        cluster=cluster,
        endpoint=plane.url,
        region="us-east-1",
        instance_role_arn=instance_role,
        capacity="EC2",
        cpu=2048,
        memory=2048,
        state_dir=tmp_path / "state",
        docker_host=dockerd.env["DOCKER_HOST"],
        imds_port=0,
        credentials_port=0,
        wait_seconds=2,
        log_flush_seconds=0.05,
    )
    execution_role = plane.role(TASKS_PRINCIPAL, managed=("service-role/AmazonECSTaskExecutionRolePolicy",))
    async with running_agent(config, session) as agent:
        await agent.register()
        await agent.adopt_existing()
        polling = asyncio.create_task(agent.run())
        try:
            yield Node(plane, cluster, agent, execution_role)
        finally:
            polling.cancel()
            await asyncio.gather(polling, return_exceptions=True)


async def test_a_task_runs_on_the_node_with_its_roles_and_logs(node: Node) -> None:
    plane = node.plane
    plane.client("logs").create_log_group(logGroupName="/ecs/agent-e2e")  # the execution role may not
    task_role = plane.role(TASKS_PRINCIPAL, inline=allow("ecr:DescribeRepositories"))
    logging = {
        "logDriver": "awslogs",
        "options": {"awslogs-group": "/ecs/agent-e2e", "awslogs-stream-prefix": "e2e"},
    }
    script = f"echo hello; {FETCH_CREDENTIALS}; echo; exit 4"
    app = {
        "name": "app",
        "image": plane.image,
        "memory": 64,
        "command": ["sh", "-c", script],
        "logConfiguration": logging,
    }
    arn = node.run(node.family(app, task_role=task_role))

    stopped = await node.until(arn, lambda t: t["lastStatus"] == "STOPPED", "the task's end")
    assert (stopped["stopCode"], stopped["stoppedReason"]) == (
        "EssentialContainerExited",
        "Essential container in task exited",
    )
    [container] = stopped["containers"]
    assert (container["exitCode"], container["imageDigest"]) == (4, plane.digest)
    assert {"pullStartedAt", "pullStoppedAt", "startedAt", "stoppedAt"} <= set(stopped)

    task_id = arn.rsplit("/", 1)[-1]
    events = plane.client("logs").get_log_events(
        logGroupName="/ecs/agent-e2e", logStreamName=f"e2e/app/{task_id}"
    )["events"]
    assert events[0]["message"] == "hello"
    served = json.loads(events[1]["message"])  # the container read its task role over 127.0.0.1
    assert served["RoleArn"] == task_role
    creds = {
        "aws_access_key_id": served["AccessKeyId"],
        "aws_secret_access_key": served["SecretAccessKey"],
        "aws_session_token": served["Token"],
    }
    identity = boto3.client(
        "sts", endpoint_url=plane.url, region_name="us-east-1", **creds
    ).get_caller_identity()
    assert identity["Arn"].endswith(f":assumed-role/{task_role.rsplit('/', 1)[-1]}/{task_id}")

    [instance] = plane.client("ecs").describe_container_instances(
        cluster=node.cluster, containerInstances=[node.agent.container_instance_arn]
    )["containerInstances"]
    assert instance["agentConnected"] is True


async def test_stop_task_stops_the_container(node: Node) -> None:
    script = "trap 'exit 0' TERM; echo up; while true; do sleep 0.1; done"
    app = {
        "name": "app",
        "image": node.plane.image,
        "memory": 64,
        "command": ["sh", "-c", script],
        "stopTimeout": 10,
    }
    arn = node.run(node.family(app))
    await node.until(arn, lambda t: t["lastStatus"] == "RUNNING", "RUNNING")
    await asyncio.to_thread(node.ecs().stop_task, cluster=node.cluster, task=arn, reason="enough")
    stopped = await node.until(arn, lambda t: t["lastStatus"] == "STOPPED", "the stop")
    assert (stopped["stopCode"], stopped["stoppedReason"]) == ("UserInitiated", "enough")
    assert stopped["containers"][0]["exitCode"] == 0


async def test_a_refused_pull_fails_the_task_with_the_registry_message(node: Node) -> None:
    token_only = node.plane.role(TASKS_PRINCIPAL, inline=allow("ecr:GetAuthorizationToken"))
    app = {"name": "app", "image": node.plane.image, "memory": 64}
    arn = node.run(node.family(app, execution=token_only))
    stopped = await node.until(arn, lambda t: t["lastStatus"] == "STOPPED", "the refusal")
    assert stopped["stopCode"] == "TaskFailedToStart"
    assert stopped["stoppedReason"].startswith("CannotPullContainerError: ")
    assert "is not authorized to perform: ecr:BatchGetImage" in stopped["stoppedReason"]
