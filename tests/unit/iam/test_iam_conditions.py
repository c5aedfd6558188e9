"""Condition operators, table-driven from the IAM User Guide ("Condition operators", "Creating a condition
with multiple keys or values", "Variables and tags"). Each case evaluates a one-statement Allow policy: the
request is allowed exactly when the condition holds."""

# ruff: noqa: E501 -- one table row per line reads better than a wrapped one

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from dockyard.domain.iam import Principal, Reason, RequestContext, evaluate, parse_date, parse_policy

ACCOUNT = "123456789012"
BOB = Principal.user(ACCOUNT, "bob", userid="AIDAEXAMPLEBOB000001", tags={"team": "blue"})


def holds(condition: dict[str, Any], keys: dict[str, Any] | None = None, *, principal: Principal = BOB,
          now: datetime | None = None) -> bool:  # fmt: skip
    policy = parse_policy(
        {
            "Version": "2012-10-17",
            "Statement": {"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": condition},
        }
    )
    context = RequestContext(principal, "s3:ListBucket", "arn:aws:s3:::b", keys=keys or {}, now=now)
    return evaluate(context, [policy]).allowed


CASES: list[tuple[str, dict[str, Any], dict[str, Any], bool]] = [
    # String
    ("StringEquals match", {"StringEquals": {"aws:PrincipalTag/team": "blue"}}, {}, True),
    ("StringEquals is case-sensitive", {"StringEquals": {"aws:PrincipalTag/team": "Blue"}}, {}, False),
    ("StringEquals on an absent key", {"StringEquals": {"s3:prefix": "x"}}, {}, False),
    ("StringEquals empty string", {"StringEquals": {"s3:prefix": ""}}, {"s3:prefix": ""}, True),
    ("StringNotEquals mismatch", {"StringNotEquals": {"aws:PrincipalTag/team": "red"}}, {}, True),
    ("StringNotEquals match", {"StringNotEquals": {"aws:PrincipalTag/team": "blue"}}, {}, False),
    ("StringNotEquals absent key is true", {"StringNotEquals": {"s3:prefix": "x"}}, {}, True),
    ("StringEqualsIgnoreCase", {"StringEqualsIgnoreCase": {"aws:PrincipalTag/team": "BLUE"}}, {}, True),
    ("StringNotEqualsIgnoreCase", {"StringNotEqualsIgnoreCase": {"aws:PrincipalTag/team": "BLUE"}}, {}, False),
    ("StringNotEqualsIgnoreCase absent", {"StringNotEqualsIgnoreCase": {"k": "v"}}, {}, True),
    ("StringLike star", {"StringLike": {"s3:prefix": "home/*"}}, {"s3:prefix": "home/bob/x"}, True),
    ("StringLike question", {"StringLike": {"s3:prefix": "ho?e"}}, {"s3:prefix": "home"}, True),
    ("StringLike needs a wildcard for partial", {"StringLike": {"s3:prefix": "home"}}, {"s3:prefix": "home/"}, False),
    ("StringLike is case-sensitive", {"StringLike": {"s3:prefix": "Home/*"}}, {"s3:prefix": "home/x"}, False),
    ("StringNotLike", {"StringNotLike": {"s3:prefix": "home/*"}}, {"s3:prefix": "tmp/x"}, True),
    ("StringNotLike absent key is true", {"StringNotLike": {"s3:prefix": "home/*"}}, {}, True),
    # Several values OR, several keys AND, several operators AND
    ("values OR", {"StringEquals": {"aws:PrincipalTag/team": ["red", "blue"]}}, {}, True),
    ("keys AND, one fails", {"StringEquals": {"aws:PrincipalTag/team": "blue", "s3:prefix": "a"}}, {"s3:prefix": "b"}, False),
    ("keys AND, both hold", {"StringEquals": {"aws:PrincipalTag/team": "blue", "s3:prefix": "a"}}, {"s3:prefix": "a"}, True),
    ("operators AND", {"StringEquals": {"s3:prefix": "a"}, "Bool": {"aws:SecureTransport": "true"}}, {"s3:prefix": "a", "aws:SecureTransport": "false"}, False),
    ("key names are case-insensitive", {"StringEquals": {"S3:PREFIX": "a"}}, {"s3:Prefix": "a"}, True),
    # Numeric
    ("NumericLessThanEquals equal", {"NumericLessThanEquals": {"s3:max-keys": "10"}}, {"s3:max-keys": "10"}, True),
    ("NumericLessThanEquals over", {"NumericLessThanEquals": {"s3:max-keys": "10"}}, {"s3:max-keys": "11"}, False),
    ("NumericLessThan", {"NumericLessThan": {"s3:max-keys": 10}}, {"s3:max-keys": "9.5"}, True),
    ("NumericGreaterThan", {"NumericGreaterThan": {"s3:max-keys": "10"}}, {"s3:max-keys": "10"}, False),
    ("NumericGreaterThanEquals", {"NumericGreaterThanEquals": {"s3:max-keys": "10"}}, {"s3:max-keys": "10"}, True),
    ("NumericEquals decimals", {"NumericEquals": {"s3:max-keys": "1.50"}}, {"s3:max-keys": "1.5"}, True),
    ("NumericEquals not a number", {"NumericEquals": {"s3:max-keys": "10"}}, {"s3:max-keys": "ten"}, False),
    ("NumericNotEquals", {"NumericNotEquals": {"s3:max-keys": "10"}}, {"s3:max-keys": "11"}, True),
    ("NumericNotEquals absent", {"NumericNotEquals": {"s3:max-keys": "10"}}, {}, True),
    ("Numeric absent", {"NumericLessThan": {"s3:max-keys": "10"}}, {}, False),
    # Date
    ("DateGreaterThan ISO", {"DateGreaterThan": {"aws:TokenIssueTime": "2020-01-01T00:00:01Z"}}, {"aws:TokenIssueTime": "2020-06-01T00:00:00Z"}, True),
    ("DateGreaterThan earlier", {"DateGreaterThan": {"aws:TokenIssueTime": "2020-01-01T00:00:01Z"}}, {"aws:TokenIssueTime": "2019-12-31T23:59:59Z"}, False),
    ("DateGreaterThan absent", {"DateGreaterThan": {"aws:TokenIssueTime": "2020-01-01T00:00:01Z"}}, {}, False),
    ("DateLessThan epoch policy", {"DateLessThan": {"aws:CurrentTime": "1577836800"}}, {"aws:CurrentTime": "2019-12-31T23:59:59Z"}, True),
    ("DateEquals across zones", {"DateEquals": {"aws:CurrentTime": "2020-01-01T01:00:00+01:00"}}, {"aws:CurrentTime": "2020-01-01T00:00:00Z"}, True),
    ("DateEquals date only", {"DateEquals": {"aws:CurrentTime": "2020-01-01"}}, {"aws:CurrentTime": "2020-01-01T00:00:00Z"}, True),
    ("DateEquals epoch context", {"DateEquals": {"aws:EpochTime": "2020-01-01T00:00:00Z"}}, {"aws:EpochTime": "1577836800"}, True),
    ("DateLessThanEquals equal", {"DateLessThanEquals": {"aws:CurrentTime": "2020-01-01T00:00:00Z"}}, {"aws:CurrentTime": "2020-01-01T00:00:00Z"}, True),
    ("DateGreaterThanEquals", {"DateGreaterThanEquals": {"aws:CurrentTime": "2020-01-01T00:00:00.5Z"}}, {"aws:CurrentTime": "2020-01-01T00:00:00.250Z"}, False),
    ("DateNotEquals", {"DateNotEquals": {"aws:CurrentTime": "2020-01-01"}}, {"aws:CurrentTime": "2020-01-02"}, True),
    ("DateNotEquals absent", {"DateNotEquals": {"aws:CurrentTime": "2020-01-01"}}, {}, True),
    ("Date garbage in the request", {"DateLessThan": {"aws:CurrentTime": "2020-01-01"}}, {"aws:CurrentTime": "soon"}, False),
    # Bool
    ("Bool false", {"Bool": {"aws:SecureTransport": "false"}}, {"aws:SecureTransport": "false"}, True),
    ("Bool mismatch", {"Bool": {"aws:SecureTransport": "false"}}, {"aws:SecureTransport": "true"}, False),
    ("Bool JSON boolean", {"Bool": {"aws:SecureTransport": True}}, {"aws:SecureTransport": "true"}, True),
    ("Bool case-insensitive", {"Bool": {"aws:SecureTransport": "TRUE"}}, {"aws:SecureTransport": "true"}, True),
    ("Bool absent", {"Bool": {"aws:SecureTransport": "false"}}, {}, False),
    ("BoolIfExists absent", {"BoolIfExists": {"aws:MultiFactorAuthPresent": "true"}}, {}, True),
    ("BoolIfExists present false", {"BoolIfExists": {"aws:MultiFactorAuthPresent": "true"}}, {"aws:MultiFactorAuthPresent": "false"}, False),
    # Binary
    ("BinaryEquals", {"BinaryEquals": {"k": "QmluYXJ5VmFsdWVJbkJhc2U2NA=="}}, {"k": "QmluYXJ5VmFsdWVJbkJhc2U2NA=="}, True),
    ("BinaryEquals other bytes", {"BinaryEquals": {"k": "QmluYXJ5VmFsdWVJbkJhc2U2NA=="}}, {"k": "QmluYXJ5"}, False),
    ("BinaryEquals absent", {"BinaryEquals": {"k": "QmluYXJ5"}}, {}, False),
    # IP address
    ("IpAddress in range", {"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}, {"aws:SourceIp": "203.0.113.7"}, True),
    ("IpAddress out of range", {"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}, {"aws:SourceIp": "198.51.100.1"}, False),
    ("IpAddress defaults to /32", {"IpAddress": {"aws:SourceIp": "203.0.113.7"}}, {"aws:SourceIp": "203.0.113.7"}, True),
    ("IpAddress /32 other host", {"IpAddress": {"aws:SourceIp": "203.0.113.7"}}, {"aws:SourceIp": "203.0.113.8"}, False),
    ("IpAddress IPv6", {"IpAddress": {"aws:SourceIp": ["203.0.113.0/24", "2001:DB8:1234:5678::/64"]}}, {"aws:SourceIp": "2001:db8:1234:5678::1"}, True),
    ("IpAddress IPv4 vs IPv6 range", {"IpAddress": {"aws:SourceIp": "::/0"}}, {"aws:SourceIp": "10.0.0.1"}, False),
    ("IpAddress host bits set", {"IpAddress": {"aws:SourceIp": "203.0.113.5/24"}}, {"aws:SourceIp": "203.0.113.200"}, True),
    ("IpAddress bad request value", {"IpAddress": {"aws:SourceIp": "0.0.0.0/0"}}, {"aws:SourceIp": "localhost"}, False),
    ("IpAddress absent (VPC endpoint)", {"IpAddress": {"aws:SourceIp": "0.0.0.0/0"}}, {}, False),
    ("NotIpAddress outside", {"NotIpAddress": {"aws:SourceIp": "203.0.113.0/24"}}, {"aws:SourceIp": "198.51.100.1"}, True),
    ("NotIpAddress inside", {"NotIpAddress": {"aws:SourceIp": "203.0.113.0/24"}}, {"aws:SourceIp": "203.0.113.1"}, False),
    ("NotIpAddress absent", {"NotIpAddress": {"aws:SourceIp": "203.0.113.0/24"}}, {}, True),
    # ARN
    ("ArnEquals", {"ArnEquals": {"aws:SourceArn": "arn:aws:sns:us-east-1:123456789012:topic"}}, {"aws:SourceArn": "arn:aws:sns:us-east-1:123456789012:topic"}, True),
    ("ArnEquals wildcards", {"ArnEquals": {"aws:SourceArn": "arn:aws:sns:*:123456789012:*"}}, {"aws:SourceArn": "arn:aws:sns:us-east-1:123456789012:topic"}, True),
    ("ArnLike per segment", {"ArnLike": {"aws:SourceArn": "arn:aws:someservice:*:111122223333:finance/*"}}, {"aws:SourceArn": "arn:aws:someservice:us-east-2:999999999999:store/abc:111122223333:finance/document.txt"}, False),
    ("StringLike across segments", {"StringLike": {"aws:SourceArn": "arn:aws:someservice:*:111122223333:finance/*"}}, {"aws:SourceArn": "arn:aws:someservice:us-east-2:999999999999:store/abc:111122223333:finance/document.txt"}, True),
    ("ArnNotEquals", {"ArnNotEquals": {"aws:PrincipalArn": "arn:aws:iam::123456789012:user/alice"}}, {}, True),
    ("ArnNotLike on the principal", {"ArnNotLike": {"aws:PrincipalArn": "arn:aws:iam::123456789012:user/b*"}}, {}, False),
    ("ArnLike absent", {"ArnLike": {"aws:SourceArn": "arn:*"}}, {}, False),
    # Null
    ("Null true on absent key", {"Null": {"aws:TokenIssueTime": "true"}}, {}, True),
    ("Null true on present key", {"Null": {"aws:TokenIssueTime": "true"}}, {"aws:TokenIssueTime": "2020-01-01T00:00:00Z"}, False),
    ("Null false on present key", {"Null": {"aws:TokenIssueTime": "false"}}, {"aws:TokenIssueTime": "2020-01-01T00:00:00Z"}, True),
    ("Null false on absent key", {"Null": {"aws:TokenIssueTime": False}}, {}, False),
    ("Null on a derived key", {"Null": {"aws:username": "false"}}, {}, True),
    # IfExists
    ("StringLikeIfExists absent", {"StringLikeIfExists": {"ec2:InstanceType": ["t1.*", "t2.*", "m3.*"]}}, {}, True),
    ("StringLikeIfExists matches", {"StringLikeIfExists": {"ec2:InstanceType": ["t1.*", "t2.*", "m3.*"]}}, {"ec2:InstanceType": "t2.micro"}, True),
    ("StringLikeIfExists mismatch", {"StringLikeIfExists": {"ec2:InstanceType": ["t1.*", "t2.*", "m3.*"]}}, {"ec2:InstanceType": "c5.large"}, False),
    ("StringLike without IfExists absent", {"StringLike": {"ec2:InstanceType": ["t1.*"]}}, {}, False),
    ("NumericLessThanIfExists absent", {"NumericLessThanIfExists": {"s3:max-keys": "1"}}, {}, True),
    ("IpAddressIfExists present", {"IpAddressIfExists": {"aws:SourceIp": "10.0.0.0/8"}}, {"aws:SourceIp": "11.0.0.1"}, False),
    ("StringNotEqualsIfExists absent", {"StringNotEqualsIfExists": {"k": "v"}}, {}, True),
    ("StringNotEqualsIfExists present equal", {"StringNotEqualsIfExists": {"k": "v"}}, {"k": "v"}, False),
    # Set operators (DynamoDB examples)
    ("ForAnyValue one overlap", {"ForAnyValue:StringLike": {"dynamodb:requestedAttributes": ["ID", "PostDateTime"]}}, {"dynamodb:requestedAttributes": ["UserName", "Message", "PostDateTime"]}, True),
    ("ForAnyValue no overlap", {"ForAnyValue:StringLike": {"dynamodb:requestedAttributes": ["ID", "PostDateTime"]}}, {"dynamodb:requestedAttributes": ["UserName"]}, False),
    ("ForAnyValue absent", {"ForAnyValue:StringEquals": {"aws:TagKeys": "a"}}, {}, False),
    ("ForAnyValue empty list", {"ForAnyValue:StringEquals": {"aws:TagKeys": "a"}}, {"aws:TagKeys": []}, False),
    ("ForAnyValue empty string", {"ForAnyValue:StringEquals": {"aws:TagKeys": ""}}, {"aws:TagKeys": ""}, False),
    ("ForAllValues all in set", {"ForAllValues:StringLike": {"dynamodb:requestedAttributes": ["PostDateTime", "Message", "Tags"]}}, {"dynamodb:requestedAttributes": ["PostDateTime", "Message"]}, True),
    ("ForAllValues one outside", {"ForAllValues:StringLike": {"dynamodb:requestedAttributes": ["PostDateTime", "Message", "Tags"]}}, {"dynamodb:requestedAttributes": ["PostDateTime", "UserName"]}, False),
    ("ForAllValues absent key is true", {"ForAllValues:StringEquals": {"aws:TagKeys": "a"}}, {}, True),
    ("ForAllValues empty string is true", {"ForAllValues:StringEquals": {"aws:TagKeys": "a"}}, {"aws:TagKeys": ""}, True),
    ("ForAllValues single value", {"ForAllValues:StringEquals": {"aws:TagKeys": ["a", "b"]}}, {"aws:TagKeys": "b"}, True),
    ("ForAllValues:StringNotEquals none in set", {"ForAllValues:StringNotEquals": {"aws:TagKeys": ["secret"]}}, {"aws:TagKeys": ["a", "b"]}, True),
    ("ForAllValues:StringNotEquals one in set", {"ForAllValues:StringNotEquals": {"aws:TagKeys": ["secret"]}}, {"aws:TagKeys": ["a", "secret"]}, False),
    ("ForAnyValue:StringNotEquals one outside", {"ForAnyValue:StringNotEquals": {"aws:TagKeys": ["a"]}}, {"aws:TagKeys": ["a", "b"]}, True),
    ("ForAnyValue:StringNotEquals all inside", {"ForAnyValue:StringNotEquals": {"aws:TagKeys": ["a", "b"]}}, {"aws:TagKeys": ["a", "b"]}, False),
    ("ForAnyValue:StringNotEquals absent", {"ForAnyValue:StringNotEquals": {"aws:TagKeys": ["a"]}}, {}, False),
    ("ForAnyValue:StringEqualsIfExists absent", {"ForAnyValue:StringEqualsIfExists": {"aws:TagKeys": ["a"]}}, {}, True),
    ("ForAllValues:StringEqualsIgnoreCase", {"ForAllValues:StringEqualsIgnoreCase": {"aws:TagKeys": ["A", "B"]}}, {"aws:TagKeys": ["a", "b"]}, True),
    ("ForAnyValue:IpAddress", {"ForAnyValue:IpAddress": {"k": "10.0.0.0/8"}}, {"k": ["192.0.2.1", "10.1.1.1"]}, True),
    ("ForAnyValue:NumericGreaterThan", {"ForAnyValue:NumericGreaterThan": {"k": "5"}}, {"k": ["1", "7"]}, True),
    # A single-valued operator on a multivalued key
    ("StringEquals any of several values", {"StringEquals": {"aws:TagKeys": "b"}}, {"aws:TagKeys": ["a", "b"]}, True),
    ("StringNotEquals none of several values", {"StringNotEquals": {"aws:TagKeys": "b"}}, {"aws:TagKeys": ["a", "b"]}, False),
    # Policy variables in condition values
    ("StringLike with a variable", {"StringLike": {"s3:prefix": ["", "home/", "home/${aws:username}/*"]}}, {"s3:prefix": "home/bob/docs"}, True),
    ("StringLike variable other user", {"StringLike": {"s3:prefix": ["home/${aws:username}/*"]}}, {"s3:prefix": "home/alice/docs"}, False),
    ("StringEquals variable default", {"StringEquals": {"k": "${aws:PrincipalTag/missing, 'none'}"}}, {"k": "none"}, True),
    ("StringEquals variable ${*} literal", {"StringEquals": {"k": "a${*}"}}, {"k": "a*"}, True),
    ("StringLike variable value is literal", {"StringLike": {"k": "${aws:PrincipalTag/team}*"}}, {"k": "blue-sky"}, True),
    ("ArnEquals with a variable", {"ArnEquals": {"aws:SourceArn": "arn:aws:iam::123456789012:user/${aws:username}"}}, {"aws:SourceArn": "arn:aws:iam::123456789012:user/bob"}, True),
    ("Bool with a variable", {"Bool": {"k": "${aws:PrincipalTag/flag, 'true'}"}}, {"k": "true"}, True),
    ("Numeric takes no variables", {"NumericEquals": {"k": "${aws:PrincipalTag/n, '1'}"}}, {"k": "1"}, False),
    ("unresolved variable", {"StringEquals": {"k": "${aws:PrincipalTag/missing}"}}, {"k": ""}, False),
    ("unresolved variable, negated", {"StringNotEquals": {"k": "${aws:PrincipalTag/missing}"}}, {"k": "x"}, False),
    ("variable from a request key", {"StringEquals": {"aws:PrincipalTag/team": "${aws:RequestTag/team}"}}, {"aws:RequestTag/team": "blue"}, True),
    ("multivalued key is no variable", {"StringEquals": {"k": "${aws:TagKeys}"}}, {"k": "a", "aws:TagKeys": ["a", "b"]}, False),
]  # fmt: skip


@pytest.mark.parametrize(("name", "condition", "keys", "expected"), CASES, ids=[c[0] for c in CASES])
def test_condition(name: str, condition: dict[str, Any], keys: dict[str, Any], expected: bool) -> None:
    assert holds(condition, keys) is expected


def test_current_time_is_derived_from_now() -> None:
    now = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    assert holds({"DateGreaterThan": {"aws:CurrentTime": "2024-01-01T00:00:00Z"}}, now=now)
    assert holds({"DateLessThan": {"aws:EpochTime": "2024-06-01"}}, now=now)
    assert not holds({"DateGreaterThan": {"aws:CurrentTime": "2025-01-01"}}, now=now)
    naive = datetime(2024, 5, 1, 12, 0)  # treated as UTC
    assert holds({"DateEquals": {"aws:CurrentTime": "2024-05-01T12:00:00Z"}}, now=naive)


def test_principal_keys_cannot_be_spoofed_through_request_keys() -> None:
    spoof = {"aws:PrincipalTag/team": "red", "aws:username": "root", "aws:PrincipalAccount": "999999999999"}
    assert holds({"StringEquals": {"aws:PrincipalTag/team": "blue", "aws:username": "bob"}}, spoof)
    assert holds({"StringEquals": {"aws:PrincipalAccount": ACCOUNT}}, spoof)


def test_deny_with_a_negated_ifexists_operator_still_denies_without_the_key() -> None:
    # "If you are using an Effect: Deny element with a negated condition operator like
    # StringNotEqualsIfExists, the request is still denied even if the tag is missing."
    policy = parse_policy(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": "*", "Resource": "*"},
                {
                    "Effect": "Deny",
                    "Action": "*",
                    "Resource": "*",
                    "Condition": {"StringNotEqualsIfExists": {"aws:ResourceTag/team": "blue"}},
                },
            ],
        }
    )
    context = RequestContext(BOB, "ecr:PutImage", f"arn:aws:ecr:us-east-1:{ACCOUNT}:repository/app")
    assert evaluate(context, [policy]).reason is Reason.EXPLICIT_DENY_IDENTITY
    tagged = RequestContext(
        BOB, "ecr:PutImage", f"arn:aws:ecr:us-east-1:{ACCOUNT}:repository/app", resource_tags={"team": "blue"}
    )
    assert evaluate(tagged, [policy]).reason is Reason.ALLOWED


def test_resource_tags_are_visible_under_aws_and_the_service_prefix() -> None:
    context = {"aws:ResourceTag/env": "prod"}
    assert holds({"StringEquals": {"aws:ResourceTag/env": "prod"}}, context)
    repo = f"arn:aws:ecr:us-east-1:{ACCOUNT}:repository/app"
    policy = parse_policy(
        {
            "Version": "2012-10-17",
            "Statement": {
                "Effect": "Allow",
                "Action": "ecr:*",
                "Resource": "*",
                "Condition": {"StringEquals": {"ecr:ResourceTag/env": "prod", "aws:ResourceTag/env": "prod"}},
            },
        }
    )
    tagged = RequestContext(BOB, "ecr:BatchGetImage", repo, resource_tags={"env": "prod"})
    assert evaluate(tagged, [policy]).allowed
    assert not evaluate(RequestContext(BOB, "ecr:BatchGetImage", repo), [policy]).allowed


DATES = [
    ("2020", datetime(1970, 1, 1, 0, 33, 40, tzinfo=UTC)),  # digits alone are epoch seconds, as in IAM
    ("2020-02", datetime(2020, 2, 1, tzinfo=UTC)),
    ("2020-02-03", datetime(2020, 2, 3, tzinfo=UTC)),
    ("2020-02-03T04:05Z", datetime(2020, 2, 3, 4, 5, tzinfo=UTC)),
    ("2020-02-03T04:05:06Z", datetime(2020, 2, 3, 4, 5, 6, tzinfo=UTC)),
    ("2020-02-03T04:05:06.789Z", datetime(2020, 2, 3, 4, 5, 6, 789000, tzinfo=UTC)),
    ("2020-02-03T04:05:06-05:00", datetime(2020, 2, 3, 9, 5, 6, tzinfo=UTC)),
    ("2020-02-03T04:05:06+0530", datetime(2020, 2, 2, 22, 35, 6, tzinfo=UTC)),
    ("2020-02-03t4:05:06z", datetime(2020, 2, 3, 4, 5, 6, tzinfo=UTC)),
    ("2020-02-03T04:05:06", datetime(2020, 2, 3, 4, 5, 6, tzinfo=UTC)),
    ("1577836800", datetime(2020, 1, 1, tzinfo=UTC)),
    ("0", datetime(1970, 1, 1, tzinfo=UTC)),
    ("2020-02-30", None),
    ("2020-13-01", None),
    ("yesterday", None),
    ("", None),
    ("9223372036854775807", None),
]


@pytest.mark.parametrize(("text", "expected"), DATES)
def test_parse_date(text: str, expected: datetime | None) -> None:
    assert parse_date(text) == expected
