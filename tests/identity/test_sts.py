"""STS through boto3: who am I as root, a user, an assumed role and a web identity; AssumeRole's checks."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import boto3  # type: ignore[import-untyped]
import pytest
from botocore import UNSIGNED  # type: ignore[import-untyped]
from botocore.config import Config  # type: ignore[import-untyped]
from botocore.exceptions import ClientError  # type: ignore[import-untyped]
from cryptography.hazmat.primitives.asymmetric import rsa

from .conftest import Issuer, Plane
from .support import Creds, allow, error_of, new_user, unique


def trust(principal: dict[str, Any], action: str = "sts:AssumeRole", **condition: Any) -> str:
    statement: dict[str, Any] = {"Effect": "Allow", "Principal": principal, "Action": action}
    if condition:
        statement["Condition"] = condition
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def make_role(plane: Plane, trust_policy: str, *, policy: dict[str, Any] | None = None) -> str:
    iam = plane.iam()
    name = unique("role")
    arn: str = iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust_policy)["Role"]["Arn"]
    if policy is not None:
        iam.put_role_policy(RoleName=name, PolicyName="inline", PolicyDocument=json.dumps(policy))
    return arn


def test_caller_identity_of_the_root_user_and_an_iam_user(plane: Plane) -> None:
    root = plane.sts().get_caller_identity()
    assert (root["Account"], root["Arn"], root["UserId"]) == (
        plane.account,
        f"arn:aws:iam::{plane.account}:root",
        plane.account,
    )
    name, creds = new_user(plane.iam())  # GetCallerIdentity needs no permission
    me = plane.sts(creds).get_caller_identity()
    user = plane.iam().get_user(UserName=name)["User"]
    assert (me["Arn"], me["UserId"]) == (user["Arn"], user["UserId"])


def test_assume_role_issues_expiring_temporary_credentials(plane: Plane) -> None:
    name, creds = new_user(plane.iam())
    user_arn = f"arn:aws:iam::{plane.account}:user/{name}"
    role_arn = make_role(plane, trust({"AWS": user_arn}), policy=allow("iam:ListRoles", "iam:ListUsers"))
    assumed = plane.sts(creds).assume_role(RoleArn=role_arn, RoleSessionName="deploy", DurationSeconds=900)
    credentials = assumed["Credentials"]
    assert credentials["AccessKeyId"].startswith("ASIA")
    assert credentials["SessionToken"]
    remaining = (credentials["Expiration"] - datetime.now(UTC)).total_seconds()
    assert 850 < remaining <= 900
    role_name = role_arn.rsplit("/", 1)[1]
    session_arn = f"arn:aws:sts::{plane.account}:assumed-role/{role_name}/deploy"
    assert assumed["AssumedRoleUser"]["Arn"] == session_arn
    temporary = Creds.of(credentials)
    me = plane.sts(temporary).get_caller_identity()
    assert me["Arn"] == session_arn
    assert me["UserId"] == assumed["AssumedRoleUser"]["AssumedRoleId"]
    assert me["UserId"].startswith("AROA")
    assert me["UserId"].endswith(":deploy")
    assert plane.iam(temporary).list_roles()["Roles"]  # the role's own policy applies to its sessions
    without_token = Creds(temporary.key, temporary.secret)
    with pytest.raises(ClientError) as caught:
        plane.sts(without_token).get_caller_identity()
    assert error_of(caught) == ("InvalidClientTokenId", 403)


def test_a_session_policy_narrows_the_role(plane: Plane) -> None:
    name, creds = new_user(plane.iam())
    role_arn = make_role(
        plane,
        trust({"AWS": f"arn:aws:iam::{plane.account}:user/{name}"}),
        policy=allow("iam:ListRoles", "iam:ListUsers"),
    )
    assumed = plane.sts(creds).assume_role(
        RoleArn=role_arn, RoleSessionName="narrow", Policy=json.dumps(allow("iam:ListUsers"))
    )
    iam = plane.iam(Creds.of(assumed["Credentials"]))
    iam.list_users()
    with pytest.raises(ClientError) as caught:
        iam.list_roles()
    assert error_of(caught) == ("AccessDenied", 403)
    assert "because no session policy allows the iam:ListRoles action" in str(caught.value)


def test_external_id_condition_and_account_principal(plane: Plane) -> None:
    _, creds = new_user(plane.iam(), policy=allow("sts:AssumeRole"))
    role_arn = make_role(
        plane,
        trust({"AWS": plane.account}, StringEquals={"sts:ExternalId": "s3cr3t-id"}),
    )
    sts = plane.sts(creds)
    with pytest.raises(ClientError) as caught:
        sts.assume_role(RoleArn=role_arn, RoleSessionName="xid")
    assert error_of(caught) == ("AccessDenied", 403)
    with pytest.raises(ClientError) as caught:
        sts.assume_role(RoleArn=role_arn, RoleSessionName="xid", ExternalId="wrong-id")
    assert error_of(caught) == ("AccessDenied", 403)
    assumed = sts.assume_role(RoleArn=role_arn, RoleSessionName="xid", ExternalId="s3cr3t-id")
    assert assumed["AssumedRoleUser"]["Arn"].endswith("/xid")


def test_duration_beyond_the_roles_maximum_is_a_validation_error(plane: Plane) -> None:
    name, creds = new_user(plane.iam())
    role_arn = make_role(plane, trust({"AWS": f"arn:aws:iam::{plane.account}:user/{name}"}))
    with pytest.raises(ClientError) as caught:
        plane.sts(creds).assume_role(RoleArn=role_arn, RoleSessionName="long", DurationSeconds=7200)
    assert error_of(caught) == ("ValidationError", 400)
    assert "MaxSessionDuration" in caught.value.response["Error"]["Message"]


def test_the_root_user_cannot_assume_roles(plane: Plane) -> None:
    role_arn = make_role(plane, trust({"AWS": plane.account}))
    with pytest.raises(ClientError) as caught:
        plane.sts().assume_role(RoleArn=role_arn, RoleSessionName="root")
    assert error_of(caught) == ("AccessDenied", 403)


def web_identity_role(plane: Plane, issuer: Issuer, **condition: Any) -> str:
    iam = plane.iam()
    provider_arn = f"arn:aws:iam::{plane.account}:oidc-provider/{issuer.host}"
    existing = [p["Arn"] for p in iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]]
    if provider_arn not in existing:
        iam.create_open_id_connect_provider(Url=issuer.url, ClientIDList=["dockyard"], ThumbprintList=[])
    conditions = condition or {"StringEquals": {f"{issuer.host}:aud": "dockyard"}}
    return make_role(
        plane,
        trust({"Federated": provider_arn}, "sts:AssumeRoleWithWebIdentity", **conditions),
        policy=allow("iam:ListRoles"),
    )


def unsigned_sts(plane: Plane) -> Any:
    """An STS client that signs nothing, as for AssumeRoleWithWebIdentity on AWS."""
    config = Config(signature_version=UNSIGNED, retries={"total_max_attempts": 1})
    return boto3.client("sts", endpoint_url=plane.url, region_name="eu-west-1", config=config)


def test_web_identity_federation_with_an_oidc_provider(plane: Plane, issuer: Issuer) -> None:
    role_arn = web_identity_role(plane, issuer)
    answer = unsigned_sts(plane).assume_role_with_web_identity(
        RoleArn=role_arn, RoleSessionName="ci-run-7", WebIdentityToken=issuer.token()
    )
    assert answer["SubjectFromWebIdentityToken"] == "repo:acme/app"
    assert (answer["Provider"], answer["Audience"]) == (issuer.url, "dockyard")
    temporary = Creds.of(answer["Credentials"])
    me = plane.sts(temporary).get_caller_identity()
    assert me["Arn"] == f"arn:aws:sts::{plane.account}:assumed-role/{role_arn.rsplit('/', 1)[1]}/ci-run-7"
    assert plane.iam(temporary).list_roles()["Roles"]
    assert "/keys" in issuer.requests


@pytest.mark.parametrize(
    ("claims", "signed_by_other_key", "code"),
    [
        ({"aud": "someone-else"}, False, "InvalidIdentityToken"),
        ({}, True, "InvalidIdentityToken"),
        ({"iss": "http://127.0.0.1:1"}, False, "InvalidIdentityToken"),
        ({"exp": 1_000_000_000, "iat": 999_999_000}, False, "ExpiredTokenException"),
        ({"sub": "repo:evil/app"}, False, "AccessDenied"),
    ],
    ids=["wrong-audience", "wrong-signature", "unknown-issuer", "expired", "subject-not-trusted"],
)
def test_web_identity_tokens_that_are_refused(
    plane: Plane, issuer: Issuer, claims: dict[str, Any], signed_by_other_key: bool, code: str
) -> None:
    role_arn = web_identity_role(plane, issuer, StringLike={f"{issuer.host}:sub": "repo:acme/*"})
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048) if signed_by_other_key else None
    token = issuer.token(key=other, **claims)
    with pytest.raises(ClientError) as caught:
        unsigned_sts(plane).assume_role_with_web_identity(
            RoleArn=role_arn, RoleSessionName="ci", WebIdentityToken=token
        )
    assert error_of(caught)[0] == code
