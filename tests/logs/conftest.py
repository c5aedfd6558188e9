"""One `dockyard serve` process for the CloudWatch Logs tests (account 111122223333, region eu-west-2): real
SigV4, real IAM, the API mounted by the composition root as in production."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from identity.support import ACCOUNT, Creds, Server, client, init_account

REGION = "eu-west-2"


@dataclass
class Plane:
    server: Server
    root: Creds
    account: str = ACCOUNT

    @property
    def url(self) -> str:
        return self.server.url

    def client(self, service: str, creds: Creds | None = None) -> Any:
        return client(self.url, service, creds or self.root, REGION)

    def logs(self, creds: Creds | None = None) -> Any:
        return self.client("logs", creds)

    def iam(self) -> Any:
        return self.client("iam")


@pytest.fixture(scope="session")
def plane(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Iterator[Plane]:
    data_dir = tmp_path_factory.mktemp("logs") / "data"
    data_dir.mkdir()
    shutil.copyfile(sqlite_template, data_dir / "dockyard.db")
    server = Server(data_dir, env={"DOCKYARD_REGION": REGION}, wait=False)
    try:
        root = init_account(data_dir)
        server.wait_ready()
        yield Plane(server, root)
    finally:
        server.stop()


@pytest.fixture
def logs(plane: Plane) -> Any:
    """A CloudWatch Logs client signed with the account's root credentials."""
    return plane.logs()


@pytest.fixture
def group(logs: Any) -> str:
    """A fresh log group."""
    name = f"/test/{uuid.uuid4().hex[:12]}"
    logs.create_log_group(logGroupName=name)
    return name
