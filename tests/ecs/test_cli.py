"""The aws CLI's ``aws ecs`` against Dockyard, as a user would run it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .support import AWS_CLI, EcsServer, aws, unique

pytestmark = pytest.mark.skipif(AWS_CLI is None, reason="the aws CLI is not installed")


def test_the_aws_cli_drives_clusters_definitions_and_tasks(server: EcsServer, tmp_path: Path) -> None:
    cluster, family = unique("cli"), unique("cli")
    created = aws(server, tmp_path, "create-cluster", "--cluster-name", cluster)
    assert created.returncode == 0, created.stderr
    assert json.loads(created.stdout)["cluster"]["status"] == "ACTIVE"
    definition = tmp_path / "definition.json"
    definition.write_text(
        json.dumps(
            {
                "family": family,
                "containerDefinitions": [
                    {"name": "app", "image": "busybox", "memory": 64, "command": ["true"]}
                ],
            }
        )
    )
    registered = aws(server, tmp_path, "register-task-definition", "--cli-input-json", f"file://{definition}")
    assert registered.returncode == 0, registered.stderr
    assert json.loads(registered.stdout)["taskDefinition"]["revision"] == 1
    listed = aws(server, tmp_path, "list-task-definitions", "--family-prefix", family)
    assert json.loads(listed.stdout)["taskDefinitionArns"][0].endswith(f"task-definition/{family}:1")
    refused = aws(server, tmp_path, "run-task", "--cluster", cluster, "--task-definition", family)
    assert refused.returncode != 0
    assert "InvalidParameterException" in refused.stderr
    assert "No Container Instances were found in your cluster." in refused.stderr
    described = aws(server, tmp_path, "describe-clusters", "--clusters", cluster, "nowhere")
    found = json.loads(described.stdout)
    assert [c["clusterName"] for c in found["clusters"]] == [cluster]
    assert found["failures"][0]["reason"] == "MISSING"
