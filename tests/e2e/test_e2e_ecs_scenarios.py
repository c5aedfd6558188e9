"""Dockyard's ECS support verified end to end as issue #9 describes it: a real ``dockyard serve`` with IAM
auth (a short agent timeout), the real ``dockyard agent`` command as the node, the e2e tests' real dockerd,
and the operator's clients (``docker push``, the aws CLI). Containers wait on a test-controlled HTTP gate
(host network) instead of sleeping, so every observed state is reached by construction; every wait is a
poll with a deadline, never a timing assertion.

Which role pulled is proven by making exactly one of the candidate roles able to pull (and by the refusal's
IAM message, which names the role that was refused)."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from aws_profile import aws_cli_env
from identity.support import Creds, Server, allow, client, init_account, unique

from .agent_support import (
    EC2_PRINCIPAL,
    TASKS_PRINCIPAL,
    AgentProcess,
    Gate,
    Plane,
    agent_process,
    host_netns_released,  # noqa: F401  (a fixture)
    start_plane,
    task_containers,
)
from .shared import DockerDaemon
from .support import BIN_DIR, LocalImages, Manifest, Registry, Tool, run

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("host_netns_released")]
DEADLINE = 60.0  # generous: a wait, never a timing assertion
AGENT_TIMEOUT = "2"  # seconds without a poll before agentConnected is false
READER = ("AmazonEC2ContainerRegistryReadOnly",)
OTHER_ACCOUNT = "444455556666"


def wait_for(probe: Callable[[], Any], condition: Callable[[Any], bool], what: str) -> Any:
    """``probe()`` until ``condition`` holds of its answer."""
    deadline = time.monotonic() + DEADLINE
    while True:
        found = probe()
        if condition(found):
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}: {found}")
        time.sleep(0.2)


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory, images: LocalImages, skopeo: Tool) -> Iterator[Plane]:
    settings = {"DOCKYARD_ECS_AGENT_TIMEOUT_SECONDS": AGENT_TIMEOUT}
    started = start_plane(tmp_path_factory.mktemp("ecs-scenarios") / "data", images, skopeo, settings)
    try:
        yield started
    finally:
        started.server.stop()


@pytest.fixture(scope="module")
def gate() -> Iterator[Gate]:
    made = Gate()
    try:
        yield made
    finally:
        made.close()


@dataclass
class Node:
    """A cluster of the plane's account with one ``dockyard agent`` on the e2e dockerd."""

    plane: Plane
    cluster: str
    instance_role: str
    agent: AgentProcess

    def ecs(self) -> Any:
        return self.plane.client("ecs")

    def family(self, *containers: dict[str, Any], **definition: Any) -> str:
        name = unique("scenario")
        self.ecs().register_task_definition(family=name, containerDefinitions=list(containers), **definition)
        return name

    def run(self, family: str, launch_type: str = "EC2") -> str:
        started = self.ecs().run_task(cluster=self.cluster, taskDefinition=family, launchType=launch_type)
        assert started["failures"] == [], started
        return str(started["tasks"][0]["taskArn"])

    def describe(self, arn: str) -> dict[str, Any]:
        found: dict[str, Any] = self.ecs().describe_tasks(cluster=self.cluster, tasks=[arn])["tasks"][0]
        return found

    def until(self, arn: str, status: str) -> dict[str, Any]:
        found: dict[str, Any] = wait_for(
            lambda: self.describe(arn), lambda t: t["lastStatus"] == status, f"{status} of {arn}"
        )
        return found

    def instance(self) -> dict[str, Any]:
        arns = self.ecs().list_container_instances(cluster=self.cluster)["containerInstanceArns"]
        if not arns:
            return {}
        found: dict[str, Any] = self.ecs().describe_container_instances(
            cluster=self.cluster, containerInstances=arns
        )["containerInstances"][0]
        return found

    def connected(self) -> dict[str, Any]:
        found: dict[str, Any] = wait_for(
            self.instance, lambda i: i.get("agentConnected") is True, "the agent's registration"
        )
        return found


@pytest.fixture
def make_node(
    plane: Plane, dockerd: DockerDaemon, docker: Tool, tmp_path: Path
) -> Iterator[Callable[..., Node]]:
    """Start nodes: ``make_node(capacity="EC2", instance_inline=None, instance_managed=())``; each in its
    own cluster; stopped (and its containers removed) at the end of the test."""
    made: list[Node] = []

    def make(
        capacity: str = "EC2",
        instance_inline: dict[str, Any] | None = None,
        instance_managed: tuple[str, ...] = (),
        endpoint: str | None = None,
    ) -> Node:
        cluster = unique("scenario")
        plane.client("ecs").create_cluster(clusterName=cluster)
        role = plane.role(EC2_PRINCIPAL, managed=instance_managed, inline=instance_inline)
        agent = agent_process(
            plane,
            cluster=cluster,
            instance_role=role,
            capacity=capacity,
            docker_host=dockerd.env["DOCKER_HOST"],
            state_dir=tmp_path / cluster / "state",
            endpoint=endpoint,
        )
        node = Node(plane, cluster, role, agent)
        made.append(node)
        agent.start()
        node.connected()
        return node

    yield make
    for node in made:
        node.agent.stop()
        left = docker("ps", "-a", "-q", "--filter", f"label=com.amazonaws.ecs.cluster={node.cluster}")
        if left.stdout.split():
            docker("rm", "-f", *left.stdout.split())


def execution_role(plane: Plane, *, can_pull: bool = True) -> str:
    """A task execution role (trusting ecs-tasks) that may pull this account's images, or only log in."""
    if can_pull:
        return plane.role(TASKS_PRINCIPAL, managed=("service-role/AmazonECSTaskExecutionRolePolicy",))
    return plane.role(TASKS_PRINCIPAL, inline=allow("ecr:GetAuthorizationToken"))


def app(image: str, script: str, **extra: Any) -> dict[str, Any]:
    return {"name": "app", "image": image, "memory": 64, "command": ["sh", "-c", script], **extra}


def assert_exited(stopped: dict[str, Any], code: int) -> None:
    assert (stopped["stopCode"], stopped["stoppedReason"]) == (
        "EssentialContainerExited",
        "Essential container in task exited",
    ), stopped
    assert stopped["containers"][0]["exitCode"] == code


def assert_refused(node: Node, docker: Tool, arn: str, role: str) -> None:
    """The task failed to pull: the registry's IAM message naming ``role``, and no container started."""
    stopped = node.until(arn, "STOPPED")
    assert stopped["stopCode"] == "TaskFailedToStart", stopped
    reason = stopped["stoppedReason"]
    assert reason.startswith("CannotPullContainerError: "), reason
    assert "is not authorized to perform: ecr:BatchGetImage" in reason
    assert f":assumed-role/{role.rsplit('/', 1)[-1]}/" in reason
    assert task_containers(docker, arn) == []


# -- 1. the main flow with the operator's clients ------------------------------------------------------------


class AwsCli:
    """The aws CLI binary of the e2e tests, a profile with the server as ``endpoint_url``."""

    def __init__(self, home: Path, url: str, creds: Creds) -> None:
        self.home = home
        self.env = aws_cli_env(home, url, creds.key, creds.secret)

    def text(self, *args: str) -> str:
        return run([BIN_DIR / "aws", *args], env=self.env).stdout

    def __call__(self, *args: str) -> Any:
        return json.loads(self.text(*args) or "null")

    def register(self, definition: dict[str, Any]) -> None:
        """``aws ecs register-task-definition --cli-input-json``, as an operator keeps one in a file."""
        path = self.home / f"{definition['family']}.json"
        path.write_text(json.dumps(definition))
        self("ecs", "register-task-definition", "--cli-input-json", f"file://{path}")

    def task(self, cluster: str, arn: str) -> dict[str, Any]:
        found: dict[str, Any] = self("ecs", "describe-tasks", "--cluster", cluster, "--tasks", arn)["tasks"][
            0
        ]
        return found


def docker_push(docker: Tool, aws: AwsCli, registry: Registry, target: str) -> None:
    """busybox (the e2e fixtures' image, pulled from the e2e registry) tagged and pushed by docker."""
    source = registry.ref("e2e/base", "latest")
    docker("pull", source)
    docker("tag", source, target)
    password = aws.text("ecr", "get-login-password")
    docker("login", "-u", "AWS", "--password-stdin", target.split("/", 1)[0], input_text=password)
    docker("push", target)


def test_docker_push_then_aws_cli_runs_a_task_with_its_logs(
    make_node: Callable[..., Node],
    docker: Tool,
    registry: Registry,
    gate: Gate,
    tmp_path: Path,
    seeded: dict[str, Manifest],  # e2e/base:latest, the image docker pushes
) -> None:
    node = make_node(instance_managed=("service-role/AmazonEC2ContainerServiceforEC2Role",))
    plane = node.plane
    aws = AwsCli(tmp_path / "aws", plane.url, plane.root)
    aws("ecr", "create-repository", "--repository-name", "scenario/cli")
    image = f"127.0.0.1:{plane.server.port}/scenario/cli:v1"
    docker_push(docker, aws, registry, image)
    aws("logs", "create-log-group", "--log-group-name", "/ecs/scenario")
    family = unique("cli")
    logging = {
        "logDriver": "awslogs",
        "options": {"awslogs-group": "/ecs/scenario", "awslogs-stream-prefix": "cli"},
    }
    container = app(image, gate.script(family, "echo hello-from-cli"), logConfiguration=logging)
    aws.register(
        {"family": family, "executionRoleArn": execution_role(plane), "containerDefinitions": [container]}
    )
    started = aws(
        "ecs", "run-task", "--cluster", node.cluster, "--task-definition", family, "--launch-type", "EC2"
    )
    arn = started["tasks"][0]["taskArn"]

    def described() -> dict[str, Any]:
        return aws.task(node.cluster, arn)

    wait_for(described, lambda t: t["lastStatus"] == "RUNNING", "RUNNING")
    gate.open(family)
    stopped = wait_for(described, lambda t: t["lastStatus"] == "STOPPED", "STOPPED")
    assert_exited(stopped, 0)
    stream = f"cli/app/{arn.rsplit('/', 1)[-1]}"
    events = aws("logs", "get-log-events", "--log-group-name", "/ecs/scenario", "--log-stream-name", stream)
    assert [e["message"] for e in events["events"]] == ["hello-from-cli"]


# -- 2. IAM decides the instance role's pull, and its changes are seen at once -------------------------------


def test_an_instance_role_without_batch_get_image_cannot_pull_until_allowed(
    make_node: Callable[..., Node], docker: Tool
) -> None:
    node = make_node(instance_inline=allow("ecr:GetAuthorizationToken"))
    family = node.family(app(node.plane.image, "echo pulled"))  # no execution role: the instance role pulls
    refused = node.run(family)
    assert_refused(node, docker, refused, node.instance_role)

    node.plane.client("iam").attach_role_policy(
        RoleName=node.instance_role.rsplit("/", 1)[-1],
        PolicyArn=f"arn:aws:iam::aws:policy/{READER[0]}",
    )
    allowed = node.run(family)
    assert_exited(node.until(allowed, "STOPPED"), 0)
    assert node.describe(allowed)["containers"][0]["imageDigest"] == node.plane.digest


# -- 3. which role pulls -------------------------------------------------------------------------------------


def test_fargate_and_ec2_tasks_pull_with_the_execution_role(
    make_node: Callable[..., Node], docker: Tool
) -> None:
    fargate = make_node(capacity="FARGATE", instance_inline=allow("ecr:GetAuthorizationToken"))
    plane = fargate.plane
    family = fargate.family(
        app(plane.image, "echo fargate"),
        requiresCompatibilities=["FARGATE"],
        networkMode="awsvpc",
        cpu="256",
        memory="512",
        executionRoleArn=execution_role(plane),
    )
    assert_exited(fargate.until(fargate.run(family, "FARGATE"), "STOPPED"), 0)

    ec2 = make_node(instance_inline=allow("ecr:GetAuthorizationToken"))
    with_role = ec2.family(app(plane.image, "echo ec2"), executionRoleArn=execution_role(plane))
    assert_exited(ec2.until(ec2.run(with_role), "STOPPED"), 0)
    refusing = execution_role(plane, can_pull=False)  # the execution role, not the instance role, is asked
    denied = ec2.run(ec2.family(app(plane.image, "echo never"), executionRoleArn=refusing))
    assert_refused(ec2, docker, denied, refusing)


def test_an_ec2_task_without_execution_role_pulls_with_the_instance_role(
    make_node: Callable[..., Node], docker: Tool
) -> None:
    node = make_node(instance_managed=READER)
    family = node.family(app(node.plane.image, "echo instance"))
    assert_exited(node.until(node.run(family), "STOPPED"), 0)
    unable = make_node(instance_inline=allow("ecr:GetAuthorizationToken"))
    refused = unable.run(unable.family(app(node.plane.image, "echo never")))
    assert_refused(unable, docker, refused, unable.instance_role)


# -- 4. another account's image through its repository policy ------------------------------------------------


@pytest.fixture
def other_account(plane: Plane) -> Iterator[tuple[Creds, Server]]:
    """A second account (``dockyard admin create-account``) and a replica of the server on the same data
    directory whose default account it is: the sandbox resolves no ``<account>.dkr.<domain>`` name, so
    this replica's ``127.0.0.1:<port>`` is how dockerd addresses that account's registry."""
    creds = init_account(plane.server.data_dir, OTHER_ACCOUNT, command="create-account")
    settings = {
        "DOCKYARD_DEFAULT_ACCOUNT": OTHER_ACCOUNT,
        "DOCKYARD_ECS_AGENT_TIMEOUT_SECONDS": AGENT_TIMEOUT,
    }
    replica = Server(plane.server.data_dir, env={"DOCKYARD_AUTH": "iam", **settings})
    try:
        yield creds, replica
    finally:
        replica.stop()


def test_a_task_pulls_another_accounts_image_through_its_repository_policy(
    make_node: Callable[..., Node],
    plane: Plane,
    other_account: tuple[Creds, Server],
    skopeo: Tool,
    images: LocalImages,
    docker: Tool,
) -> None:
    other, replica = other_account
    ecr = client(replica.url, "ecr", other)
    ecr.create_repository(repositoryName="shared/busybox")
    token = ecr.get_authorization_token()["authorizationData"][0]["authorizationToken"]
    password = base64.b64decode(token).decode().partition(":")[2]
    image = f"127.0.0.1:{replica.port}/shared/busybox:v1"
    skopeo(
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        f"AWS:{password}",
        images.ref("busybox"),
        f"docker://{image}",
    )

    node = make_node(endpoint=replica.url)  # its ECS calls reach the same cluster through the replica
    execution = execution_role(plane)  # may pull its own account's images only
    family = node.family(app(image, "echo cross-account"), executionRoleArn=execution)
    assert_refused(node, docker, node.run(family), execution)  # no policy of the other account yet

    statement = {
        "Effect": "Allow",
        "Principal": {"AWS": execution},
        "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
    }
    policy = json.dumps({"Version": "2012-10-17", "Statement": [statement]})
    ecr.set_repository_policy(repositoryName="shared/busybox", policyText=policy)
    assert_exited(node.until(node.run(family), "STOPPED"), 0)


# -- 5. the agent killed mid-task ----------------------------------------------------------------------------


def test_a_killed_agent_disconnects_then_reconciles_its_running_task(
    make_node: Callable[..., Node], docker: Tool, gate: Gate
) -> None:
    node = make_node(instance_managed=READER)
    name = unique("survivor")
    family = node.family(app(node.plane.image, gate.script(name, "echo survived; exit 3")))
    arn = node.run(family)
    node.until(arn, "RUNNING")
    instance_arn = node.instance()["containerInstanceArn"]
    node.agent.kill()
    wait_for(node.instance, lambda i: i["agentConnected"] is False, "agentConnected false")
    [survivor] = task_containers(docker, arn)
    assert docker("inspect", "-f", "{{.State.Running}}", survivor).stdout.strip() == "true"
    assert node.describe(arn)["lastStatus"] == "RUNNING"  # its last known state

    node.agent.start()
    assert node.connected()["containerInstanceArn"] == instance_arn  # the same container instance
    gate.open(name)
    assert_exited(node.until(arn, "STOPPED"), 3)
    fresh = node.run(node.family(app(node.plane.image, "echo after")))
    assert_exited(node.until(fresh, "STOPPED"), 0)
