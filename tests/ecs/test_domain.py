"""The pure part of ECS: notations of CPU and memory, placement ranking, the state machine, what a poll
must carry (the credential refresh margin included), and references to resources."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from dockyard.domain.ecs import placement, sync
from dockyard.domain.ecs.arns import EcsArns, cluster_name, scoped_id, task_definition_ref
from dockyard.domain.ecs.changes import ContainerChange, TaskChange, TaskState, apply, stop_now
from dockyard.domain.ecs.errors import ClientError, InvalidParameter
from dockyard.domain.ecs.resources import Demand, demand, parse_cpu, parse_memory
from dockyard.domain.ecs.states import StopCode, advance

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
ACCOUNT = "123456789012"


@pytest.mark.parametrize(
    ("text", "cpu"), [("256", 256), ("1 vCPU", 1024), ("0.5 vcpu", 512), ("2vCPU", 2048)]
)
def test_cpu_notations(text: str, cpu: int) -> None:
    assert parse_cpu(text) == cpu


@pytest.mark.parametrize(("text", "memory"), [("512", 512), ("2 GB", 2048), ("0.5GB", 512)])
def test_memory_notations(text: str, memory: int) -> None:
    assert parse_memory(text) == memory


@pytest.mark.parametrize("text", ["", "lots", "0", "-1", "1 TB"])
def test_bad_notations_are_ecs_client_errors(text: str) -> None:
    with pytest.raises(ClientError, match=re.escape("Invalid 'cpu' setting for task.")):
        parse_cpu(text)


def test_demand_is_task_level_else_the_containers_sum_with_overrides() -> None:
    containers = [{"name": "a", "cpu": 100, "memory": 200}, {"name": "b", "memoryReservation": 50}]
    assert demand({"containerDefinitions": containers}) == Demand(100, 250)
    assert demand({"containerDefinitions": containers, "cpu": "1 vCPU", "memory": "1 GB"}) == Demand(
        1024, 1024
    )
    override = {"containerOverrides": [{"name": "b", "memory": 300, "cpu": 10}], "cpu": "512"}
    assert demand({"containerDefinitions": containers}, override) == Demand(512, 500)


def _candidate(
    key: int, memory: int, *, cpu: int = 1024, connected: bool = True, capacity: str = "EC2"
) -> placement.Candidate:
    return placement.Candidate(key, f"arn:{key}", capacity, connected, cpu, memory)


def test_ranking_spreads_and_says_why_not() -> None:
    candidates = [
        _candidate(1, 512),
        _candidate(2, 2048),
        _candidate(3, 4096, connected=False),
        _candidate(4, 4096, capacity="FARGATE"),
        _candidate(5, 4096, cpu=10),
        _candidate(6, 100),
    ]
    ranking = placement.rank(candidates, Demand(256, 512), "EC2")
    assert [c.key for c in ranking.fits] == [2, 1]
    assert ranking.refusals == [
        ("arn:3", "AGENT"),
        ("arn:4", "ATTRIBUTE"),
        ("arn:5", "RESOURCE:CPU"),
        ("arn:6", "RESOURCE:MEMORY"),
    ]


def test_statuses_only_move_forward() -> None:
    assert advance("PROVISIONING", "RUNNING") == "RUNNING"
    assert advance("RUNNING", "PENDING") is None
    assert advance("STOPPED", "RUNNING") is None
    assert advance("RUNNING", "DEACTIVATING") is None


def _state(status: str = "PENDING", **times: datetime) -> TaskState:
    return TaskState(status, None, None, [{"name": "a", "lastStatus": "PENDING"}], dict(times))


def test_a_change_fills_times_once_and_derives_the_stop_code() -> None:
    running = apply(_state(), TaskChange("RUNNING", containers=(ContainerChange("a", runtime_id="r1"),)), NOW)
    assert running.times == {"startedAt": NOW}
    assert running.containers == [{"name": "a", "lastStatus": "RUNNING", "runtimeId": "r1"}]
    later = NOW + timedelta(minutes=5)
    stopped = apply(running, TaskChange("STOPPED", containers=(ContainerChange("a", exit_code=2),)), later)
    assert (stopped.stop_code, stopped.stopped_reason) == (
        "EssentialContainerExited",
        "Essential container in task exited",
    )
    assert stopped.times == {"startedAt": NOW, "stoppedAt": later, "executionStoppedAt": later}
    assert stopped.containers[0]["exitCode"] == 2
    assert stopped.containers[0]["lastStatus"] == "STOPPED"
    assert apply(stopped, TaskChange("RUNNING"), later) == stopped
    failed = apply(_state(), TaskChange("STOPPED", "CannotPullContainerError: denied"), NOW)
    assert (failed.stop_code, failed.stopped_reason) == (
        "TaskFailedToStart",
        "CannotPullContainerError: denied",
    )


def test_a_server_stop_keeps_its_code() -> None:
    stopped = stop_now(_state("PROVISIONING"), "by hand", NOW, StopCode.USER_INITIATED)
    assert (stopped.last_status, stopped.stop_code, stopped.stopped_reason) == (
        "STOPPED",
        "UserInitiated",
        "by hand",
    )


def _known(
    desired: str = "RUNNING", last: str = "RUNNING", *, roles: bool = True, until: datetime | None = None
) -> sync.Known:
    return sync.Known("t", last, desired, roles, until)


def test_what_a_poll_carries() -> None:
    running = sync.Reported("t", "RUNNING")
    fresh, stale = NOW + timedelta(minutes=50), NOW + timedelta(minutes=14)
    assert sync.needs_send(_known(last="PROVISIONING"), None, NOW)  # new to the agent
    assert not sync.needs_send(_known(until=fresh), running, NOW)  # in step
    assert sync.needs_send(_known(until=stale), running, NOW)  # credentials due again
    assert not sync.needs_send(_known(roles=False), running, NOW)  # nothing to refresh
    assert sync.needs_send(_known("STOPPED"), running, NOW)  # to be stopped
    assert not sync.needs_send(_known("STOPPED"), None, NOW)  # nothing to stop
    assert not sync.needs_send(_known("STOPPED", "STOPPED"), sync.Reported("t", "STOPPED"), NOW)
    assert sync.credentials_due(None, NOW)
    assert sync.credentials_due(stale, NOW)
    assert not sync.credentials_due(fresh, NOW)
    reports = [
        sync.Reported("a", "RUNNING", ("sha256:2", "sha256:1")),
        sync.Reported("b", "STOPPED", ("sha256:3",)),
    ]
    assert sync.digests_in_use(reports) == ["sha256:1", "sha256:2"]


def test_references() -> None:
    arns = EcsArns("us-east-1", ACCOUNT)
    assert cluster_name(None, ACCOUNT) == "default"
    assert cluster_name(arns.cluster("web"), ACCOUNT) == "web"
    assert task_definition_ref(arns.task_definition("web", 3), ACCOUNT) == task_definition_ref(
        "web:3", ACCOUNT
    )
    assert task_definition_ref("web", ACCOUNT).revision is None
    assert scoped_id(arns.task("web", "abc"), "task", ACCOUNT) == ("web", "abc")
    assert scoped_id("abc", "task", ACCOUNT) == (None, "abc")
    with pytest.raises(ClientError, match="Invalid revision number"):
        task_definition_ref("web:x", ACCOUNT)
    with pytest.raises(InvalidParameter):
        cluster_name(EcsArns("us-east-1", "999999999999").cluster("web"), ACCOUNT)
