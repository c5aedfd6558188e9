"""The container credentials endpoint (dockyard.agent.creds): botocore's container provider reads a
task role from it with the variables a task's container gets; tokens keep tasks apart."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

import botocore.session  # type: ignore[import-untyped]
import httpx
import pytest

from dockyard.agent.creds import TaskCredentials, credentials_app, credentials_environment
from dockyard.agent.model import RoleCredentials
from dockyard.agent.serving import LoopbackServer

from .fakes import role_credentials


@pytest.fixture
def tasks() -> TaskCredentials:
    return TaskCredentials()


@pytest.fixture
async def endpoint(tasks: TaskCredentials) -> AsyncIterator[LoopbackServer]:
    server = LoopbackServer(credentials_app(tasks), 0)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def task_role(key: str) -> RoleCredentials:
    found = RoleCredentials.from_wire(role_credentials("app", key))
    assert found is not None
    return found


def in_container(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, environment: dict[str, str]) -> None:
    """botocore's chain as inside a task's container: only the two variables."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for name, value in environment.items():
        monkeypatch.setenv(name, value)


async def test_botocore_reads_the_task_role(
    tasks: TaskCredentials, endpoint: LoopbackServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    token = tasks.register("task-a")
    tasks.update("task-a", task_role("AKIDTASKA"))
    in_container(monkeypatch, tmp_path, credentials_environment(endpoint.url, "task-a", token))
    found = await asyncio.to_thread(lambda: botocore.session.Session().get_credentials())
    assert found.method == "container-role"
    frozen = found.get_frozen_credentials()
    assert (frozen.access_key, frozen.secret_key, frozen.token) == (
        "AKIDTASKA",
        "secret-of-AKIDTASKA",
        "token-of-AKIDTASKA",
    )


async def test_missing_foreign_and_unknown_tokens_are_refused(
    tasks: TaskCredentials, endpoint: LoopbackServer
) -> None:
    token_a = tasks.register("task-a")
    token_b = tasks.register("task-b")
    tasks.update("task-a", task_role("AKIDTASKA"))
    tasks.update("task-b", task_role("AKIDTASKB"))
    async with httpx.AsyncClient(base_url=endpoint.url) as http:
        assert (await http.get("/v2/credentials/task-a")).status_code == 401
        assert (
            await http.get("/v2/credentials/task-a", headers={"Authorization": token_b})
        ).status_code == 403
        assert (
            await http.get("/v2/credentials/task-c", headers={"Authorization": token_a})
        ).status_code == 403
        assert (await http.get("/v2/credentials/task-a", headers={"Authorization": "x"})).status_code == 403
        mine = await http.get("/v2/credentials/task-b", headers={"Authorization": token_b})
        assert mine.status_code == 200
        assert mine.json()["AccessKeyId"] == "AKIDTASKB"
        assert mine.json()["RoleArn"].endswith(":role/app")
        tasks.remove("task-b")
        assert (
            await http.get("/v2/credentials/task-b", headers={"Authorization": token_b})
        ).status_code == 403


async def test_a_task_waiting_for_its_role_is_not_found(
    tasks: TaskCredentials, endpoint: LoopbackServer
) -> None:
    token = tasks.register("task-a")
    assert tasks.register("task-a") == token  # registering again keeps the token
    async with httpx.AsyncClient(base_url=endpoint.url) as http:
        assert (await http.get("/v2/credentials/task-a", headers={"Authorization": token})).status_code == 404


def test_an_adopted_task_keeps_its_token(tasks: TaskCredentials) -> None:
    assert tasks.register("task-a", "from-the-container-env") == "from-the-container-env"
    assert tasks.authorized("task-a", "from-the-container-env") is not None
