"""The ``dockyardKeepRules`` extension over the wire: with ``lifecycle_keep_rules`` on, keep rules protect
images from the preview and the run (``dockyard lifecycle run``); with it off, the policy is refused by the
API, and a stored one by the run."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from typer.testing import CliRunner

from dockyard.cli import app as cli
from dockyard.config import Settings

from .support import ACCOUNT, Server, serve
from .test_lifecycle import ManualClock, code, rule, text, verified_pull

KEEP_POLICY = text(
    rule(1, "any", "imageCountMoreThan", 1),
    dockyardKeepRules=[{"tagPatternList": ["*-lts"]}, {"pulledWithinDays": 7}],
)


@pytest.fixture(scope="module")
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path, clock: ManualClock
) -> Iterator[Server]:
    """This module's server (the ``ecr`` and ``repo`` fixtures use it): keep rules on."""
    data_dir = tmp_path_factory.mktemp("lifecycle-keep-data")
    (data_dir / "dockyard.db").write_bytes(sqlite_template.read_bytes())
    settings = Settings(
        data_dir=data_dir, access_log=False, lifecycle_interval_seconds=1e9, lifecycle_keep_rules=True
    )
    with serve(settings, clock=clock) as running:
        yield running


def run_cli(server: Server, repo: str) -> Any:
    args = ["--data-dir", str(server.settings.data_dir), "--account", ACCOUNT, "--json"]
    return CliRunner().invoke(cli, ["lifecycle", "run", repo, *args])


def test_keep_rules_protect_images_from_preview_and_run(
    server: Server, ecr: Any, repo: str, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    start = datetime.now(UTC) - timedelta(days=30)
    pushed: dict[str, str] = {}
    for day, name, tag in [(0, "lts", "v1-lts"), (1, "v2", "v2"), (2, "v3", "v3"), (3, "u1", None)]:
        clock.moment = start + timedelta(days=day)
        pushed[name] = server.push_image(repo, tag, seed=f"{repo}-{name}")[0]
    clock.moment = start + timedelta(days=25)
    assert verified_pull(server, repo, pushed["v2"]) == 200  # pulled five days before the run
    clock.moment = start + timedelta(days=28)
    pushed["v4"] = server.push_image(repo, "v4", seed=f"{repo}-v4")[0]
    clock.moment = start + timedelta(days=30)

    ecr.put_lifecycle_policy(repositoryName=repo, lifecyclePolicyText=KEEP_POLICY)
    without_keep = text(rule(1, "any", "imageCountMoreThan", 1))
    ecr.start_lifecycle_policy_preview(repositoryName=repo, lifecyclePolicyText=without_keep)
    unprotected = ecr.get_lifecycle_policy_preview(repositoryName=repo)["previewResults"]
    assert {r["imageDigest"] for r in unprotected} == {pushed[n] for n in ("lts", "v2", "v3", "u1")}
    ecr.start_lifecycle_policy_preview(repositoryName=repo)  # the stored policy, keep rules and all
    preview = ecr.get_lifecycle_policy_preview(repositoryName=repo)["previewResults"]
    expected = {pushed["v3"], pushed["u1"]}
    assert {r["imageDigest"] for r in preview} == expected

    monkeypatch.setenv("DOCKYARD_LIFECYCLE_KEEP_RULES", "true")  # the run reads the server's settings
    ran = run_cli(server, repo)
    assert ran.exit_code == 0, ran.output
    assert {row["digest"] for row in json.loads(ran.stdout)} == expected
    for name, digest in pushed.items():
        assert verified_pull(server, repo, digest) == (404 if digest in expected else 200), name


def test_without_the_setting_keep_rules_are_refused(
    server: Server, ecr: Any, repo: str, tmp_path: Path, sqlite_template: Path, clock: ManualClock
) -> None:
    clock.moment = datetime.now(UTC)
    old = server.push_image(repo, "v1", seed=f"{repo}-v1")[0]
    server.push_image(repo, "v2", seed=f"{repo}-v2")
    ecr.put_lifecycle_policy(repositoryName=repo, lifecyclePolicyText=KEEP_POLICY)
    ran = run_cli(server, repo)  # DOCKYARD_LIFECYCLE_KEEP_RULES unset: the stored policy is refused
    assert ran.exit_code == 1
    assert "is a Dockyard extension that this server does not enable" in " ".join(ran.output.split())
    assert verified_pull(server, repo, old) == 200  # nothing was expired

    (tmp_path / "dockyard.db").write_bytes(sqlite_template.read_bytes())
    with serve(Settings(data_dir=tmp_path, access_log=False, lifecycle_interval_seconds=1e9)) as plain:
        plain_ecr = plain.ecr()
        plain_ecr.create_repository(repositoryName=repo)
        for call, args in [
            (plain_ecr.put_lifecycle_policy, {"lifecyclePolicyText": KEEP_POLICY}),
            (plain_ecr.start_lifecycle_policy_preview, {"lifecyclePolicyText": KEEP_POLICY}),
        ]:
            with pytest.raises(ClientError) as refused:
                call(repositoryName=repo, **args)
            kind, message = code(refused)
            assert kind == "InvalidParameterException"
            assert "dockyardKeepRules" in message
            assert "does not enable" in message
