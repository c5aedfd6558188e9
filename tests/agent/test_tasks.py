"""One task on the node (dockyard.agent.tasks) against the fake server and an in-memory Docker Engine:
which role pulls, the ECR login, failures to pull or start, RUNNING and STOPPED reports with exit codes,
stops, task role variables and awslogs shipping."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from dockyard.agent.docker import RegistryAuth
from dockyard.agent.model import RoleCredentials, TaskSpec
from dockyard.agent.tasks import ESSENTIAL_EXITED, TaskContext, TaskRunner

from .fakes import FakeDocker, FakeServer, role_credentials
from .support import container, task_entry, until

DIGEST = "sha256:" + "ab" * 32


def own_image(server: FakeServer, path: str = "app:1") -> str:
    """An image on the server's own registry host (as with ``dockyard serve --auth none``)."""
    return f"{server.url.removeprefix('http://')}/{path}"


def instance_role(context: TaskContext) -> None:
    context.instance.update(RoleCredentials.from_wire(role_credentials("node", "AKIDNODE")))  # type: ignore[arg-type]


def reported(server: FakeServer, status: str) -> list[dict[str, Any]]:
    return [body for body in server.called("SubmitTaskStateChange") if body["status"] == status]


JOBS: list[asyncio.Task[None]] = []


@pytest.fixture(autouse=True)
async def _no_runner_outlives_its_test() -> AsyncIterator[None]:
    yield
    for job in JOBS:
        job.cancel()
    await asyncio.gather(*JOBS, return_exceptions=True)
    JOBS.clear()


async def start(context: TaskContext, entry: dict[str, Any]) -> tuple[TaskRunner, asyncio.Task[None]]:
    runner = TaskRunner(context, entry["taskArn"], TaskSpec.from_wire(entry))
    JOBS.append(asyncio.create_task(runner.run()))
    return runner, JOBS[-1]


async def running(context: TaskContext, server: FakeServer, entry: dict[str, Any]) -> TaskRunner:
    runner, _ = await start(context, entry)
    await until(lambda: reported(server, "RUNNING"), "RUNNING")
    return runner


async def test_execution_role_pulls_with_an_ecr_login(
    context: TaskContext, fake_server: FakeServer, docker: FakeDocker
) -> None:
    instance_role(context)
    image = own_image(fake_server)
    docker.digests[image] = DIGEST
    await running(context, fake_server, task_entry("t1", [container("app", image)]))

    assert fake_server.keys("GetAuthorizationToken") == ["AKIDEXEC"]
    host = image.split("/")[0]
    assert docker.pulls == [(image, RegistryAuth("AWS", "password-for-AKIDEXEC", host))]
    assert context.states.get(task_entry("t1", [])["taskArn"]).image_digests == [DIGEST]  # type: ignore[union-attr]


async def test_instance_role_pulls_without_an_execution_role(
    context: TaskContext, fake_server: FakeServer, docker: FakeDocker
) -> None:
    instance_role(context)
    entry = task_entry("t2", [container("app", own_image(fake_server))], execution_role=False)
    await running(context, fake_server, entry)
    assert fake_server.keys("GetAuthorizationToken") == ["AKIDNODE"]
    assert docker.pulls[0][1] is not None


async def test_fargate_never_pulls_with_the_instance_role(
    context: TaskContext, fake_server: FakeServer, docker: FakeDocker
) -> None:
    instance_role(context)
    entry = task_entry("t3", [container("app", own_image(fake_server))], launch_type="FARGATE")
    del entry["taskDefinition"]["executionRoleArn"]  # FARGATE pulls with the execution role regardless
    await running(context, fake_server, entry)
    assert fake_server.keys("GetAuthorizationToken") == ["AKIDEXEC"]


async def test_account_registry_host_gets_its_token_only_when_proxy_endpoint_names_it(
    context: TaskContext, fake_server: FakeServer, docker: FakeDocker
) -> None:
    named = "123456789012.dkr.test/app:1"  # the fake's proxyEndpoint host
    other = "123456789012.dkr.elsewhere.example/app:1"
    entry = task_entry("t4", [container("app", named), container("side", other, essential=False)])
    await running(context, fake_server, entry)
    assert [body.get("registryIds") for body in fake_server.called("GetAuthorizationToken")] == [
        ["123456789012"],
        ["123456789012"],
    ]
    assert docker.pulls == [
        (
            "123456789012.dkr.test/app:1",
            RegistryAuth("AWS", "password-for-AKIDEXEC", "123456789012.dkr.test"),
        ),
        ("123456789012.dkr.elsewhere.example/app:1", None),
    ]


async def test_another_registry_is_pulled_anonymously(
    context: TaskContext, fake_server: FakeServer, docker: FakeDocker
) -> None:
    await running(context, fake_server, task_entry("t5", [container("app", "busybox")]))
    assert fake_server.called("GetAuthorizationToken") == []
    assert docker.pulls == [("docker.io/library/busybox:latest", None)]


async def test_failed_pull_stops_the_task_with_the_registry_message(
    context: TaskContext, fake_server: FakeServer, docker: FakeDocker
) -> None:
    image = own_image(fake_server)
    message = "pull access denied for app: denied: User: arn:aws:sts::1:assumed-role/exec/x is not authorized"
    docker.refused[image] = message
    runner, job = await start(context, task_entry("t6", [container("app", image)]))
    await job

    [stopped] = reported(fake_server, "STOPPED")
    assert stopped["reason"] == f"CannotPullContainerError: {message}"
    assert stopped["containers"] == []
    assert "pullStartedAt" in stopped
    assert docker.containers == {}
    assert context.states.get(runner.arn).last_status == "STOPPED"  # type: ignore[union-attr]
    assert reported(fake_server, "RUNNING") == []


async def test_refused_ecr_login_stops_the_task(
    context: TaskContext, fake_server: FakeServer, docker: FakeDocker
) -> None:
    fake_server.refuse["GetAuthorizationToken"] = (
        "AccessDeniedException",
        "not authorized to perform ecr:Get",
    )
    _, job = await start(context, task_entry("t7", [container("app", own_image(fake_server))]))
    await job
    [stopped] = reported(fake_server, "STOPPED")
    assert (
        stopped["reason"]
        == "CannotPullContainerError: AccessDeniedException: not authorized to perform ecr:Get"
    )
    assert docker.pulls == []


async def test_failed_start_stops_what_was_created(
    context: TaskContext, fake_server: FakeServer, docker: FakeDocker
) -> None:
    docker.unstartable["busybox"] = "exec: no such file"
    entry = task_entry("t8", [container("app", "busybox")])
    _, job = await start(context, entry)
    await job
    [stopped] = reported(fake_server, "STOPPED")
    assert stopped["reason"] == "CannotStartContainerError: exec: no such file"
    assert [c["status"] for c in stopped["containers"]] == ["STOPPED"]
    assert all(c.removed for c in docker.containers.values())


async def test_essential_exit_stops_the_task_with_every_exit_code(
    context: TaskContext, fake_server: FakeServer, docker: FakeDocker
) -> None:
    image = own_image(fake_server)
    docker.digests[image] = DIGEST
    entry = task_entry(
        "t9",
        [
            container("app", image, stopTimeout=7),
            container("side", image, essential=False),
            container("long", image, essential=False),
        ],
    )
    runner = await running(context, fake_server, entry)
    [started] = reported(fake_server, "RUNNING")
    assert [(c["containerName"], c["imageDigest"]) for c in started["containers"]] == [
        ("app", DIGEST),
        ("side", DIGEST),
        ("long", DIGEST),
    ]
    assert {"pullStartedAt", "pullStoppedAt"} <= set(started)

    docker.exit("side", 3)  # not essential: a container state change, the task runs on
    await until(lambda: fake_server.called("SubmitContainerStateChange"), "the container report")
    [side] = fake_server.called("SubmitContainerStateChange")
    assert (side["containerName"], side["status"], side["exitCode"]) == ("side", "STOPPED", 3)
    assert reported(fake_server, "STOPPED") == []

    docker.exit("app", 0)
    await until(lambda: reported(fake_server, "STOPPED"), "STOPPED")
    [stopped] = reported(fake_server, "STOPPED")
    assert stopped["reason"] == ESSENTIAL_EXITED
    codes = {c["containerName"]: c.get("exitCode") for c in stopped["containers"]}
    assert codes == {"app": 0, "side": 3, "long": 143}
    assert docker.stopped == [("long", 30)]
    await until(lambda: all(c.removed for c in docker.containers.values()), "removal")
    assert context.states.get(runner.arn).last_status == "STOPPED"  # type: ignore[union-attr]


async def test_desired_stopped_stops_the_containers(
    context: TaskContext, fake_server: FakeServer, docker: FakeDocker
) -> None:
    instance_role(context)
    logging = {"logDriver": "awslogs", "options": {"awslogs-group": "g", "awslogs-create-group": "true"}}
    docker.logs_of["busybox"] = ["last words"]
    entry = task_entry("t10", [container("app", "busybox", stopTimeout=5, logConfiguration=logging)])
    runner = await running(context, fake_server, entry)
    stop = {**entry, "desiredStatus": "STOPPED", "executionRoleCredentials": None}  # as the server sends it
    runner.update(TaskSpec.from_wire(stop))
    await until(lambda: reported(fake_server, "STOPPED"), "STOPPED")
    [stopped] = reported(fake_server, "STOPPED")
    assert "reason" not in stopped  # the server keeps StopTask's reason (stopCode UserInitiated)
    assert stopped["containers"][0]["exitCode"] == 143
    assert docker.stopped == [("app", 5)]
    assert fake_server.keys("PutLogEvents") == ["AKIDEXEC"]  # the credentials held, not the node's


async def test_task_role_gets_its_credentials_endpoint(
    context: TaskContext, fake_server: FakeServer, docker: FakeDocker
) -> None:
    entry = task_entry(
        "t11",
        [container("app", "busybox", environment=[{"name": "MODE", "value": "a"}])],
        task_role=True,
        overrides={"containerOverrides": [{"name": "app", "environment": [{"name": "MODE", "value": "b"}]}]},
    )
    runner = await running(context, fake_server, entry)
    [created] = docker.containers.values()
    env = dict(item.split("=", 1) for item in created.body["Env"])
    assert env["MODE"] == "b"
    assert (
        env["AWS_CONTAINER_CREDENTIALS_FULL_URI"] == f"http://127.0.0.1:51679/v2/credentials/{runner.task_id}"
    )
    entry_of_task = context.task_credentials.authorized(
        runner.task_id, env["AWS_CONTAINER_AUTHORIZATION_TOKEN"]
    )
    assert entry_of_task is not None
    assert entry_of_task.credentials is not None
    assert entry_of_task.credentials.access_key_id == "AKIDTASK"

    fresh = {**entry, "taskRoleCredentials": role_credentials("app", "AKIDTASK2")}
    runner.update(TaskSpec.from_wire(fresh))  # the server re-sends the role's credentials
    assert entry_of_task.credentials.access_key_id == "AKIDTASK2"
    docker.exit("app", 0)
    token = env["AWS_CONTAINER_AUTHORIZATION_TOKEN"]
    await until(lambda: context.task_credentials.authorized(runner.task_id, token) is None, "forgotten")


async def test_awslogs_output_is_shipped_with_the_execution_role(
    context: TaskContext, fake_server: FakeServer, docker: FakeDocker
) -> None:
    options = {"awslogs-group": "/ecs/web", "awslogs-stream-prefix": "web", "awslogs-create-group": "true"}
    logging = {"logDriver": "awslogs", "options": options}
    docker.logs_of["busybox"] = ["hello", "", "world"]
    entry = task_entry("t12", [container("app", "busybox", logConfiguration=logging)])
    runner = await running(context, fake_server, entry)
    docker.exit("app", 0)
    await until(lambda: reported(fake_server, "STOPPED"), "STOPPED")

    events = fake_server.events[("/ecs/web", f"web/app/{runner.task_id}")]
    assert [e["message"] for e in events] == ["hello", "world"]  # an empty line is no event
    assert events[0]["timestamp"] == 1714521600000  # Docker's timestamp, in milliseconds
    assert set(fake_server.keys("PutLogEvents")) == {"AKIDEXEC"}
    assert fake_server.keys("CreateLogGroup") == ["AKIDEXEC"]
