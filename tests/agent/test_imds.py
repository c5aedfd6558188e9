"""The IMDSv2 endpoint (dockyard.agent.imds) read by botocore's real credential chain, its session
tokens, and the promise that no credential reaches a log."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import botocore.session  # type: ignore[import-untyped]
import httpx
import pytest

from dockyard.agent.imds import InstanceCredentials, SessionTokens, imds_app
from dockyard.agent.model import RoleCredentials
from dockyard.agent.serving import LoopbackServer

from .fakes import role_credentials

TOKEN_PATH = "/latest/api/token"
ROLES = "/latest/meta-data/iam/security-credentials/"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def instance() -> InstanceCredentials:
    return InstanceCredentials()


@pytest.fixture
async def imds(instance: InstanceCredentials, clock: Clock) -> AsyncIterator[LoopbackServer]:
    server = LoopbackServer(imds_app(instance, SessionTokens(clock)), 0)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
def only_imds(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, imds: LoopbackServer) -> None:
    """botocore's chain with nothing but this endpoint to find."""
    for name in list(__import__("os").environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", f"{imds.url}/")


def credentials(key: str, *, hours: float = 1.0) -> RoleCredentials:
    found = RoleCredentials.from_wire(role_credentials("node-role", key, hours=hours))
    assert found is not None
    return found


def resolve() -> object:
    return botocore.session.Session().get_credentials()


async def test_botocore_finds_the_instance_role(instance: InstanceCredentials, only_imds: None) -> None:
    instance.update(credentials("AKIDNODE1"))
    found = await asyncio.to_thread(resolve)
    assert found is not None
    assert found.method == "iam-role"  # type: ignore[attr-defined]
    frozen = found.get_frozen_credentials()  # type: ignore[attr-defined]
    assert (frozen.access_key, frozen.secret_key, frozen.token) == (
        "AKIDNODE1",
        "secret-of-AKIDNODE1",
        "token-of-AKIDNODE1",
    )


async def test_botocore_refreshes_when_they_near_expiry(
    instance: InstanceCredentials, only_imds: None
) -> None:
    instance.update(credentials("AKIDNODE1"))
    found = await asyncio.to_thread(resolve)
    assert found.get_frozen_credentials().access_key == "AKIDNODE1"  # type: ignore[attr-defined]
    instance.update(credentials("AKIDNODE2", hours=2))  # the server re-sent them
    # Travel 55 minutes ahead on the refreshable credentials' own clock: 5 minutes left is inside
    # botocore's mandatory refresh window, so the next use fetches again from the endpoint.
    later = datetime.now(UTC) + timedelta(minutes=55)
    found._time_fetcher = lambda: later  # type: ignore[attr-defined]
    frozen = await asyncio.to_thread(found.get_frozen_credentials)  # type: ignore[attr-defined]
    assert frozen.access_key == "AKIDNODE2"


async def test_no_credentials_yet_is_not_found(imds: LoopbackServer, only_imds: None) -> None:
    assert await asyncio.to_thread(resolve) is None
    async with httpx.AsyncClient(base_url=imds.url) as http:
        token = (await http.put(TOKEN_PATH, headers={"x-aws-ec2-metadata-token-ttl-seconds": "60"})).text
        assert (await http.get(ROLES, headers={"x-aws-ec2-metadata-token": token})).status_code == 404


async def test_every_read_needs_a_live_session_token(
    instance: InstanceCredentials, imds: LoopbackServer, clock: Clock
) -> None:
    instance.update(credentials("AKIDNODE1"))
    async with httpx.AsyncClient(base_url=imds.url) as http:
        assert (await http.get(ROLES)).status_code == 401
        assert (await http.get(ROLES, headers={"x-aws-ec2-metadata-token": "forged"})).status_code == 401
        issued = await http.put(TOKEN_PATH, headers={"x-aws-ec2-metadata-token-ttl-seconds": "10"})
        assert issued.headers["x-aws-ec2-metadata-token-ttl-seconds"] == "10"
        headers = {"x-aws-ec2-metadata-token": issued.text}
        listed = await http.get(ROLES, headers=headers)
        assert (listed.status_code, listed.text) == (200, "node-role")
        document = (await http.get(ROLES + "node-role", headers=headers)).json()
        assert (document["Code"], document["Type"], document["AccessKeyId"]) == (
            "Success",
            "AWS-HMAC",
            "AKIDNODE1",
        )
        assert (await http.get(ROLES + "other-role", headers=headers)).status_code == 404
        clock.now += 9
        assert (await http.get(ROLES, headers=headers)).status_code == 200
        clock.now += 1  # the TTL is over
        assert (await http.get(ROLES, headers=headers)).status_code == 401


@pytest.mark.parametrize("ttl", [None, "0", "21601", "ten"])
async def test_a_token_needs_a_valid_ttl(imds: LoopbackServer, ttl: str | None) -> None:
    headers = {} if ttl is None else {"x-aws-ec2-metadata-token-ttl-seconds": ttl}
    async with httpx.AsyncClient(base_url=imds.url) as http:
        assert (await http.put(TOKEN_PATH, headers=headers)).status_code == 400


async def test_a_forwarded_token_request_is_refused(imds: LoopbackServer) -> None:
    headers = {"x-aws-ec2-metadata-token-ttl-seconds": "60", "x-forwarded-for": "10.0.0.9"}
    async with httpx.AsyncClient(base_url=imds.url) as http:
        assert (await http.put(TOKEN_PATH, headers=headers)).status_code == 403


async def test_credentials_are_never_logged(
    instance: InstanceCredentials, only_imds: None, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="dockyard")
    caplog.set_level(logging.DEBUG, logger="uvicorn")
    instance.update(credentials("AKIDNODE1"))
    found = await asyncio.to_thread(resolve)
    assert found.get_frozen_credentials().token == "token-of-AKIDNODE1"  # type: ignore[attr-defined]
    ours = [r for r in caplog.records if r.name.startswith(("dockyard", "uvicorn"))]
    text = "\n".join(f"{r.getMessage()} {vars(r)}" for r in ours)
    assert "secret-of-AKIDNODE1" not in text
    assert "token-of-AKIDNODE1" not in text
    assert "secret-of" not in repr(instance.current)
