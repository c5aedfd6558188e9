"""`dockyard admin`: the first account and its root credentials, more accounts, and server key rotation
with a server running. Secrets are sealed at rest and never logged."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from botocore.exceptions import ClientError  # type: ignore[import-untyped]
from cryptography.fernet import Fernet, InvalidToken
from typer.testing import CliRunner, Result

from dockyard.cli import app as cli

from .conftest import Plane
from .support import Creds, Server, admin, client, error_of, init_account, unique


def sealed_secrets(data_dir: Path) -> list[bytes]:
    with closing(sqlite3.connect(data_dir / "dockyard.db")) as db:
        rows = db.execute("SELECT secret FROM iam_access_keys").fetchall()
        rows += db.execute("SELECT secret FROM iam_sessions").fetchall()
        rows += db.execute("SELECT token FROM iam_sessions").fetchall()
    return [bytes(row[0]) for row in rows]


def dockyard_admin(data_dir: Path, *args: str, expect: int = 0) -> Result:
    """``dockyard admin …`` in this process (the fixtures run it as a real process too)."""
    result = CliRunner().invoke(cli, ["admin", *args, "--data-dir", str(data_dir)])
    assert result.exit_code == expect, result.output
    return result


def test_init_prints_root_credentials_once_and_refuses_to_run_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data_dir = tmp_path / "data"
    done = dockyard_admin(data_dir, "init", "--account-id", "123456789012")
    assert "123456789012" in done.stdout
    assert "shown only this once" in done.stdout
    assert "123456789012.dkr.dockyard.localhost" in done.stdout
    again = dockyard_admin(data_dir, "init", "--json", expect=1)
    assert "already initialised" in again.stderr
    assert again.stdout == ""
    monkeypatch.setenv("DOCKYARD_DOMAIN", "registry.example.test")
    created = json.loads(dockyard_admin(data_dir, "create-account", "--json").stdout)
    assert set(created) == {"account_id", "access_key_id", "secret_access_key", "registry_host", "region"}
    assert created["registry_host"] == f"{created['account_id']}.dkr.registry.example.test"
    duplicate = dockyard_admin(data_dir, "create-account", "--account-id", "123456789012", expect=1)
    assert "already exists" in duplicate.stderr
    assert "12 digits" in dockyard_admin(data_dir, "create-account", "--account-id", "12345", expect=1).stderr
    assert (data_dir / "secret-keys").stat().st_mode & 0o777 == 0o600


def test_secrets_are_sealed_at_rest_and_never_logged(plane: Plane) -> None:
    iam = plane.iam()
    name = unique("sealed")
    iam.create_user(UserName=name)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    with pytest.raises(ClientError):  # a request signed with the key: denied, and logged
        plane.iam(Creds.of(key)).list_users()
    with pytest.raises(ClientError):  # a bad signature is logged too, without what was sent
        plane.iam(Creds(key["AccessKeyId"], key["SecretAccessKey"][::-1])).list_users()
    data_dir = plane.server.data_dir
    stored = b"".join(p.read_bytes() for p in data_dir.glob("dockyard.db*"))
    for secret in (key["SecretAccessKey"], plane.root.secret):
        assert secret.encode() not in stored
        assert secret not in plane.server.log.read_text()
    keys = [line for line in (data_dir / "secret-keys").read_text().splitlines() if line]
    box = Fernet(keys[0].encode())
    assert key["SecretAccessKey"] in {box.decrypt(sealed).decode() for sealed in sealed_secrets(data_dir)}


def test_rotate_keys_reseals_every_secret_while_a_server_keeps_serving(
    tmp_path: Path, sqlite_template: Path
) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "dockyard.db").write_bytes(sqlite_template.read_bytes())
    server = Server(data_dir, wait=False)
    try:
        root = init_account(data_dir)
        server.wait_ready()
        iam = client(server.url, "iam", root)
        name = unique("rotated")
        iam.create_user(UserName=name)
        user = Creds.of(iam.create_access_key(UserName=name)["AccessKey"])
        client(server.url, "sts", user).get_caller_identity()
        old_keys = (data_dir / "secret-keys").read_text().split()

        done = admin(data_dir, "rotate-keys")  # a real process, beside the running server
        assert done.returncode == 0, done.stderr
        assert "re-encrypted 2 secrets" in done.stdout
        assert "old keys are retired" in done.stdout
        new_keys = (data_dir / "secret-keys").read_text().split()
        assert len(new_keys) == 1
        assert new_keys[0] not in old_keys
        newest, retired = Fernet(new_keys[0].encode()), Fernet(old_keys[0].encode())
        for sealed in sealed_secrets(data_dir):
            newest.decrypt(sealed)
            with pytest.raises(InvalidToken):
                retired.decrypt(sealed)

        client(server.url, "sts", user).get_caller_identity()  # cached secret, then the reloaded keys
        iam.update_access_key(UserName=name, AccessKeyId=user.key, Status="Active")  # drops every cache
        assert client(server.url, "sts", user).get_caller_identity()["Arn"].endswith(f":user/{name}")
        fresh = Creds.of(iam.create_access_key(UserName=name)["AccessKey"])  # sealed under the new key
        client(server.url, "sts", fresh).get_caller_identity()
        newest.decrypt(sealed_secrets(data_dir)[-1])
    finally:
        server.stop()


def test_accounts_are_separate_and_roles_can_be_shared_across_them(plane: Plane) -> None:
    other_root = init_account(plane.server.data_dir, "444455556666", command="create-account")
    other_iam = plane.iam(other_root)
    assert plane.sts(other_root).get_caller_identity()["Account"] == "444455556666"
    shared = unique("shared")
    plane.iam().create_user(UserName=shared)
    with pytest.raises(ClientError) as caught:
        other_iam.get_user(UserName=shared)
    assert error_of(caught) == ("NoSuchEntity", 404)
    trust = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": "444455556666"}, "Action": "sts:AssumeRole"}]}  # fmt: skip
    role_arn = plane.iam().create_role(RoleName=shared, AssumeRolePolicyDocument=json.dumps(trust))["Role"][
        "Arn"
    ]
    visitor = unique("visitor")
    other_iam.create_user(UserName=visitor)
    other_iam.put_user_policy(
        UserName=visitor,
        PolicyName="assume",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": role_arn}],
            }
        ),
    )
    creds = Creds.of(other_iam.create_access_key(UserName=visitor)["AccessKey"])
    assumed = plane.sts(creds).assume_role(RoleArn=role_arn, RoleSessionName="visit")
    me = plane.sts(Creds.of(assumed["Credentials"])).get_caller_identity()
    assert (me["Account"], me["Arn"]) == (
        plane.account,
        f"arn:aws:sts::{plane.account}:assumed-role/{shared}/visit",
    )
