"""``dockyard migrate-storage``: a single-node registry (SQLite + filesystem) with an image, IAM users and
issued registry passwords moves to PostgreSQL + S3; a replica there serves the pull (digests verified),
the old access key and the old password still work, and a second run copies nothing again."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from dockyard.config import Settings
from identity.support import DOCKYARD, Creds, allow, client, new_user
from s3_target import S3Target, unique_prefix

from .support import MIB, Replicas, pull_and_verify, serve

ACCOUNT = "111122223333"


def _run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [DOCKYARD, *args], env=env, capture_output=True, text=True, timeout=300, check=False
    )


def _login(url: str, creds: Creds) -> str:
    token = client(url, "ecr", creds).get_authorization_token()["authorizationData"][0]["authorizationToken"]
    return f"Basic {token}"


def test_a_registry_moves_to_postgres_and_s3(
    tmp_path: Path, empty_postgres_url: str, s3_target: S3Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key in list(os.environ):
        if key.startswith("DOCKYARD_"):
            monkeypatch.delenv(key)
    env = dict(os.environ)
    source_dir = tmp_path / "single-node"
    init = _run(
        "admin", "init", "--json", "--account-id", "111122223333", "--data-dir", str(source_dir), env=env
    )
    assert init.returncode == 0, init.stderr

    root = json.loads(init.stdout)
    from identity.support import Creds

    root_creds = Creds(root["access_key_id"], root["secret_access_key"])
    with serve(Settings(data_dir=source_dir, access_log=False)) as url:
        _, user = new_user(client(url, "iam", root_creds), policy=allow("ecr:*"))
        old_password = _login(url, user)
        pushed = Replicas([url], old_password).push_image(
            "team/moved", "v1", layer_size=6 * MIB + 1, chunk=4 * MIB
        )

    s3 = s3_target.settings(unique_prefix())
    target = tmp_path / "target.toml"
    lines = [f'database_url = "{empty_postgres_url}"'] + [f'{k} = "{v}"' for k, v in s3.items()]
    target.write_text("\n".join(lines) + "\n")
    moved = _run("migrate-storage", "--data-dir", str(source_dir), "--to", str(target), env=env)
    assert moved.returncode == 0, moved.stdout + moved.stderr
    assert "blobs: 2 copied" in moved.stdout

    secret_keys = ",".join((source_dir / "secret-keys").read_text().split())
    monkeypatch.setenv("DOCKYARD_SECRET_KEYS", secret_keys)
    replica = Settings(data_dir=tmp_path / "replica", database_url=empty_postgres_url, access_log=False, **s3)
    with serve(replica) as url:
        assert pull_and_verify(url, old_password, "team/moved", "v1") == pushed.manifest  # an old password
        assert pull_and_verify(url, _login(url, user), "team/moved", "v1") == pushed.manifest  # an old key
        ecr = client(url, "ecr", root_creds)
        [image] = ecr.describe_images(repositoryName="team/moved")["imageDetails"]
        assert image["imageDigest"] == pushed.manifest
        ecr.create_repository(repositoryName="team/after-the-move")  # the id sequences moved past the copy

    again = _run("migrate-storage", "--data-dir", str(source_dir), "--to", str(target), env=env)
    assert again.returncode == 0, again.stderr
    assert "blobs: 0 copied (0 bytes), 2 already there" in again.stdout
