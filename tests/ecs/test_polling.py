"""The long poll and the heartbeat, on two replicas of one database: ``A`` looks at the database only every
30 seconds while a poll waits (so only its in-process wake answers quickly), ``B`` every 0.2 seconds. The
agent timeout is 0.3 seconds: a node that is not polling soon shows ``agentConnected: false``."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from .support import Agent, EcsServer, create_account, prepared_settings, serve, unique

DEADLINE = 15.0  # seconds any awaited event may take on a busy machine; a poll waits 25


@pytest.fixture(scope="module")
def replicas(
    tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path
) -> Iterator[tuple[EcsServer, EcsServer]]:
    data_dir = tmp_path_factory.mktemp("ecs-polling")
    a = prepared_settings(
        data_dir, sqlite_template, ecs_agent_timeout_seconds=0.3, ecs_poll_interval_seconds=30
    )
    b = a.model_copy(update={"ecs_poll_interval_seconds": 0.2})
    root = create_account(a)
    with serve(a, root) as first, serve(b, root) as second:
        yield first, second


def _until(check: Callable[[], bool]) -> None:
    deadline = time.monotonic() + DEADLINE
    while not check():
        assert time.monotonic() < deadline, "the awaited state never came"
        time.sleep(0.02)


class Polling:
    """A poll waiting in a thread, as an agent's would."""

    def __init__(self, agent: Agent, tasks: list[dict[str, Any]] | None = None) -> None:
        self.answer: dict[str, Any] | None = None
        self.thread = threading.Thread(target=self._run, args=(agent, tasks), daemon=True)
        self.thread.start()

    def _run(self, agent: Agent, tasks: list[dict[str, Any]] | None) -> None:
        self.answer = agent.poll(tasks, wait=25)

    def result(self) -> dict[str, Any]:
        self.thread.join(DEADLINE)
        assert not self.thread.is_alive(), "the poll was not answered before its wait ran out"
        assert self.answer is not None
        return self.answer


def _connected(ecs: Any, cluster: str, agent: Agent) -> bool:
    found = ecs.describe_container_instances(cluster=cluster, containerInstances=[agent.arn])
    return bool(found["containerInstances"][0]["agentConnected"])


def _setup(server: EcsServer) -> tuple[Any, str, str, Agent]:
    ecs = server.client("ecs")
    cluster, family = unique("poll"), unique("poll")
    ecs.create_cluster(clusterName=cluster)
    ecs.register_task_definition(
        family=family, containerDefinitions=[{"name": "a", "image": "x", "memory": 8}]
    )
    agent = Agent(server, server.root, cluster)
    agent.register()
    return ecs, cluster, family, agent


def test_a_silent_agent_is_disconnected_and_a_placed_task_wakes_its_poll(
    replicas: tuple[EcsServer, EcsServer],
) -> None:
    ecs, cluster, family, agent = _setup(replicas[0])
    _until(lambda: not _connected(ecs, cluster, agent))
    refused = ecs.run_task(cluster=cluster, taskDefinition=family)
    assert refused["failures"] == [{"arn": agent.arn, "reason": "AGENT"}]
    polling = Polling(agent)
    _until(lambda: _connected(ecs, cluster, agent))  # a waiting poll keeps the agent connected
    task = ecs.run_task(cluster=cluster, taskDefinition=family)["tasks"][0]["taskArn"]
    assert [t["taskArn"] for t in polling.result()["tasks"]] == [task]


def test_a_disconnected_node_keeps_its_tasks_as_last_reported(replicas: tuple[EcsServer, EcsServer]) -> None:
    ecs, cluster, family, agent = _setup(replicas[0])
    polling = Polling(agent)
    _until(lambda: _connected(ecs, cluster, agent))
    task = ecs.run_task(cluster=cluster, taskDefinition=family)["tasks"][0]["taskArn"]
    polling.result()
    agent.submit(task, "RUNNING")
    _until(lambda: not _connected(ecs, cluster, agent))
    found = ecs.describe_tasks(cluster=cluster, tasks=[task])["tasks"][0]
    assert (found["lastStatus"], found["desiredStatus"]) == ("RUNNING", "RUNNING")
    assert agent.poll([{"taskArn": task, "lastStatus": "RUNNING"}])["tasks"] == []


def test_another_replicas_poll_sees_a_task_at_its_next_look(replicas: tuple[EcsServer, EcsServer]) -> None:
    first, second = replicas
    ecs, cluster, family, agent = _setup(first)
    agent.server = second  # the agent polls replica B; RunTask goes to replica A
    polling = Polling(agent)
    _until(lambda: _connected(ecs, cluster, agent))
    task = ecs.run_task(cluster=cluster, taskDefinition=family)["tasks"][0]["taskArn"]
    assert [t["taskArn"] for t in polling.result()["tasks"]] == [task]


def test_a_stop_on_this_replica_wakes_the_poll(replicas: tuple[EcsServer, EcsServer]) -> None:
    ecs, cluster, family, agent = _setup(replicas[0])
    task = ecs.run_task(cluster=cluster, taskDefinition=family)["tasks"][0]["taskArn"]
    agent.poll()
    running = [{"taskArn": task, "lastStatus": "RUNNING"}]
    polling = Polling(agent, running)
    _until(lambda: ecs.describe_tasks(cluster=cluster, tasks=[task])["tasks"][0]["lastStatus"] == "RUNNING")
    ecs.stop_task(cluster=cluster, task=task)
    assert [(t["taskArn"], t["desiredStatus"]) for t in polling.result()["tasks"]] == [(task, "STOPPED")]
