"""Registration, the poll loop and reconcile (dockyard.agent.loop, dockyard.agent.reconcile) against the
fake server, over the in-memory Docker Engine."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from dockyard.agent.aws import PollError
from dockyard.agent.containers import create_body
from dockyard.agent.creds import TOKEN_ENV
from dockyard.agent.loop import Agent, AgentConfig
from dockyard.agent.model import TaskSpec
from dockyard.agent.tasks import ESSENTIAL_EXITED, TaskContext

from .conftest import BOOTSTRAP_KEY
from .fakes import FakeContainer, FakeDocker, FakeServer, role_credentials
from .support import container, task_arn, task_entry, until

ROLE = "arn:aws:iam::123456789012:role/node"


def config_for(server: FakeServer, state_dir: Path, capacity: str = "EC2") -> AgentConfig:
    return AgentConfig(
        cluster="default",
        endpoint=server.url,
        region="us-east-1",
        instance_role_arn=ROLE,
        capacity=capacity,
        cpu=2048,
        memory=3072,
        state_dir=state_dir,
        wait_seconds=1,
    )


@pytest.fixture
async def agent(
    fake_server: FakeServer, context: TaskContext, bootstrap: Any, tmp_path: Path
) -> AsyncIterator[Agent]:
    made = Agent(config_for(fake_server, tmp_path / "state"), context, bootstrap)
    try:
        yield made
    finally:
        await made.close()


def status_of(context: TaskContext, arn: str) -> str | None:
    state = context.states.get(arn)
    return state.last_status if state is not None else None


def submitted(server: FakeServer, status: str) -> list[dict[str, Any]]:
    return [b for b in server.called("SubmitTaskStateChange") if b["status"] == status]


async def test_registration_is_kept_across_restarts(
    fake_server: FakeServer, context: TaskContext, bootstrap: Any, tmp_path: Path
) -> None:
    first = Agent(config_for(fake_server, tmp_path / "state", "FARGATE"), context, bootstrap)
    arn = await first.register()
    await first.close()
    [request] = fake_server.called("RegisterContainerInstance")
    document = json.loads(request["instanceIdentityDocument"])
    assert document["instanceRoleArn"] == ROLE
    assert document["instanceId"].startswith("i-")
    assert len(document["instanceId"]) == 18
    assert request["totalResources"] == [
        {"name": "CPU", "type": "INTEGER", "integerValue": 2048},
        {"name": "MEMORY", "type": "INTEGER", "integerValue": 3072},
    ]
    assert request["attributes"] == [{"name": "dockyard.capacity", "value": "FARGATE"}]
    assert fake_server.called("DiscoverPollEndpoint") == [{"cluster": "default"}]
    assert set(fake_server.keys("RegisterContainerInstance")) == {BOOTSTRAP_KEY}

    again = Agent(config_for(fake_server, tmp_path / "state"), context, bootstrap)
    assert await again.register() == arn
    await again.close()
    second = json.loads(fake_server.called("RegisterContainerInstance")[1]["instanceIdentityDocument"])
    assert second["instanceId"] == document["instanceId"]


async def test_poll_feeds_the_imds_and_runs_tasks(
    agent: Agent, fake_server: FakeServer, context: TaskContext, docker: FakeDocker
) -> None:
    arn = await agent.register()
    docker.digests["docker.io/library/busybox:latest"] = "sha256:" + "d" * 64
    entry = task_entry("t1", [container("app", "busybox")])
    await fake_server.answers.put(
        {"instanceCredentials": {**role_credentials("x", "AKIDNODE"), "RoleArn": ""}, "tasks": [entry]}
    )
    await agent.poll_once()
    assert context.instance.current is not None
    assert context.instance.current.access_key_id == "AKIDNODE"
    assert context.instance.current.role_arn == ROLE  # the server's answer named no role: the node's
    await until(lambda: submitted(fake_server, "RUNNING"), "RUNNING")

    await agent.poll_once()
    request = fake_server.polls[-1]
    assert (request["cluster"], request["containerInstanceArn"], request["waitSeconds"]) == (
        "default",
        arn,
        1,
    )
    assert request["tasks"] == [
        {"taskArn": entry["taskArn"], "lastStatus": "RUNNING", "imageDigests": ["sha256:" + "d" * 64]}
    ]

    await fake_server.answers.put({"tasks": [{**entry, "desiredStatus": "STOPPED"}]})
    await agent.poll_once()
    await until(lambda: submitted(fake_server, "STOPPED"), "STOPPED")
    await agent.wait_idle()
    await fake_server.answers.put({"tasks": [entry]})  # a stale entry: a stopped task never starts again
    await agent.poll_once()
    assert len(docker.containers) == 1


async def test_a_task_stopped_before_it_ran_is_confirmed(
    agent: Agent, fake_server: FakeServer, docker: FakeDocker
) -> None:
    await agent.register()
    entry = task_entry("gone", [container("app", "busybox")], desired="STOPPED")
    await fake_server.answers.put({"tasks": [entry]})
    await agent.poll_once()
    assert [b["task"] for b in submitted(fake_server, "STOPPED")] == [entry["taskArn"]]
    assert docker.pulls == []
    await agent.poll_once()
    assert fake_server.polls[-1]["tasks"] == [
        {"taskArn": entry["taskArn"], "lastStatus": "STOPPED", "imageDigests": []}
    ]


async def test_poll_errors_carry_the_server_message(agent: Agent, fake_server: FakeServer) -> None:
    await agent.register()
    fake_server.poll_error = (400, {"__type": "ClientException", "message": "unknown container instance"})
    with pytest.raises(PollError, match="unknown container instance"):
        await agent.poll_once()


async def leftover(docker: FakeDocker, name: str, *, token: str | None = None) -> FakeContainer:
    """A container a previous agent run started for task ``name``."""
    spec = TaskSpec.from_wire(task_entry(name, [container("app", "busybox")]))
    [app] = spec.containers()
    env = {TOKEN_ENV: token} if token else {}
    body = create_body(spec, app, cluster="default", digest="sha256:" + "e" * 64, extra_env=env)
    made = docker.containers[await docker.create_container(f"ecs-{name}", body)]
    await docker.start(made.id)
    return made


async def test_restart_adopts_running_and_reports_exited_tasks(
    agent: Agent, fake_server: FakeServer, context: TaskContext, docker: FakeDocker
) -> None:
    old = await leftover(docker, "old")
    old.exit_code = 2
    old.exited.set()  # it exited while no agent ran
    live = await leftover(docker, "live", token="the-live-task-token")

    await agent.register()
    await agent.adopt_existing()
    await until(lambda: status_of(context, task_arn("old")) == "STOPPED", "the exited task")
    [stopped] = submitted(fake_server, "STOPPED")
    assert stopped["task"] == task_arn("old")
    assert stopped["reason"] == ESSENTIAL_EXITED
    assert [(c["containerName"], c["exitCode"], c["imageDigest"]) for c in stopped["containers"]] == [
        ("app", 2, "sha256:" + "e" * 64)
    ]
    assert old.removed
    assert context.task_credentials.authorized("live", "the-live-task-token") is not None

    await agent.poll_once()
    reported = {t["taskArn"]: (t["lastStatus"], t["imageDigests"]) for t in fake_server.polls[-1]["tasks"]}
    assert reported == {
        task_arn("old"): ("STOPPED", ["sha256:" + "e" * 64]),
        task_arn("live"): ("RUNNING", ["sha256:" + "e" * 64]),
    }
    assert not live.removed
    live.exit_code = 0
    live.exited.set()
    await until(lambda: len(submitted(fake_server, "STOPPED")) == 2, "the adopted task's exit")
    assert submitted(fake_server, "STOPPED")[1]["containers"][0]["exitCode"] == 0


async def test_no_credential_reaches_the_log(
    agent: Agent, fake_server: FakeServer, docker: FakeDocker, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="dockyard")
    await agent.register()
    entry = task_entry("t1", [container("app", "busybox")], task_role=True)
    await fake_server.answers.put(
        {"instanceCredentials": role_credentials("node", "AKIDNODE"), "tasks": [entry]}
    )
    await agent.poll_once()
    await until(lambda: submitted(fake_server, "RUNNING"), "RUNNING")
    docker.exit("app", 0)
    await agent.wait_idle()
    ours = [r for r in caplog.records if r.name.startswith("dockyard")]
    assert {"registered", "state change reported", "task stopped"} <= {r.getMessage() for r in ours}
    text = "\n".join(f"{r.getMessage()} {vars(r)}" for r in ours)
    for key in ("AKIDNODE", "AKIDEXEC", "AKIDTASK"):
        assert f"secret-of-{key}" not in text
        assert f"token-of-{key}" not in text
