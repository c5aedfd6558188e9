"""The README's ECR walkthrough, run verbatim: docker build, aws ecr get-login-password | docker login,
docker push, aws ecr describe-images; then tag immutability as docker shows it."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from identity.support import AWS_CLI

from .conftest import ACCOUNT_A, DOMAIN, Registry

pytestmark = pytest.mark.e2e
README = Path(__file__).resolve().parents[2] / "README.md"
POWER_USER = "AmazonEC2ContainerRegistryPowerUser"


def walkthrough() -> str:
    text = README.read_text()
    found = re.search(r"<!-- walkthrough -->\n```bash\n(.*?)```", text, re.S)
    assert found, "the README lost its walkthrough block"
    return found.group(1)


def aws_profile(tmp_path: Path, registry: Registry, key: str, secret: str) -> dict[str, str]:
    config, credentials = tmp_path / "aws-config", tmp_path / "aws-credentials"
    config.write_text(f"[profile dockyard]\nregion = us-east-1\nendpoint_url = {registry.url}\n")
    credentials.write_text(f"[dockyard]\naws_access_key_id = {key}\naws_secret_access_key = {secret}\n")
    return {"AWS_CONFIG_FILE": os.fspath(config), "AWS_SHARED_CREDENTIALS_FILE": os.fspath(credentials)}


def test_the_readme_walkthrough_runs_verbatim(registry: Registry, docker_for: Any, tmp_path: Path) -> None:
    user = registry.user("AmazonEC2ContainerRegistryFullAccess")
    docker = docker_for("walkthrough")
    env = {
        **docker.env,
        **aws_profile(tmp_path, registry, user.key, user.secret),
        "PATH": f"{Path(AWS_CLI).parent}:{docker.env.get('PATH', '/usr/bin:/bin')}",
        "REGISTRY": registry.host(ACCOUNT_A),
        "DOCKER_BUILDKIT": "0",  # Debian's docker.io has no buildx plugin: the CLI's legacy builder
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    script = tmp_path / "walkthrough.sh"
    script.write_text(walkthrough())
    done = subprocess.run(
        ["bash", "-euo", "pipefail", os.fspath(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines[0] == f"{ACCOUNT_A}.dkr.{DOMAIN}/demo/hello"
    pushed = re.search(r"1: digest: (sha256:[0-9a-f]{64}) size: \d+", done.stdout)
    assert pushed, done.stdout
    tag, digest, size = lines[-1].split("\t")
    assert (tag, digest) == ("1", pushed.group(1))
    assert int(size) > 1_000_000  # config plus the busybox layer, compressed

    run = docker("run", "--rm", "--network", "none", f"{registry.host(ACCOUNT_A)}/demo/hello:1")
    assert run.stdout.strip() == "hello from dockyard"


def test_an_immutable_tag_refuses_docker_push_with_ecrs_text(
    registry: Registry, docker_for: Any, seeded: str, tmp_path: Path
) -> None:
    user = registry.user(
        POWER_USER,
        inline={
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": ["ecr:CreateRepository", "ecr:PutImageTagMutability"],
                    "Resource": "*",
                }
            ],
        },
    )
    ecr = registry.ecr(user)
    ecr.create_repository(repositoryName="frozen/app", imageTagMutability="IMMUTABLE")
    docker = docker_for("immutable")
    password = registry.password(user)
    docker("login", "--username", "AWS", "--password-stdin", registry.host(ACCOUNT_A), input_text=password)
    source = registry.ref(ACCOUNT_A, "app", "v1")
    docker("pull", source)
    target = registry.ref(ACCOUNT_A, "frozen/app", "v1")
    docker("tag", source, target)
    docker("push", target)
    rebuilt = tmp_path / "ctx"
    rebuilt.mkdir()
    (rebuilt / "Dockerfile").write_text(f"FROM {source}\nLABEL changed=yes\n")
    docker_env = {**docker.env, "DOCKER_BUILDKIT": "0"}
    subprocess.run(
        ["docker", "build", "-t", target, os.fspath(rebuilt)],
        env=docker_env,
        check=True,
        capture_output=True,
        timeout=300,
    )
    refused = docker("push", target, check=False)
    assert refused.returncode != 0
    expected = (
        "tag invalid: The image tag 'v1' already exists in the 'frozen/app' repository and cannot be "
        "overwritten because the repository is immutable."
    )
    assert expected in refused.stdout + refused.stderr
