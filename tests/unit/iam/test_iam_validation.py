"""Policy documents IAM refuses, with the message IAM answers; and the documents it accepts.

The expected texts are IAM's own answers to CreatePolicy / CreateRole / PutRolePolicy (the same ones moto
checks its validator against), so a client sees what AWS would have told it.
"""

# ruff: noqa: E501 -- one table row per line reads better than a wrapped one

from __future__ import annotations

import json
from typing import Any

import pytest

from dockyard.domain.iam import MalformedPolicyDocument, PolicyKind, parse_policy
from dockyard.domain.iam.errors import (
    ACTION_COLONS,
    ACTION_VENDOR,
    DUPLICATE_SID,
    LEGACY_PARSING,
    MISSING_ACTIONS,
    MISSING_PRINCIPAL,
    MISSING_RESOURCES,
    PRINCIPAL_FORBIDDEN,
    RESOURCE_FORBIDDEN,
    RESOURCE_VENDOR,
    SYNTAX_ERRORS,
    TRUST_ACTIONS,
    VERSION_TOO_OLD,
)

V = "2012-10-17"
BUCKET = "arn:aws:s3:::example_bucket"


def doc(statement: Any, **top: Any) -> dict[str, Any]:
    return {"Version": V, "Statement": statement, **top}


def allow(**fields: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": BUCKET, **fields}


def without(statement: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {key: value for key, value in statement.items() if key not in keys}


IDENTITY_CASES: list[tuple[str, Any, str]] = [
    ("not json", "This is not a json document", SYNTAX_ERRORS),
    ("json array", "[]", SYNTAX_ERRORS),
    ("NaN is not JSON", '{"Version": NaN}', SYNTAX_ERRORS),
    ("unknown version", doc(allow(), Version="2013-10-17"), SYNTAX_ERRORS),
    ("no statement", {"Version": V}, SYNTAX_ERRORS),
    ("empty statement list", doc([]), SYNTAX_ERRORS),
    ("statement not an object", doc(["afd"]), SYNTAX_ERRORS),
    ("unknown top-level field", doc(allow(), **{"Extra field": "value"}), SYNTAX_ERRORS),
    ("unknown statement field", doc(allow(**{"Extra field": "value"})), SYNTAX_ERRORS),
    ("Id is a list", doc(allow(), Id=["x"]), SYNTAX_ERRORS),
    ("Id is an object", doc(allow(), Id={}), SYNTAX_ERRORS),
    ("Effect unknown", doc(allow(Effect="invalid")), SYNTAX_ERRORS),
    ("Effect missing", doc(without(allow(), "Effect")), SYNTAX_ERRORS),
    ("Action and NotAction", doc(allow(NotAction="iam:dsf")), SYNTAX_ERRORS),
    ("Resource and NotResource", doc(allow(NotResource="*")), SYNTAX_ERRORS),
    ("Action is an object", doc(allow(Action={})), SYNTAX_ERRORS),
    ("Action holds a list", doc(allow(Action=[[]])), SYNTAX_ERRORS),
    ("Resource is an object", doc(allow(Resource={"a": BUCKET})), SYNTAX_ERRORS),
    ("Resource holds an object", doc(allow(Resource=["adfdf", {}])), SYNTAX_ERRORS),
    ("Sid is an object", doc(allow(Sid={})), SYNTAX_ERRORS),
    ("Sid is a list", doc(allow(Sid=[])), SYNTAX_ERRORS),
    ("Condition is a list", doc(allow(Condition=[])), SYNTAX_ERRORS),
    ("Condition is a string", doc(allow(Condition="a")), SYNTAX_ERRORS),
    ("operator block not an object", doc(allow(Condition={"a": "b"})), SYNTAX_ERRORS),
    ("operator block a string", doc(allow(Condition={"DateGreaterThan": "b"})), SYNTAX_ERRORS),
    ("operator block a list", doc(allow(Condition={"DateGreaterThan": []})), SYNTAX_ERRORS),
    ("condition value an object", doc(allow(Condition={"DateGreaterThan": {"a": {}}})), SYNTAX_ERRORS),
    ("condition value null", doc(allow(Condition={"StringEquals": {"a": None}})), SYNTAX_ERRORS),
    ("unknown operator", doc(allow(Condition={"x": {"a": "1"}})), SYNTAX_ERRORS),
    ("double colon qualifier", doc(allow(Condition={"ForAnyValue::StringEqualsIfExists": {"a": "b"}})), SYNTAX_ERRORS),
    ("unknown qualifier", doc(allow(Condition={"ForSomeValues:StringEquals": {"a": "b"}})), SYNTAX_ERRORS),
    ("2008 version when 2012 required", doc(allow(), Version="2008-10-17"), VERSION_TOO_OLD),
    ("lower-case effect", doc(allow(Effect="denY")), LEGACY_PARSING),
    ("mixed-case effect", doc([allow(Effect="aLLow", Sid="a"), {"Sid": "a", "Effect": "Allow"}]), LEGACY_PARSING),
    ("date not a date", doc(allow(Condition={"DateGreaterThan": {"a": "sdfdsf"}})), LEGACY_PARSING),
    ("date month 13", doc(allow(Condition={"DateLessThanEquals": {"a": "234-13"}})), LEGACY_PARSING),
    ("date zone +1", doc(allow(Condition={"DateLessThan": {"a": "2016-12-13t2:00:00.593194+1"}})), LEGACY_PARSING),
    ("date ten fraction digits", doc(allow(Condition={"DateLessThan": {"a": "2016-12-13t2:00:00.1999999999+10:59"}})), LEGACY_PARSING),
    ("epoch past 2^63-1", doc(allow(Condition={"DateLessThan": {"a": "9223372036854775808"}})), LEGACY_PARSING),
    ("date boolean", doc(allow(Condition={"DateLessThan": {"a": True}})), LEGACY_PARSING),
    ("resource with 4 colons", doc(allow(Resource="arn:aws:s3::example_bucket")), LEGACY_PARSING),
    ("resource without service", doc(allow(Resource="arn:aws::::example_bucket")), LEGACY_PARSING),
    ("resource short with ::", doc(allow(Resource="arn:aws::fdsasf")), LEGACY_PARSING),
    ("NotResource with 4 colons", doc(without(allow(NotResource="arn:aws:s3::b"), "Resource")), LEGACY_PARSING),
    ("duplicate Sid", doc([allow(Sid="sdf"), allow(Sid="sdf")]), DUPLICATE_SID),
    ("no Action", doc(without(allow(), "Action")), MISSING_ACTIONS),
    ("empty Action", doc(allow(Action=[])), MISSING_ACTIONS),
    ("only Effect", doc({"Effect": "Allow"}), MISSING_ACTIONS),
    ("second statement has no Action", doc([{"Effect": "Deny"}, allow()]), MISSING_ACTIONS),
    ("resource not an ARN", doc(allow(Resource="invalid resource")), 'Resource invalid resource must be in ARN format or "*".'),
    ("empty resource", doc(allow(Resource="")), 'Resource  must be in ARN format or "*".'),
    ("resource in a list", doc(allow(Resource=["adf"])), 'Resource adf must be in ARN format or "*".'),
    ("bad partition", doc(allow(Resource="a:bsdfdsafsad")), 'Partition "bsdfdsafsad" is not valid for resource "arn:bsdfdsafsad:*:*:*:*".'),
    ("bad partition, service", doc(allow(Resource="a:b:cadfsdf")), 'Partition "b" is not valid for resource "arn:b:cadfsdf:*:*:*".'),
    ("bad partition, long", doc(allow(Resource="a:b:c:d:e:f:g:h")), 'Partition "b" is not valid for resource "arn:b:c:d:e:f:g:h".'),
    ("arn prefix missing", doc(allow(Resource="aws:s3:::example_bucket")), 'Partition "s3" is not valid for resource "arn:s3:::example_bucket:*".'),
    ("partition error", doc(allow(Resource=["arn:error:s3:::example_bucket", "arn:error:s3::b"])), 'Partition "error" is not valid for resource "arn:error:s3:::example_bucket".'),
    ("no vendor", doc(allow(Resource="arn:aws")), RESOURCE_VENDOR),
    ("iam resource with region", doc(allow(Resource="arn:aws:iam:us-east-1::example_bucket")), "IAM resource arn:aws:iam:us-east-1::example_bucket cannot contain region information."),
    ("s3 resource with region", doc(allow(Resource="arn:aws:s3:us-east-1::example_bucket")), "Resource arn:aws:s3:us-east-1::example_bucket can not contain region information."),
    ("iam resource bad path", doc(allow(Resource="arn:aws:iam:::example_bucket")), 'IAM resource path must either be "*" or start with user/, federated-user/, role/, group/, instance-profile/, mfa/, server-certificate/, policy/, sms-mfa/, saml-provider/, oidc-provider/, report/, access-report/.'),
    ("action without vendor", doc(allow(Action="invalid")), ACTION_VENDOR),
    ("empty NotAction", doc(without(allow(NotAction=""), "Action")), ACTION_VENDOR),
    ("vendor with a space", doc(allow(Action="a a:ListBucket")), "Vendor a a is not valid"),
    ("vendor with a wildcard", doc(allow(Action="s*:ListBucket")), "Vendor s* is not valid"),
    ("two colons", doc(allow(Action="s3:List:Bucket")), ACTION_COLONS),
    ("two colons in a later statement", doc([allow(Action="s3s:ListBucket"), allow(Action="s:3s:ListBucket")]), ACTION_COLONS),
    ("no Resource", doc(without(allow(), "Resource")), MISSING_RESOURCES),
    ("empty Resource", doc(allow(Resource=[])), MISSING_RESOURCES),
    ("Principal in an identity policy", doc(allow(Principal="*")), PRINCIPAL_FORBIDDEN),
    ("NotPrincipal in an identity policy", doc(allow(NotPrincipal={"AWS": "123456789012"})), PRINCIPAL_FORBIDDEN),
]  # fmt: skip


@pytest.mark.parametrize(("name", "document", "message"), IDENTITY_CASES, ids=[c[0] for c in IDENTITY_CASES])
def test_malformed_identity_policy(name: str, document: Any, message: str) -> None:
    strict = message == VERSION_TOO_OLD
    with pytest.raises(MalformedPolicyDocument) as caught:
        parse_policy(document, PolicyKind.IDENTITY, require_current_version=strict)
    assert str(caught.value) == message
    assert caught.value.reason


def test_the_syntax_error_reason_names_the_unknown_field() -> None:
    with pytest.raises(MalformedPolicyDocument) as caught:
        parse_policy(doc(allow(Extra="value")))
    assert caught.value.reason == "Unknown field Extra"
    assert str(caught.value) == SYNTAX_ERRORS


def test_the_reason_of_a_bad_action_names_it() -> None:
    with pytest.raises(MalformedPolicyDocument) as caught:
        parse_policy(doc(allow(Action="invalid")))
    assert caught.value.reason == "Invalid Action: invalid"


def test_version_is_optional_unless_required() -> None:
    assert parse_policy({"Statement": allow()}).version is None
    assert parse_policy(doc(allow(), Version="2008-10-17")).version == "2008-10-17"
    with pytest.raises(MalformedPolicyDocument, match="version 2012-10-17 or greater"):
        parse_policy({"Statement": allow()}, require_current_version=True)


def test_legacy_parsing_wins_over_a_later_resource_format_error() -> None:
    document = doc([allow(Resource="arn:aws:s3::a"), allow(Resource="nope")])
    with pytest.raises(MalformedPolicyDocument, match="legacy parsing"):
        parse_policy(document)


def test_a_resource_format_error_is_reported_after_missing_actions() -> None:
    with pytest.raises(MalformedPolicyDocument) as caught:
        parse_policy(doc([allow(Resource="nope"), {"Effect": "Allow", "Resource": "*"}]))
    assert str(caught.value) == MISSING_ACTIONS


def statement_with(principal: Any, **fields: Any) -> dict[str, Any]:
    return without({"Effect": "Allow", "Principal": principal, "Action": "ecr:BatchGetImage", **fields}, "x")


RESOURCE_CASES: list[tuple[str, Any, str]] = [
    ("no Principal", doc({"Effect": "Allow", "Action": "ecr:BatchGetImage"}), MISSING_PRINCIPAL),
    ("principal a bare ARN", doc(statement_with("arn:aws:iam::123456789012:root")), 'Invalid principal in policy: "AWS":"arn:aws:iam::123456789012:root"'),
    ("principal a list", doc(statement_with(["*"])), SYNTAX_ERRORS),
    ("principal empty map", doc(statement_with({})), SYNTAX_ERRORS),
    ("unknown principal type", doc(statement_with({"Group": "admins"})), 'Invalid principal in policy: "Group":"admins"'),
    ("principal not an ARN", doc(statement_with({"AWS": "bob"})), 'Invalid principal in policy: "AWS":"bob"'),
    ("principal account too short", doc(statement_with({"AWS": "12345"})), 'Invalid principal in policy: "AWS":"12345"'),
    ("principal with a wildcard", doc(statement_with({"AWS": "arn:aws:iam::123456789012:user/*"})), 'Invalid principal in policy: "AWS":"arn:aws:iam::123456789012:user/*"'),
    ("session wildcard", doc(statement_with({"AWS": "arn:aws:sts::123456789012:assumed-role/r/*"})), 'Invalid principal in policy: "AWS":"arn:aws:sts::123456789012:assumed-role/r/*"'),
    ("principal list with a number", doc(statement_with({"AWS": ["123456789012", 5]})), 'Invalid principal in policy: "AWS":"["123456789012", 5]"'),
    ("empty principal list", doc(statement_with({"AWS": []})), 'Invalid principal in policy: "AWS":"[]"'),
    ("service with a space", doc(statement_with({"Service": "ec2 .amazonaws.com"})), 'Invalid principal in policy: "Service":"ec2 .amazonaws.com"'),
    ("Principal and NotPrincipal", doc(statement_with("*", NotPrincipal="*")), SYNTAX_ERRORS),
    ("principal a number", doc(statement_with(5)), SYNTAX_ERRORS),
]  # fmt: skip


@pytest.mark.parametrize(("name", "document", "message"), RESOURCE_CASES, ids=[c[0] for c in RESOURCE_CASES])
def test_malformed_resource_policy(name: str, document: Any, message: str) -> None:
    with pytest.raises(MalformedPolicyDocument) as caught:
        parse_policy(document, PolicyKind.RESOURCE)
    assert str(caught.value) == message


TRUST_OK = {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}

TRUST_CASES: list[tuple[str, Any, str]] = [
    ("no Principal", doc(without(TRUST_OK, "Principal")), MISSING_PRINCIPAL),
    ("a Resource", doc({**TRUST_OK, "Resource": "*"}), RESOURCE_FORBIDDEN),
    ("a NotResource", doc({**TRUST_OK, "NotResource": "*"}), RESOURCE_FORBIDDEN),
    ("a non-STS action", doc({**TRUST_OK, "Action": "s3:GetObject"}), TRUST_ACTIONS),
    ("a NotAction", doc({**without(TRUST_OK, "Action"), "NotAction": "sts:AssumeRole"}), TRUST_ACTIONS),
]  # fmt: skip


@pytest.mark.parametrize(("name", "document", "message"), TRUST_CASES, ids=[c[0] for c in TRUST_CASES])
def test_malformed_trust_policy(name: str, document: Any, message: str) -> None:
    with pytest.raises(MalformedPolicyDocument) as caught:
        parse_policy(document, PolicyKind.TRUST)
    assert str(caught.value) == message


VALID_IDENTITY = [
    doc(allow(Resource=[BUCKET])),
    doc(allow(Action="*", Resource="*")),
    doc(allow(Action="*:*")),
    doc(without(allow(NotAction=["iam:*", "organizations:*"]), "Action")),
    doc(without(allow(NotResource=BUCKET), "Resource")),
    doc(allow(Resource="arn:aws:iam::123456789012:user/${aws:username}")),
    doc(allow(Resource="arn:aws:iam::*:role/*")),
    doc(allow(Resource="arn:aws:s3:us-east-1:123456789012:accesspoint/ap")),
    doc(allow(Resource="arn:*:ecr:*:*:repository/*")),
    doc(allow(Resource="arn:aws:ecr:*")),
    doc(allow(Sid="")),
    doc([allow(Sid=""), allow(Sid="")]),
    doc(allow(Effect="Deny", Condition={"Bool": {"aws:SecureTransport": False}})),
    doc(allow(Condition={"NumericLessThanEquals": {"s3:max-keys": 10}})),
    doc(allow(Condition={"DateGreaterThan": {"aws:CurrentTime": "2020-01-01T00:00:01Z"}})),
    doc(allow(Condition={"DateLessThan": {"aws:CurrentTime": ["2020", "2020-06", "1577836800"]}})),
    doc(allow(Condition={"DateGreaterThan": {"aws:CurrentTime": "2016-12-13t2:00:00.593194+10:59"}})),
    doc(allow(Condition={"DateGreaterThan": {"aws:CurrentTime": "9223372036854775807"}})),
    doc(allow(Condition={"ForAllValues:StringLike": {"aws:TagKeys": ["a*", "b"]}})),
    doc(allow(Condition={"ForAnyValue:StringEqualsIfExists": {"aws:TagKeys": "a"}})),
    doc(allow(Condition={"StringNotEqualsIgnoreCaseIfExists": {"aws:PrincipalTag/x": "a"}})),
    doc(
        allow(Condition={"Null": {"aws:TokenIssueTime": "true"}, "IpAddress": {"aws:SourceIp": "10.0.0.0/8"}})
    ),
    doc(allow(Condition={"SomeFutureOperator": {}})),
    {"Statement": [allow()], "Id": "cd3a324d2343d942772346-34234234423404-4c2242343242349d1642ee"},
]


@pytest.mark.parametrize("document", VALID_IDENTITY, ids=range(len(VALID_IDENTITY)))
def test_valid_identity_policy(document: dict[str, Any]) -> None:
    policy = parse_policy(json.dumps(document))
    assert policy.statements
    assert policy == parse_policy(document)


def test_parse_keeps_every_element() -> None:
    policy = parse_policy(
        doc(
            [
                {
                    "Sid": "One",
                    "Effect": "Deny",
                    "NotPrincipal": {"AWS": ["123456789012", "arn:aws:iam::123456789012:user/bob"]},
                    "NotAction": ["ecr:Describe*"],
                    "NotResource": "arn:aws:ecr:us-east-1:123456789012:repository/app",
                    "Condition": {"ForAnyValue:StringLikeIfExists": {"aws:TagKeys": ["a", True, 3]}},
                }
            ],
            Id="policy-1",
        ),
        "resource",
    )
    assert (policy.id, policy.version, policy.kind) == ("policy-1", V, PolicyKind.RESOURCE)
    (statement,) = policy.statements
    assert statement.sid == "One"
    assert statement.action.negated
    assert statement.action.values == ("ecr:Describe*",)
    assert statement.resource is not None
    assert statement.resource.negated
    assert statement.principal is not None
    assert statement.principal.negated
    assert statement.principal.aws == ("123456789012", "arn:aws:iam::123456789012:user/bob")
    (condition,) = statement.conditions
    assert condition.values == ("a", "true", "3")
    assert (condition.base, condition.if_exists, condition.qualifier) == ("StringLike", True, "ForAnyValue")


def test_a_resource_policy_may_omit_resource() -> None:
    policy = parse_policy(
        doc({"Effect": "Allow", "Principal": "*", "Action": "ecr:BatchGetImage"}), "resource"
    )
    assert policy.statements[0].resource is None


def test_principal_forms() -> None:
    statement = {
        "Effect": "Allow",
        "Action": "sts:AssumeRole",
        "Principal": {
            "AWS": [
                "*",
                "123456789012",
                "arn:aws:iam::123456789012:root",
                "arn:aws:iam::123456789012:user/division/bob",
                "arn:aws:iam::123456789012:role/r",
                "arn:aws:sts::123456789012:assumed-role/r/s",
                "arn:aws:sts::123456789012:federated-user/f",
                "AIDACKCEVSQ6C2EXAMPLE",
            ],
            "Service": ["ec2.amazonaws.com", "ecs-tasks.amazonaws.com"],
            "Federated": "arn:aws:iam::123456789012:saml-provider/idp",
            "CanonicalUser": "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be",
        },
    }
    spec = parse_policy(doc(statement), "trust").statements[0].principal
    assert spec is not None
    assert spec.everyone
    assert "*" not in spec.aws
    assert len(spec.aws) == 7
    assert spec.service == ("ec2.amazonaws.com", "ecs-tasks.amazonaws.com")


def test_ecr_repository_policy_with_2008_version() -> None:
    policy = parse_policy(
        {
            "Version": "2008-10-17",
            "Statement": [
                {
                    "Sid": "AllowPull",
                    "Effect": "Allow",
                    "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
                    "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
                }
            ],
        },
        "resource",
    )
    assert not policy.variables_enabled


def test_kind_accepts_strings_and_rejects_unknown_kinds() -> None:
    assert parse_policy(doc(allow()), "identity").kind is PolicyKind.IDENTITY
    with pytest.raises(ValueError, match="scp"):
        parse_policy(doc(allow()), "scp")


def test_bytes_are_accepted() -> None:
    assert parse_policy(json.dumps(doc(allow())).encode()).statements[0].effect == "Allow"
