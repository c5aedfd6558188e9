"""Fixtures of the agent's unit tests: the fake server on a loopback port, the agent's AWS session
(static bootstrap credentials, nothing from the developer's environment) and a task context over an
in-memory Docker Engine."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import boto3  # type: ignore[import-untyped]
import pytest

from dockyard.agent.aws import EcsApi, Endpoints
from dockyard.agent.creds import TaskCredentials
from dockyard.agent.imds import InstanceCredentials
from dockyard.agent.model import TaskStates
from dockyard.agent.serving import LoopbackServer
from dockyard.agent.tasks import TaskContext

from .fakes import FakeDocker, FakeServer

BOOTSTRAP_KEY = "AKIDBOOTSTRAP"
REGION = "us-east-1"


@pytest.fixture(autouse=True)
def _logging_restored() -> Iterator[None]:
    """``dockyard agent`` configures logging onto the stream CliRunner lends it and closes afterwards: put
    the loggers back, or every later log line (alembic's, in other tests) writes to a closed stream."""
    names = [None, "dockyard.access", "botocore", "urllib3", "httpx", "uvicorn", "uvicorn.error"]
    saved = [
        (logging.getLogger(n), list(logging.getLogger(n).handlers), logging.getLogger(n).level) for n in names
    ]
    saved_propagate = logging.getLogger("dockyard.access").propagate
    yield
    for logger, handlers, level in saved:
        logger.handlers[:] = handlers
        logger.setLevel(level)
    logging.getLogger("dockyard.access").propagate = saved_propagate


@pytest.fixture(scope="session")
def bootstrap() -> Any:
    return boto3.session.Session(
        aws_access_key_id=BOOTSTRAP_KEY, aws_secret_access_key="bootstrap-secret", region_name=REGION
    )


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
def docker() -> FakeDocker:
    return FakeDocker()


@pytest.fixture
def context(fake_server: FakeServer, bootstrap: Any, docker: FakeDocker) -> TaskContext:
    endpoints = Endpoints.single(fake_server.url, REGION)
    return TaskContext(
        cluster="default",
        docker=docker,  # type: ignore[arg-type]
        ecs=EcsApi(bootstrap, endpoints),
        endpoints=endpoints,
        states=TaskStates(),
        task_credentials=TaskCredentials(),
        credentials_url="http://127.0.0.1:51679",
        instance=InstanceCredentials(),
        log_flush_seconds=0.05,
    )
