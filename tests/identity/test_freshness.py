"""A change made through one server process takes effect on another within a second: two `dockyard serve`
processes share a data directory, and each identity write bumps the change signal both caches watch."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError  # type: ignore[import-untyped]

from .support import Creds, Server, allow, client, init_account, unique

ACCOUNT_ARN = "arn:aws:iam::111122223333"


@pytest.fixture
def two_servers(tmp_path: Path, sqlite_template: Path) -> Iterator[tuple[Server, Server, Creds]]:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    shutil.copyfile(sqlite_template, data_dir / "dockyard.db")
    first, second = Server(data_dir, wait=False), Server(data_dir, wait=False)
    try:
        root = init_account(data_dir)
        first.wait_ready()
        second.wait_ready()
        yield first, second, root
    finally:
        first.stop()
        second.stop()


def refused_within(seconds: float, call: Callable[[], Any]) -> tuple[str, float]:
    """Call until it fails; the error code and how long after the start it first failed."""
    start = time.monotonic()
    while True:
        try:
            call()
        except ClientError as exc:
            return exc.response["Error"]["Code"], time.monotonic() - start
        if time.monotonic() - start > seconds:
            raise AssertionError(f"still allowed after {seconds} s")
        time.sleep(0.02)


def test_detach_key_and_trust_changes_reach_the_other_process_within_a_second(
    two_servers: tuple[Server, Server, Creds],
) -> None:
    first, second, root = two_servers
    admin = client(first.url, "iam", root)
    name = unique("reader")
    admin.create_user(UserName=name)
    creds = Creds.of(admin.create_access_key(UserName=name)["AccessKey"])
    arn = admin.create_policy(PolicyName="readers", PolicyDocument=json.dumps(allow("iam:ListUsers")))[
        "Policy"
    ]["Arn"]
    admin.attach_user_policy(UserName=name, PolicyArn=arn)
    elsewhere = client(second.url, "iam", creds)
    for _ in range(3):  # the second process now has the key, the principal and its policies cached
        elsewhere.list_users()

    admin.detach_user_policy(UserName=name, PolicyArn=arn)
    code, elapsed = refused_within(1.0, elsewhere.list_users)
    assert code == "AccessDenied"
    assert elapsed < 1.0

    admin.attach_user_policy(UserName=name, PolicyArn=arn)
    elsewhere.list_users()
    admin.create_policy_version(
        PolicyArn=arn, PolicyDocument=json.dumps(allow("iam:GetUser")), SetAsDefault=True
    )
    code, elapsed = refused_within(1.0, elsewhere.list_users)
    assert code == "AccessDenied"
    assert elapsed < 1.0

    admin.set_default_policy_version(PolicyArn=arn, VersionId="v1")
    elsewhere.list_users()
    admin.update_access_key(UserName=name, AccessKeyId=creds.key, Status="Inactive")
    code, elapsed = refused_within(1.0, elsewhere.list_users)
    assert code == "InvalidClientTokenId"
    assert elapsed < 1.0

    admin.update_access_key(UserName=name, AccessKeyId=creds.key, Status="Active")
    statement = {
        "Effect": "Allow",
        "Action": "sts:AssumeRole",
        "Principal": {"AWS": f"{ACCOUNT_ARN}:user/{name}"},
    }
    trust: dict[str, Any] = {"Version": "2012-10-17", "Statement": [statement]}
    role_arn = admin.create_role(RoleName=unique("r"), AssumeRolePolicyDocument=json.dumps(trust))["Role"][
        "Arn"
    ]
    sts = client(second.url, "sts", creds)
    sts.assume_role(RoleArn=role_arn, RoleSessionName="one")
    trust["Statement"][0]["Principal"] = {"Service": "ecs-tasks.amazonaws.com"}
    admin.update_assume_role_policy(RoleName=role_arn.rsplit("/", 1)[1], PolicyDocument=json.dumps(trust))
    code, elapsed = refused_within(1.0, lambda: sts.assume_role(RoleArn=role_arn, RoleSessionName="two"))
    assert code == "AccessDenied"
    assert elapsed < 1.0
