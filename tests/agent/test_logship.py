"""awslogs shipping (dockyard.agent.logship) through botocore's logs client to the fake server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from dockyard.agent.aws import Endpoints, logs_client
from dockyard.agent.docker_frames import LogLine
from dockyard.agent.logship import MAX_EVENTS, AwsLogsTarget, LogShipper
from dockyard.agent.model import RoleCredentials

from .fakes import FakeServer, role_credentials
from .support import until

START = datetime(2024, 5, 1, tzinfo=UTC)


@pytest.fixture
def client(fake_server: FakeServer) -> Any:
    credentials = RoleCredentials.from_wire(role_credentials("exec", "AKIDEXEC"))
    assert credentials is not None
    return logs_client(credentials, Endpoints.single(fake_server.url, "us-east-1"))


async def lines_of(texts: list[str], *, hold: asyncio.Event | None = None) -> AsyncIterator[LogLine]:
    for i, text in enumerate(texts):
        yield LogLine("stdout", START + timedelta(milliseconds=i), text)
    if hold is not None:
        await hold.wait()


def test_stream_names() -> None:
    options = {"awslogs-group": "g", "awslogs-stream-prefix": "p"}
    assert AwsLogsTarget.of(options, "app", "t1", "c0ffee").stream == "p/app/t1"  # type: ignore[union-attr]
    assert AwsLogsTarget.of({"awslogs-group": "g"}, "app", "t1", "c0ffee").stream == "c0ffee"  # type: ignore[union-attr]
    assert AwsLogsTarget.of({}, "app", "t1", "c0ffee") is None


async def test_batches_respect_the_event_limit(fake_server: FakeServer, client: Any) -> None:
    target = AwsLogsTarget("g", "s", create_group=True)
    texts = [f"line {i}" for i in range(MAX_EVENTS + 5)]
    shipped = await LogShipper(target, lambda: client).ship(lines_of(texts))
    assert shipped == len(texts)
    assert [len(b["logEvents"]) for b in fake_server.called("PutLogEvents")] == [MAX_EVENTS, 5]
    assert [e["message"] for e in fake_server.events[("g", "s")]] == texts


async def test_a_quiet_stream_is_flushed_without_waiting_for_its_end(
    fake_server: FakeServer, client: Any
) -> None:
    hold = asyncio.Event()
    shipper = LogShipper(AwsLogsTarget("g", "s", True), lambda: client, flush_seconds=0.05)
    job = asyncio.create_task(shipper.ship(lines_of(["one", "two"], hold=hold)))
    await until(lambda: len(fake_server.events.get(("g", "s"), [])) == 2, "the flush")
    assert not job.done()
    hold.set()
    assert await job == 2


async def test_a_missing_group_without_create_group_drops_the_lines(
    fake_server: FakeServer, client: Any
) -> None:
    shipper = LogShipper(AwsLogsTarget("absent", "s", create_group=False), lambda: client)
    assert await shipper.ship(lines_of(["lost"])) == 0
    assert fake_server.called("CreateLogGroup") == []
    assert fake_server.called("PutLogEvents") == []


async def test_no_credentials_drop_the_lines(fake_server: FakeServer) -> None:
    assert await LogShipper(AwsLogsTarget("g", "s", True), lambda: None).ship(lines_of(["x"])) == 0
    assert fake_server.calls == []
