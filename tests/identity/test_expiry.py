"""Temporary credentials expire: the app runs in-process (uvicorn in a thread) on a clock the test moves,
and botocore signs on the same clock, so only the session's expiry is in question."""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import uvicorn
from botocore.exceptions import ClientError  # type: ignore[import-untyped]

from dockyard.app import build_services, create_app
from dockyard.config import Settings

from .support import Creds, client, error_of, new_user, signing_time


@dataclass
class MovableClock:
    moment: datetime

    def now(self) -> datetime:
        return self.moment


@dataclass
class InProcess:
    url: str
    clock: MovableClock
    root: Creds


async def _create_account(settings: Settings) -> Creds:
    services = build_services(settings)
    try:
        issued = await services.identity.create_account("222233334444")
    finally:
        await services.close()
    return Creds(issued.key.access_key_id, issued.secret)


@pytest.fixture
def in_process(tmp_path: Path, sqlite_template: Path) -> Iterator[InProcess]:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    shutil.copyfile(sqlite_template, data_dir / "dockyard.db")
    settings = Settings(data_dir=data_dir, access_log=False)
    root = asyncio.run(_create_account(settings))
    clock = MovableClock(datetime.now(UTC))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(create_app(settings, clock=clock), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started
    try:
        yield InProcess(f"http://127.0.0.1:{sock.getsockname()[1]}", clock, root)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def test_temporary_credentials_are_rejected_after_they_expire(in_process: InProcess) -> None:
    url, clock = in_process.url, in_process.clock
    with signing_time(clock.now()):
        iam = client(url, "iam", in_process.root)
        name, creds = new_user(iam)
        trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                 "Principal": {"AWS": f"arn:aws:iam::222233334444:user/{name}"}}]}  # fmt: skip
        role = iam.create_role(RoleName="short", AssumeRolePolicyDocument=json.dumps(trust))["Role"]
        issued = client(url, "sts", creds).assume_role(
            RoleArn=role["Arn"], RoleSessionName="brief", DurationSeconds=900
        )["Credentials"]
        assert abs((issued["Expiration"] - clock.now()).total_seconds() - 900) < 0.01
        temporary = Creds.of(issued)
        assert client(url, "sts", temporary).get_caller_identity()["Arn"].endswith("assumed-role/short/brief")
    clock.moment += timedelta(seconds=899)
    with signing_time(clock.now()):
        client(url, "sts", temporary).get_caller_identity()
    clock.moment += timedelta(seconds=2)
    with signing_time(clock.now()):
        with pytest.raises(ClientError) as caught:
            client(url, "sts", temporary).get_caller_identity()
        assert error_of(caught) == ("ExpiredToken", 403)
        assert (
            caught.value.response["Error"]["Message"]
            == "The security token included in the request is expired"
        )
        with pytest.raises(ClientError) as caught:
            client(url, "iam", temporary).list_users()
        assert error_of(caught) == ("ExpiredToken", 403)
        assert client(url, "sts", creds).get_caller_identity()["Arn"].endswith(f":user/{name}")
