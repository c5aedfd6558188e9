"""Requests that must fail, each with the protocol's own error code, and each leaving no state changed."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError  # type: ignore[import-untyped]

from .conftest import Plane
from .support import Creds, allow, error_of, hand_signed, new_user, unique

IDENTITY_TABLES = (
    "accounts",
    "iam_users",
    "iam_groups",
    "iam_group_members",
    "iam_roles",
    "iam_access_keys",
    "iam_sessions",
    "iam_inline_policies",
    "iam_policies",
    "iam_policy_versions",
    "iam_attachments",
    "iam_oidc_providers",
)


def snapshot(plane: Plane) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every identity table, sessions included, read straight from the database."""
    with closing(sqlite3.connect(f"file:{plane.server.data_dir / 'dockyard.db'}?mode=ro", uri=True)) as db:
        return {table: sorted(db.execute(f"SELECT * FROM {table}").fetchall()) for table in IDENTITY_TABLES}


@contextmanager
def unchanged(plane: Plane) -> Iterator[None]:
    before = snapshot(plane)
    yield
    assert snapshot(plane) == before


def query_error(response: httpx.Response) -> tuple[str, int]:
    code = response.text.split("<Code>", 1)[1].split("</Code>", 1)[0]
    return code, response.status_code


def test_a_wrong_secret_is_signature_does_not_match(plane: Plane) -> None:
    with unchanged(plane), pytest.raises(ClientError) as caught:
        plane.iam(Creds(plane.root.key, "not-the-secret")).create_user(UserName=unique("x"))
    assert error_of(caught) == ("SignatureDoesNotMatch", 403)


@pytest.mark.parametrize("skew", [timedelta(minutes=-16), timedelta(minutes=16)], ids=["past", "future"])
def test_sixteen_minutes_of_clock_skew_is_refused(plane: Plane, skew: timedelta) -> None:
    params = {"Action": "CreateUser", "Version": "2010-05-08", "UserName": unique("skewed")}
    with unchanged(plane):
        response = hand_signed(plane.url, "iam", params, plane.root, when=datetime.now(UTC) + skew)
    assert query_error(response) == ("SignatureDoesNotMatch", 403)
    assert "Signature expired" in response.text or "Signature not yet current" in response.text
    fine = hand_signed(plane.url, "iam", params, plane.root, when=datetime.now(UTC) - timedelta(minutes=14))
    assert fine.status_code == 200, fine.text
    plane.iam().delete_user(UserName=params["UserName"])


def test_an_expired_presigned_request_is_refused(plane: Plane) -> None:
    params = {"Action": "CreateUser", "Version": "2010-05-08", "UserName": unique("presigned")}
    when = datetime.now(UTC) - timedelta(minutes=5)
    with unchanged(plane):
        response = hand_signed(plane.url, "iam", params, plane.root, when=when, presign_expires=60)
    assert query_error(response) == ("RequestExpired", 400)
    valid = hand_signed(plane.url, "iam", params, plane.root, when=datetime.now(UTC), presign_expires=60)
    assert valid.status_code == 200, valid.text
    plane.iam().delete_user(UserName=params["UserName"])


def test_a_deactivated_or_deleted_access_key_is_an_invalid_client_token(plane: Plane) -> None:
    iam = plane.iam()
    name, creds = new_user(iam, policy=allow("iam:*"))
    as_user = plane.iam(creds)
    as_user.get_user()
    iam.update_access_key(UserName=name, AccessKeyId=creds.key, Status="Inactive")
    with unchanged(plane), pytest.raises(ClientError) as caught:
        as_user.create_user(UserName=unique("x"))
    assert error_of(caught) == ("InvalidClientTokenId", 403)
    iam.update_access_key(UserName=name, AccessKeyId=creds.key, Status="Active")
    as_user.get_user()
    iam.delete_access_key(UserName=name, AccessKeyId=creds.key)
    with unchanged(plane), pytest.raises(ClientError) as caught:
        as_user.create_user(UserName=unique("x"))
    assert error_of(caught) == ("InvalidClientTokenId", 403)
    with pytest.raises(ClientError) as caught:
        plane.sts(Creds("AKIANOSUCHKEY0000000", "x")).get_caller_identity()
    assert error_of(caught) == ("InvalidClientTokenId", 403)


def test_a_trust_policy_that_does_not_allow_assume_role(plane: Plane) -> None:
    iam = plane.iam()
    name, creds = new_user(iam, policy=allow("sts:AssumeRole"))  # allowed by its own policy, not by the role
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "ecs-tasks.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    role = unique("tasks")
    role_arn = iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    with unchanged(plane), pytest.raises(ClientError) as caught:
        plane.sts(creds).assume_role(RoleArn=role_arn, RoleSessionName="sneaky")
    assert error_of(caught) == ("AccessDenied", 403)
    assert caught.value.response["Error"]["Message"] == (
        f"User: arn:aws:iam::{plane.account}:user/{name} is not authorized to perform: sts:AssumeRole on "
        f"resource: {role_arn}"
    )
    with pytest.raises(ClientError) as caught:
        plane.sts(creds).assume_role(RoleArn=role_arn + "-missing", RoleSessionName="sneaky")
    assert error_of(caught) == ("AccessDenied", 403)


MALFORMED: list[tuple[str, Callable[[Any, str], Any]]] = [
    (
        "put-user-policy",
        lambda iam, doc: iam.put_user_policy(UserName=ADMIN, PolicyName="p", PolicyDocument=doc),
    ),
    ("create-policy", lambda iam, doc: iam.create_policy(PolicyName=unique("p"), PolicyDocument=doc)),
    ("create-role", lambda iam, doc: iam.create_role(RoleName=unique("r"), AssumeRolePolicyDocument=doc)),
]
ADMIN = "malformed-target"


@pytest.mark.parametrize(("operation", "call"), MALFORMED, ids=[m[0] for m in MALFORMED])
@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("{not json", "Syntax errors in policy."),
        (json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Resource": "*"}]}), None),
        (
            json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Permit", "Action": "x:y", "Resource": "*"}],
                }
            ),
            None,
        ),
    ],
    ids=["not-json", "no-action", "bad-effect"],
)
def test_a_malformed_policy_document_is_refused(
    plane: Plane, operation: str, call: Callable[[Any, str], Any], document: str, message: str | None
) -> None:
    iam = plane.iam()
    if ADMIN not in [u["UserName"] for u in iam.list_users()["Users"]]:
        iam.create_user(UserName=ADMIN)
    with unchanged(plane), pytest.raises(ClientError) as caught:
        call(iam, document)
    assert error_of(caught) == ("MalformedPolicyDocument", 400)
    if message is not None:
        assert caught.value.response["Error"]["Message"] == message


def test_an_explicit_deny_overrides_an_allow(plane: Plane) -> None:
    iam = plane.iam()
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "iam:*", "Resource": "*"},
            {"Effect": "Deny", "Action": "iam:CreateUser", "Resource": "*"},
        ],
    }
    _name, creds = new_user(iam, policy=policy)
    as_user = plane.iam(creds)
    as_user.list_users()
    with unchanged(plane), pytest.raises(ClientError) as caught:
        as_user.create_user(UserName=unique("denied"))
    assert error_of(caught) == ("AccessDenied", 403)
    assert caught.value.response["Error"]["Message"].endswith(
        "with an explicit deny in an identity-based policy"
    )


def test_an_unsigned_or_foreign_request_is_refused(plane: Plane) -> None:
    body = {"Action": "CreateUser", "Version": "2010-05-08", "UserName": unique("anon")}
    with unchanged(plane):
        missing = httpx.post(plane.url + "/", data=body)
        wrong_region = hand_signed(
            plane.url, "iam", body, plane.root, when=datetime.now(UTC), region="ap-south-1"
        )
        wrong_service = hand_signed(plane.url, "s3", body, plane.root, when=datetime.now(UTC))
    assert query_error(missing) == ("MissingAuthenticationToken", 403)
    assert query_error(wrong_region) == ("SignatureDoesNotMatch", 403)
    assert query_error(wrong_service) == ("InvalidAction", 400)
    assert "does not serve 's3'" in wrong_service.text
    unknown = httpx.post(plane.url + "/", headers={"X-Amz-Target": "Nope_20200101.Do"}, content=b"{}")
    assert (unknown.status_code, unknown.json()["__type"]) == (400, "UnknownOperationException")


def test_iam_accepts_the_configured_region_and_us_east_1(plane: Plane) -> None:
    for region in ("us-east-1", "eu-west-1"):
        plane.iam(region=region).list_users(MaxItems=1)
        plane.sts(region=region).get_caller_identity()
