from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from dockyard.config import Settings

from .support import Server, serve

_COUNT = 0


@pytest.fixture(autouse=True)
def _hermetic_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith(("DOCKYARD_", "AWS_")):
            monkeypatch.delenv(key)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Iterator[Server]:
    """One running server per test module (tests use their own repository names)."""
    data_dir = tmp_path_factory.mktemp("ecr-data")
    (data_dir / "dockyard.db").write_bytes(sqlite_template.read_bytes())
    with serve(Settings(data_dir=data_dir, access_log=False)) as running:
        yield running


@pytest.fixture
def ecr(server: Server) -> Any:
    server.authz.deny = False
    return server.ecr()


@pytest.fixture
def repo(ecr: Any, request: pytest.FixtureRequest) -> str:
    """A fresh repository named after the test."""
    global _COUNT
    _COUNT += 1
    slug = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:150]
    name = f"t/{slug}-{_COUNT}"
    ecr.create_repository(repositoryName=name)
    return name


Factory = Callable[..., Any]
