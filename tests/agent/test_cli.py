"""``dockyard agent``'s command line (its run is in tests/e2e/test_e2e_agent_docker.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dockyard.agent.cli import machine_cpu, machine_memory
from dockyard.cli import app


def test_the_command_is_registered_with_its_options() -> None:
    result = CliRunner().invoke(app, ["agent", "--help"])
    assert result.exit_code == 0
    for option in (
        "--cluster",
        "--endpoint",
        "--instance-role",
        "--capacity",
        "--cpu",
        "--memory",
        "--docker-host",
        "--imds-port",
        "--credentials-port",
        "--state-dir",
    ):
        assert option in result.output


def test_without_aws_credentials_it_says_so(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    result = CliRunner().invoke(
        app, ["agent", "--endpoint", "http://127.0.0.1:1", "--instance-role", "arn:aws:iam::1:role/n"]
    )
    assert result.exit_code == 1
    assert "no AWS credentials" in result.output


def test_capacity_is_checked() -> None:
    result = CliRunner().invoke(
        app, ["agent", "--endpoint", "http://x", "--instance-role", "r", "--capacity", "SPOT"]
    )
    assert result.exit_code == 2


def test_machine_defaults() -> None:
    assert machine_cpu() % 1024 == 0
    assert machine_cpu() >= 1024
    assert machine_memory() > 0
