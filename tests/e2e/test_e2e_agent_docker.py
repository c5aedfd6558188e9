"""The node agent on the real Docker Engine of the e2e tests (tests/e2e/shared.py): its Engine API client
against dockerd, and whole tasks pulled from a real ``dockyard serve`` with IAM auth on (ECR tokens from
role credentials the real STS issued, a real registry refusal), while the ECS side and Logs are the
in-test fake server of tests/agent (the server side of the contract is another module's)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import boto3  # type: ignore[import-untyped]
import botocore.session  # type: ignore[import-untyped]
import pytest

from agent.fakes import ACCOUNT as FAKE_ACCOUNT
from agent.fakes import FakeServer, role_credentials
from agent.support import container, task_arn, task_entry, until
from dockyard.agent.docker import DockerClient, ImageRef, PullError
from dockyard.agent.loop import Agent, AgentConfig, running_agent
from dockyard.agent.model import CLUSTER_LABEL, TASK_ARN_LABEL
from dockyard.agent.serving import LoopbackServer
from identity.support import allow, unique

from .agent_support import (
    ACCOUNT,
    Plane,
    host_netns_released,  # noqa: F401  (a fixture)
    start_plane,
)
from .shared import DockerDaemon
from .support import LocalImages, Manifest, Registry, Tool, dockyard_executable, free_port, hermetic_environ

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("host_netns_released")]
ACCOUNT_ROOT = {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}
READER = ("AmazonEC2ContainerRegistryReadOnly",)
LABELS = {CLUSTER_LABEL: "agent-e2e"}


# -- a registry with IAM auth, and the fake ECS server ------------------------------------------------


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory, images: LocalImages, skopeo: Tool) -> Iterator[Plane]:
    started = start_plane(tmp_path_factory.mktemp("agent-registry") / "data", images, skopeo)
    try:
        yield started
    finally:
        started.server.stop()


@pytest.fixture
async def fake_server() -> AsyncIterator[FakeServer]:
    server = FakeServer()
    http = LoopbackServer(server.app(), 0)
    server.url = http.url
    await http.start()
    try:
        yield server
    finally:
        await http.stop()


@pytest.fixture
async def docker_client(dockerd: DockerDaemon) -> AsyncIterator[DockerClient]:
    made = DockerClient(dockerd.env["DOCKER_HOST"])
    await made.negotiate()
    try:
        yield made
    finally:
        for found in await made.list_containers(LABELS):
            await made.remove(found)
        await made.close()


# -- the Engine API client -----------------------------------------------------------------------------


async def test_engine_api_pull_run_logs_and_labels(
    docker_client: DockerClient, registry: Registry, seeded: dict[str, Manifest]
) -> None:
    assert docker_client.api_version is not None
    ref = ImageRef.parse(registry.ref("e2e/base", "latest"))
    await docker_client.pull(ref)
    assert await docker_client.image_digest(ref) == seeded["latest"].digest
    body = {
        "Image": str(ref),
        "Cmd": ["sh", "-c", "echo out; echo err >&2; exit 3"],
        "Labels": {**LABELS, TASK_ARN_LABEL: "arn:aws:ecs:us-east-1:1:task/agent-e2e/a"},
        "HostConfig": {"NetworkMode": "host", "Memory": 64 * 1024 * 1024, "CpuShares": 2},
    }
    created = await docker_client.create_container(unique("agent-e2e"), body)
    await docker_client.start(created)
    assert await docker_client.wait(created) == 3
    lines = [line async for line in docker_client.logs(created, follow=False)]
    assert sorted((line.stream, line.text) for line in lines) == [("stderr", "err"), ("stdout", "out")]
    assert all(line.time is not None for line in lines)
    assert await docker_client.list_containers(
        {**LABELS, TASK_ARN_LABEL: "arn:aws:ecs:us-east-1:1:task/agent-e2e/a"}
    ) == [created]
    assert await docker_client.list_containers({**LABELS, TASK_ARN_LABEL: "another"}) == []
    info = await docker_client.inspect(created)
    assert (info.running, info.exit_code, info.labels[TASK_ARN_LABEL]) == (
        False,
        3,
        body["Labels"][TASK_ARN_LABEL],
    )
    await docker_client.remove(created)
    assert await docker_client.list_containers(LABELS) == []


async def test_engine_api_stop_and_follow(
    docker_client: DockerClient, registry: Registry, seeded: dict[str, Manifest]
) -> None:
    ref = ImageRef.parse(registry.ref("e2e/base", "latest"))
    await docker_client.pull(ref)
    script = "trap 'echo bye; exit 0' TERM; echo up; while true; do sleep 0.1; done"
    body = {
        "Image": str(ref),
        "Cmd": ["sh", "-c", script],
        "Labels": LABELS,
        "HostConfig": {"NetworkMode": "host"},
    }
    created = await docker_client.create_container(unique("agent-e2e"), body)
    await docker_client.start(created)
    followed: list[str] = []

    async def follow() -> None:
        async for line in docker_client.logs(created, follow=True):
            followed.append(line.text)

    follower = asyncio.create_task(follow())
    await until(lambda: followed == ["up"], "the first line")
    assert (await docker_client.inspect(created)).running
    await docker_client.stop(created, 10)
    assert await docker_client.wait(created) == 0
    await follower  # a followed stream ends when the container stops
    assert followed == ["up", "bye"]
    await docker_client.stop(created, 1)  # stopping a stopped container is no error


async def test_engine_api_pull_error_carries_the_registry_message(
    docker_client: DockerClient, registry: Registry, seeded: dict[str, Manifest]
) -> None:
    with pytest.raises(PullError) as caught:
        await docker_client.pull(ImageRef.parse(registry.ref("e2e/base", "no-such-tag")))
    assert "manifest unknown" in caught.value.message.lower()


# -- whole tasks -----------------------------------------------------------------------------------------


def agent_config(server: FakeServer, registry: Plane, dockerd: DockerDaemon, state_dir: Path) -> AgentConfig:
    return AgentConfig(
        cluster="agent-e2e",
        endpoint=server.url,
        ecr_endpoint=registry.url,
        region="us-east-1",
        instance_role_arn=f"arn:aws:iam::{FAKE_ACCOUNT}:role/node",
        capacity="EC2",
        cpu=1024,
        memory=1024,
        state_dir=state_dir,
        docker_host=dockerd.env["DOCKER_HOST"],
        imds_port=0,
        credentials_port=0,
        wait_seconds=1,
        log_flush_seconds=0.05,
    )


def bootstrap() -> Any:
    return boto3.session.Session(
        aws_access_key_id="AKIDBOOTSTRAP", aws_secret_access_key="x", region_name="us-east-1"
    )


def submitted(server: FakeServer, status: str) -> list[dict[str, Any]]:
    return [b for b in server.called("SubmitTaskStateChange") if b["status"] == status]


async def poll_until(agent: Agent, condition: Any, what: str) -> None:
    async def polling() -> None:
        while True:
            await agent.poll_once()

    poller = asyncio.create_task(polling())
    try:
        await until(condition, what)
    finally:
        poller.cancel()
        await asyncio.gather(poller, return_exceptions=True)


async def test_a_task_runs_with_its_roles_and_ships_its_logs(
    fake_server: FakeServer, plane: Plane, dockerd: DockerDaemon, tmp_path: Path
) -> None:
    fetch = (  # what an SDK in the container does, with busybox's wget
        'wget -q -O- --header "Authorization: $AWS_CONTAINER_AUTHORIZATION_TOKEN" '
        '"$AWS_CONTAINER_CREDENTIALS_FULL_URI"'
    )
    logging = {
        "logDriver": "awslogs",
        "options": {
            "awslogs-group": "/ecs/e2e",
            "awslogs-stream-prefix": "e2e",
            "awslogs-create-group": "true",
        },
    }
    definition = container(
        "app",
        plane.image,
        command=["sh", "-c", f"echo hello; {fetch}; echo; exit 4"],
        logConfiguration=logging,
        memory=64,
    )
    entry = task_entry("e2e-run", [definition], task_role=True)
    entry["executionRoleCredentials"] = plane.assumed(plane.role(ACCOUNT_ROOT, managed=READER))
    async with running_agent(agent_config(fake_server, plane, dockerd, tmp_path), bootstrap()) as agent:
        await agent.register()
        await fake_server.answers.put(
            {"instanceCredentials": role_credentials("node", "AKIDNODE"), "tasks": [entry]}
        )
        await poll_until(agent, lambda: submitted(fake_server, "STOPPED"), "the task's end")
        await agent.wait_idle()

    [running] = submitted(fake_server, "RUNNING")
    assert running["containers"][0]["imageDigest"] == plane.digest
    [stopped] = submitted(fake_server, "STOPPED")
    assert stopped["reason"] == "Essential container in task exited"
    assert stopped["containers"][0]["exitCode"] == 4
    # Whether a poll lands while this short task runs is a matter of timing; those that did name its image
    # (tests/agent/test_loop.py checks the report itself).
    digests = [
        t["imageDigests"] for poll in fake_server.polls for t in poll["tasks"] if t["lastStatus"] == "RUNNING"
    ]
    assert all(d == [plane.digest] for d in digests)
    events = fake_server.events[("/ecs/e2e", "e2e/app/e2e-run")]
    assert events[0]["message"] == "hello"
    served = json.loads(events[1]["message"])  # the container read its task role over 127.0.0.1
    assert (served["AccessKeyId"], served["Token"]) == ("AKIDTASK", "token-of-AKIDTASK")
    assert set(fake_server.keys("PutLogEvents")) == {entry["executionRoleCredentials"]["AccessKeyId"]}


async def test_a_refused_pull_stops_the_task_with_the_registry_message(
    fake_server: FakeServer, plane: Plane, dockerd: DockerDaemon, tmp_path: Path
) -> None:
    entry = task_entry("e2e-denied", [container("app", plane.image)])
    token_only = plane.role(ACCOUNT_ROOT, inline=allow("ecr:GetAuthorizationToken"))
    entry["executionRoleCredentials"] = plane.assumed(token_only)
    async with running_agent(agent_config(fake_server, plane, dockerd, tmp_path), bootstrap()) as agent:
        await agent.register()
        await fake_server.answers.put({"tasks": [entry]})
        await poll_until(agent, lambda: submitted(fake_server, "STOPPED"), "the refusal")
        await agent.wait_idle()
    [stopped] = submitted(fake_server, "STOPPED")
    assert stopped["reason"].startswith("CannotPullContainerError: ")
    assert "is not authorized to perform: ecr:BatchGetImage" in stopped["reason"]
    assert submitted(fake_server, "RUNNING") == []


async def test_a_restarted_agent_adopts_its_running_task(
    fake_server: FakeServer,
    plane: Plane,
    dockerd: DockerDaemon,
    tmp_path: Path,
    docker_client: DockerClient,
) -> None:
    script = "trap 'exit 0' TERM; echo up; while true; do sleep 0.1; done"
    entry = task_entry(
        "e2e-adopt", [container("app", plane.image, command=["sh", "-c", script], stopTimeout=5)]
    )
    entry["executionRoleCredentials"] = plane.assumed(plane.role(ACCOUNT_ROOT, managed=READER))
    config = agent_config(fake_server, plane, dockerd, tmp_path)
    async with running_agent(config, bootstrap()) as first:
        arn = await first.register()
        await fake_server.answers.put({"tasks": [entry]})
        await poll_until(first, lambda: submitted(fake_server, "RUNNING"), "RUNNING")
    [left] = await docker_client.list_containers({**LABELS, TASK_ARN_LABEL: task_arn("e2e-adopt")})
    assert (await docker_client.inspect(left)).running  # the agent stopped; the task did not

    async with running_agent(config, bootstrap()) as second:
        assert await second.register() == arn  # the same container instance
        await second.adopt_existing()
        await second.poll_once()
        assert fake_server.polls[-1]["tasks"] == [
            {"taskArn": task_arn("e2e-adopt"), "lastStatus": "RUNNING", "imageDigests": [plane.digest]}
        ]
        await fake_server.answers.put({"tasks": [{**entry, "desiredStatus": "STOPPED"}]})
        await poll_until(second, lambda: submitted(fake_server, "STOPPED"), "the stop")
        await second.wait_idle()
    [stopped] = submitted(fake_server, "STOPPED")
    assert stopped["containers"] == [
        {
            "containerName": "app",
            "runtimeId": left,
            "status": "STOPPED",
            "exitCode": 0,
            "imageDigest": plane.digest,
        }
    ]
    assert await docker_client.list_containers({**LABELS, TASK_ARN_LABEL: task_arn("e2e-adopt")}) == []
    assert os.path.exists(tmp_path / "agent.json")


# -- the command -------------------------------------------------------------------------------------------


def agent_environ(tmp_path: Path) -> dict[str, str]:
    """Bootstrap credentials in the environment, nothing else of AWS."""
    env = {k: v for k, v in hermetic_environ().items() if not k.startswith("AWS_")}
    env.update(
        AWS_ACCESS_KEY_ID="AKIDBOOTSTRAP",
        AWS_SECRET_ACCESS_KEY="bootstrap-secret",
        AWS_CONFIG_FILE=os.fspath(tmp_path / "none"),
        AWS_SHARED_CREDENTIALS_FILE=os.fspath(tmp_path / "none"),
    )
    return env


async def test_the_dockyard_agent_command(
    fake_server: FakeServer, dockerd: DockerDaemon, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    imds_port, credentials_port = free_port(), free_port()
    argv = [
        os.fspath(dockyard_executable()),
        "agent",
        *("--endpoint", fake_server.url, "--instance-role", f"arn:aws:iam::{FAKE_ACCOUNT}:role/node"),
        *("--cluster", "agent-e2e", "--docker-host", dockerd.env["DOCKER_HOST"]),
        *("--imds-port", str(imds_port), "--credentials-port", str(credentials_port)),
        *("--state-dir", os.fspath(tmp_path / "state"), "--log-level", "debug"),
    ]
    log_path = tmp_path / "agent.log"
    with log_path.open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            *argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=agent_environ(tmp_path)
        )
    try:
        await fake_server.answers.put(
            {"instanceCredentials": role_credentials("node", "AKIDNODE"), "tasks": []}
        )
        await until(lambda: len(fake_server.polls) >= 2 or process.returncode is not None, "two polls")
        assert process.returncode is None, log_path.read_text()
        [registered] = fake_server.called("RegisterContainerInstance")
        cpu = {r["name"]: r["integerValue"] for r in registered["totalResources"]}["CPU"]
        assert cpu == len(os.sched_getaffinity(0)) * 1024  # the machine's, by default

        # A process on the node finds the instance role through the agent's IMDS.
        for name in [n for n in os.environ if n.startswith("AWS_")]:
            monkeypatch.delenv(name)
        monkeypatch.setenv("AWS_CONFIG_FILE", os.fspath(tmp_path / "none"))
        monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.fspath(tmp_path / "none"))
        monkeypatch.setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", f"http://127.0.0.1:{imds_port}/")
        found = await asyncio.to_thread(lambda: botocore.session.Session().get_credentials())
        assert found.get_frozen_credentials().access_key == "AKIDNODE"
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        assert await process.wait() == 0
    output = log_path.read_text()
    assert '"message": "registered"' in output
    assert "containers keep running" in output
    for secret in ("secret-of-AKIDNODE", "token-of-AKIDNODE", "bootstrap-secret"):
        assert secret not in output  # not even at --log-level debug
