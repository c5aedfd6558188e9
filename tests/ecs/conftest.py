from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .support import Agent, EcsServer, create_account, prepared_settings, serve, unique


@pytest.fixture(autouse=True)
def _hermetic_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith(("DOCKYARD_", "AWS_")):
            monkeypatch.delenv(key)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Iterator[EcsServer]:
    """One running server per test module, with one account (tests use their own cluster names)."""
    settings = prepared_settings(tmp_path_factory.mktemp("ecs-data"), sqlite_template)
    root = create_account(settings)
    with serve(settings, root) as running:
        yield running


@pytest.fixture
def ecs(server: EcsServer) -> Any:
    return server.client("ecs")


@pytest.fixture
def cluster(ecs: Any) -> str:
    name = unique("cluster")
    ecs.create_cluster(clusterName=name)
    return name


@pytest.fixture
def agent(server: EcsServer, cluster: str) -> Agent:
    """A registered EC2 node (2 vCPU, 4 GiB) in ``cluster``, signing with the account's root key."""
    found = Agent(server, server.root, cluster)
    found.register()
    return found
