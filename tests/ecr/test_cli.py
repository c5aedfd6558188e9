"""The everyday aws CLI commands of the README, verbatim, against a running server."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from .support import ACCOUNT, AWS_CLI, DOMAIN, Server, aws

pytestmark = pytest.mark.skipif(AWS_CLI is None, reason="the aws CLI is not installed")


def run(server: Server, home: Path, *args: str) -> object:
    done = aws(server, home, *args)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout) if done.stdout.strip() else None


def test_everyday_commands(server: Server, tmp_path: Path) -> None:
    created = run(
        server,
        tmp_path,
        "create-repository",
        "--repository-name",
        "cli/app",
        "--image-scanning-configuration",
        "scanOnPush=true",
        "--image-tag-mutability",
        "MUTABLE",
    )
    assert isinstance(created, dict)
    assert created["repository"]["repositoryUri"] == f"{ACCOUNT}.dkr.{DOMAIN}/cli/app"
    assert created["repository"]["imageScanningConfiguration"] == {"scanOnPush": True}
    digest, _, size = server.push_image("cli/app", "v1", layers=2)
    server.push_image("cli/app", "v2", seed="two")
    described = run(
        server,
        tmp_path,
        "describe-images",
        "--repository-name",
        "cli/app",
        "--image-ids",
        "imageTag=v1",
        "--query",
        "imageDetails[0].[imageDigest,imageSizeInBytes,imageTags[0]]",
    )
    assert described == [digest, size, "v1"]
    listed = run(
        server,
        tmp_path,
        "list-images",
        "--repository-name",
        "cli/app",
        "--filter",
        "tagStatus=TAGGED",
        "--query",
        "imageIds[].imageTag",
    )
    assert listed == ["v1", "v2"]
    mutability = run(
        server,
        tmp_path,
        "put-image-tag-mutability",
        "--repository-name",
        "cli/app",
        "--image-tag-mutability",
        "IMMUTABLE",
    )
    assert isinstance(mutability, dict)
    assert mutability["imageTagMutability"] == "IMMUTABLE"
    deleted = run(
        server, tmp_path, "batch-delete-image", "--repository-name", "cli/app", "--image-ids", "imageTag=v1"
    )
    assert deleted == {"imageIds": [{"imageDigest": digest, "imageTag": "v1"}], "failures": []}
    repos = run(
        server,
        tmp_path,
        "describe-repositories",
        "--repository-names",
        "cli/app",
        "--query",
        "repositories[0].imageTagMutability",
    )
    assert repos == "IMMUTABLE"


def test_login_password_and_errors(server: Server, tmp_path: Path) -> None:
    done = aws(server, tmp_path, "get-login-password")
    assert done.returncode == 0, done.stderr
    claims = server.api.issuer.verify(done.stdout.strip(), datetime.now(UTC))
    assert claims is not None
    assert claims.account == ACCOUNT
    token = run(
        server, tmp_path, "get-authorization-token", "--query", "authorizationData[0].authorizationToken"
    )
    assert isinstance(token, str)
    assert base64.b64decode(token).decode().startswith("AWS:dky2.")
    done = aws(server, tmp_path, "describe-repositories", "--repository-names", "cli/missing")
    assert done.returncode in (254, 255)  # aws CLI v2, v1
    assert "(RepositoryNotFoundException)" in done.stderr
    assert "The repository with name 'cli/missing' does not exist" in done.stderr


def test_put_image_and_retag(server: Server, tmp_path: Path) -> None:
    run(server, tmp_path, "create-repository", "--repository-name", "cli/retag")
    digest, body, _ = server.push_image("cli/retag", "v1")
    manifest = run(
        server,
        tmp_path,
        "batch-get-image",
        "--repository-name",
        "cli/retag",
        "--image-ids",
        "imageTag=v1",
        "--query",
        "images[0].imageManifest",
    )
    assert isinstance(manifest, str)
    assert manifest.encode() == body
    put = run(
        server,
        tmp_path,
        "put-image",
        "--repository-name",
        "cli/retag",
        "--image-tag",
        "stable",
        "--image-manifest",
        manifest,
    )
    assert isinstance(put, dict)
    assert put["image"]["imageId"] == {"imageDigest": digest, "imageTag": "stable"}
    url = run(
        server,
        tmp_path,
        "get-download-url-for-layer",
        "--repository-name",
        "cli/retag",
        "--layer-digest",
        json.loads(body)["layers"][0]["digest"],
        "--query",
        "downloadUrl",
    )
    assert isinstance(url, str)
    assert server.http.get(url).status_code == 200
