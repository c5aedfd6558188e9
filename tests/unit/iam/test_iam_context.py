"""Principals, the condition keys derived from them, and how Principal/NotPrincipal elements name them."""

# ruff: noqa: E501 -- one table row per line reads better than a wrapped one

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from dockyard.domain.iam import Principal, PrincipalType, RequestContext, parse_policy
from dockyard.domain.iam.principals import Match, PrincipalSpec

A = "111122223333"
B = "444455556666"


def test_user() -> None:
    user = Principal.user(A, "bob", path="/eng/", userid="AIDAEXAMPLE000000001", tags={"team": "blue"})
    assert user.arn == f"arn:aws:iam::{A}:user/eng/bob"
    assert user.context_keys() == {
        "aws:PrincipalArn": user.arn,
        "aws:PrincipalAccount": A,
        "aws:PrincipalType": "User",
        "aws:userid": "AIDAEXAMPLE000000001",
        "aws:username": "bob",
        "aws:PrincipalIsAWSService": "false",
        "aws:PrincipalTag/team": "blue",
    }


def test_assumed_role_session() -> None:
    session = Principal.assumed_role(A, "builder", "ci", role_path="/svc/", role_id="AROAEXAMPLE000000001")
    assert session.arn == f"arn:aws:sts::{A}:assumed-role/builder/ci"
    assert session.entity_arn == f"arn:aws:iam::{A}:role/svc/builder"
    keys = session.context_keys()
    assert keys["aws:PrincipalArn"] == session.entity_arn  # the role, not the session
    assert keys["aws:userid"] == "AROAEXAMPLE000000001:ci"
    assert keys["aws:PrincipalType"] == "AssumedRole"
    assert keys["aws:RoleSessionName"] == "ci"
    assert "aws:username" not in keys


def test_root_federated_anonymous_and_service() -> None:
    root = Principal.root(A).context_keys()
    assert (root["aws:PrincipalType"], root["aws:userid"], root["aws:PrincipalArn"]) == (
        "Account",
        A,
        f"arn:aws:iam::{A}:root",
    )
    assert "aws:username" not in root
    federated = Principal.federated_user(A, "fed").context_keys()
    assert (federated["aws:PrincipalType"], federated["aws:userid"]) == ("FederatedUser", f"{A}:fed")
    anonymous = Principal.anonymous().context_keys()
    assert anonymous == {
        "aws:PrincipalType": "Anonymous",
        "aws:userid": "anonymous",
        "aws:PrincipalIsAWSService": "false",
    }
    service = Principal.service("ecr.amazonaws.com").context_keys()
    assert service == {"aws:PrincipalIsAWSService": "true", "aws:PrincipalServiceName": "ecr.amazonaws.com"}


@pytest.mark.parametrize(
    ("arn", "kind", "expected"),
    [
        (f"arn:aws:iam::{A}:root", PrincipalType.ROOT, Principal.root(A)),
        (f"arn:aws:iam::{A}:user/bob", PrincipalType.USER, Principal.user(A, "bob")),
        (f"arn:aws:iam::{A}:user/a/b/bob", PrincipalType.USER, Principal.user(A, "bob", path="/a/b/")),
        (f"arn:aws:iam::{A}:role/r", PrincipalType.ROLE, Principal.role(A, "r")),
        (
            f"arn:aws:sts::{A}:assumed-role/r/s",
            PrincipalType.ASSUMED_ROLE,
            Principal.assumed_role(A, "r", "s"),
        ),
        (f"arn:aws:sts::{A}:federated-user/f", PrincipalType.FEDERATED, Principal.federated_user(A, "f")),
        (f"arn:aws-cn:iam::{A}:user/bob", PrincipalType.USER, Principal.user(A, "bob", partition="aws-cn")),
    ],
)
def test_from_arn(arn: str, kind: PrincipalType, expected: Principal) -> None:
    principal = Principal.from_arn(arn)
    assert principal.type is kind
    assert principal == expected
    assert principal.arn == arn


@pytest.mark.parametrize(
    "arn",
    [
        "bob",
        f"arn:aws:iam::{A}:group/g",
        f"arn:aws:sts::{A}:assumed-role/r",
        f"arn:aws:iam::{A}:user/",
        "arn:aws:iam::1:root",
    ],
)
def test_from_arn_rejects_what_is_no_caller(arn: str) -> None:
    with pytest.raises(ValueError, match="not a principal ARN"):
        Principal.from_arn(arn)


def test_from_arn_keeps_the_user_id_and_tags() -> None:
    session = Principal.from_arn(
        f"arn:aws:sts::{A}:assumed-role/r/s", userid="AROAEXAMPLE000000001:s", tags={"k": "v"}
    )
    assert session.userid == "AROAEXAMPLE000000001:s"
    assert session.tags == {"k": "v"}


def test_request_context_keys() -> None:
    context = RequestContext(
        Principal.user(A, "bob"),
        "ecr:BatchGetImage",
        f"arn:aws:ecr:us-east-1:{B}:repository/app",
        keys={"AWS:SourceIp": "203.0.113.1", "aws:TagKeys": ["a", "b"], "empty": []},
        resource_tags={"env": "prod"},
        now=datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
    )
    assert context.get("aws:sourceip") == ("203.0.113.1",)
    assert context.get("aws:TagKeys") == ("a", "b")
    assert context.get("empty") is None
    assert context.get("missing") is None
    assert context.get("aws:ResourceAccount") == (B,)
    assert context.get("ECR:ResourceTag/env") == ("prod",)
    assert context.get("aws:ResourceTag/env") == ("prod",)
    assert context.get("aws:CurrentTime") == ("2024-01-02T03:04:05Z",)
    assert context.get("aws:EpochTime") == (str(int(datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC).timestamp())),)
    assert context.resolve("aws:username") == "bob"
    assert context.resolve("aws:TagKeys") is None  # multivalued keys are no policy variables
    assert context.target_account == B
    assert context.is_cross_account
    assert context.service == "ecr"


def test_target_account() -> None:
    bob = Principal.user(A, "bob")
    assert RequestContext(bob, "s3:GetObject", "arn:aws:s3:::bucket/key").target_account == A
    assert RequestContext(bob, "ecr:GetAuthorizationToken").target_account == A
    assert RequestContext(bob, "s3:GetObject", "arn:aws:s3:::b", resource_account=B).target_account == B
    assert not RequestContext(
        Principal.anonymous(), "ecr:BatchGetImage", f"arn:aws:ecr:us-east-1:{A}:repository/x"
    ).is_cross_account


def spec(value: object, *, negated: bool = False) -> PrincipalSpec:
    key = "NotPrincipal" if negated else "Principal"
    policy = parse_policy({"Statement": {"Effect": "Deny", key: value, "Action": "*"}}, "resource")
    result = policy.statements[0].principal
    assert result is not None
    return result


SESSION = Principal.assumed_role(A, "builder", "ci", role_id="AROAEXAMPLEBUILDER01")
MATCHES = [
    ("*", Principal.anonymous(), Match.DIRECT),
    ({"AWS": "*"}, Principal.service("ecr.amazonaws.com"), Match.DIRECT),
    ({"AWS": A}, Principal.user(A, "bob"), Match.ACCOUNT),
    ({"AWS": f"arn:aws:iam::{A}:root"}, SESSION, Match.ACCOUNT),
    ({"AWS": A}, Principal.user(B, "bob"), Match.NONE),
    ({"AWS": A}, Principal.anonymous(), Match.NONE),
    ({"AWS": f"arn:aws:iam::{A}:user/bob"}, Principal.user(A, "bob"), Match.DIRECT),
    ({"AWS": f"arn:aws:iam::{A}:user/Bob"}, Principal.user(A, "bob"), Match.NONE),
    ({"AWS": f"arn:aws:iam::{A}:user/bob"}, Principal.federated_user(A, "f", user_arn=f"arn:aws:iam::{A}:user/bob"), Match.ENTITY),
    ({"AWS": f"arn:aws:iam::{A}:role/builder"}, SESSION, Match.ENTITY),
    ({"AWS": f"arn:aws:iam::{A}:role/builder"}, Principal.role(A, "builder"), Match.ENTITY),
    ({"AWS": f"arn:aws:iam::{A}:role/other"}, SESSION, Match.NONE),
    ({"AWS": f"arn:aws:sts::{A}:assumed-role/builder/ci"}, SESSION, Match.DIRECT),
    ({"AWS": f"arn:aws:sts::{A}:assumed-role/builder/cd"}, SESSION, Match.NONE),
    ({"AWS": "AROAEXAMPLEBUILDER01"}, SESSION, Match.ENTITY),
    ({"AWS": [B, f"arn:aws:sts::{A}:assumed-role/builder/ci", A]}, SESSION, Match.DIRECT),
    ({"Service": "ecr.amazonaws.com"}, Principal.service("ecr.amazonaws.com"), Match.DIRECT),
    ({"Service": "ecr.amazonaws.com"}, Principal.service("ec2.amazonaws.com"), Match.NONE),
    ({"Service": "ecr.amazonaws.com"}, Principal.user(A, "bob"), Match.NONE),
    ({"Federated": "cognito-identity.amazonaws.com"}, Principal(PrincipalType.ANONYMOUS, "anonymous", identity_provider="cognito-identity.amazonaws.com"), Match.DIRECT),
    ({"CanonicalUser": "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be"}, Principal.user(A, "bob"), Match.NONE),
]  # fmt: skip


@pytest.mark.parametrize(("value", "principal", "expected"), MATCHES)
def test_principal_match(value: object, principal: Principal, expected: Match) -> None:
    assert spec(value).match(principal) is expected


EXCLUDES = [
    ({"AWS": [f"arn:aws:iam::{A}:user/bob", A]}, Principal.user(A, "bob"), True),
    ({"AWS": [f"arn:aws:iam::{A}:user/bob", f"arn:aws:iam::{A}:root"]}, Principal.user(A, "bob"), True),
    ({"AWS": f"arn:aws:iam::{A}:user/bob"}, Principal.user(A, "bob"), False),  # the account is not named
    ({"AWS": A}, Principal.user(A, "bob"), False),  # nor is the user
    ({"AWS": A}, Principal.root(A), True),
    ({"AWS": [f"arn:aws:sts::{A}:assumed-role/builder/ci", f"arn:aws:iam::{A}:role/builder", A]}, SESSION, True),
    ({"AWS": [f"arn:aws:sts::{A}:assumed-role/builder/ci", A]}, SESSION, False),
    ("*", Principal.anonymous(), True),
    ({"AWS": A}, Principal.anonymous(), False),
    ({"Service": "ecr.amazonaws.com"}, Principal.service("ecr.amazonaws.com"), True),
    ({"Service": "ecr.amazonaws.com"}, Principal.service("ec2.amazonaws.com"), False),
]  # fmt: skip


@pytest.mark.parametrize(("value", "principal", "expected"), EXCLUDES)
def test_not_principal_excludes(value: object, principal: Principal, expected: bool) -> None:
    assert spec(value, negated=True).excludes(principal) is expected
