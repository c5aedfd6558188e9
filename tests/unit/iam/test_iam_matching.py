"""Action, resource and ARN matching, and policy variables, through ``evaluate`` and the pattern helpers."""

from __future__ import annotations

import fnmatch
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dockyard.domain.iam import (
    Principal,
    Reason,
    RequestContext,
    arn_match,
    evaluate,
    parse_policy,
    wildcard_match,
)
from dockyard.domain.iam.patterns import Unresolvable, parse_template, render_text

ACCOUNT = "123456789012"
REPO = f"arn:aws:ecr:us-east-1:{ACCOUNT}:repository/team/app"
BOB = Principal.user(ACCOUNT, "bob", tags={"team": "team", "weird": "a*"})


def allowed(statement: dict[str, Any], *, action: str = "ecr:BatchGetImage", resource: str = REPO,
            principal: Principal = BOB, version: str | None = "2012-10-17") -> bool:  # fmt: skip
    document: dict[str, Any] = {"Statement": [{"Effect": "Allow", **statement}]}
    if version:
        document["Version"] = version
    context = RequestContext(principal, action, resource)
    return evaluate(context, [parse_policy(document)]).allowed


ACTIONS = [
    ("ecr:BatchGetImage", "ecr:BatchGetImage", True),
    ("ECR:batchgetimage", "ecr:BatchGetImage", True),
    ("ecr:BatchGetImage", "ECR:BATCHGETIMAGE", True),
    ("ecr:Batch*", "ecr:BatchGetImage", True),
    ("ecr:*Image", "ecr:BatchGetImage", True),
    ("ecr:?atchGetImage", "ecr:BatchGetImage", True),
    ("ecr:??tchGetImage", "ecr:BatchGetImage", True),
    ("ecr:?GetImage", "ecr:BatchGetImage", False),
    ("ecr:*", "ecr:BatchGetImage", True),
    ("*", "ecr:BatchGetImage", True),
    ("*:*", "ecr:BatchGetImage", True),
    ("ecr:*", "ecr-public:BatchGetImage", False),
    ("ecr:BatchGetImage", "ecr:BatchGetImages", False),
    ("s3:*", "ecr:BatchGetImage", False),
    ("ecr:Put*", "ecr:BatchGetImage", False),
]


@pytest.mark.parametrize(("pattern", "action", "expected"), ACTIONS)
def test_action_matching_is_case_insensitive_with_wildcards(
    pattern: str, action: str, expected: bool
) -> None:
    assert allowed({"Action": pattern, "Resource": "*"}, action=action) is expected


def test_not_action_allows_everything_else() -> None:
    statement = {"NotAction": ["iam:*", "organizations:*"], "Resource": "*"}
    assert allowed(statement, action="ecr:PutImage")
    assert not allowed(statement, action="iam:CreateUser")
    assert not allowed(statement, action="IAM:createuser")


RESOURCES = [
    (REPO, REPO, True),
    ("*", REPO, True),
    ("arn:aws:ecr:us-east-1:123456789012:repository/*", REPO, True),
    ("arn:aws:ecr:*:*:repository/team/*", REPO, True),
    ("arn:aws:ecr:*", REPO, True),  # `*` spans the remaining segments
    ("arn:aws:*", REPO, True),
    ("arn:*:ecr:us-east-1:123456789012:repository/team/ap?", REPO, True),
    ("arn:aws:ecr:us-east-1:123456789012:repository/Team/app", REPO, False),  # case-sensitive
    ("arn:aws:ecr:us-east-1:123456789012:repository/team", REPO, False),
    ("arn:aws:ecr:us-west-2:123456789012:repository/*", REPO, False),
    ("arn:aws:ecr:us-east-1:999999999999:repository/*", REPO, False),
    ("arn:aws:s3:::*", REPO, False),
]


@pytest.mark.parametrize(("pattern", "resource", "expected"), RESOURCES)
def test_resource_matching_is_case_sensitive_with_wildcards(
    pattern: str, resource: str, expected: bool
) -> None:
    assert allowed({"Action": "ecr:*", "Resource": pattern}, resource=resource) is expected


def test_not_resource_allows_everything_else() -> None:
    statement = {"Action": "ecr:*", "NotResource": "arn:aws:ecr:*:*:repository/secret*"}
    assert allowed(statement)
    assert not allowed(statement, resource=f"arn:aws:ecr:us-east-1:{ACCOUNT}:repository/secret-app")


def test_arn_like_checks_each_segment_separately() -> None:
    # IAM User Guide, "Amazon Resource Name (ARN) condition operators".
    pattern = "arn:aws:someservice:*:111122223333:finance/*"
    value = "arn:aws:someservice:us-east-2:999999999999:store/abc:111122223333:finance/document.txt"
    assert wildcard_match(pattern, value)
    assert not arn_match(pattern, value)
    assert arn_match(pattern, "arn:aws:someservice:us-east-2:111122223333:finance/a:b/c.txt")
    assert arn_match("arn:aws:ecr:*:*:repository/*", REPO)
    assert arn_match("*", REPO)
    assert not arn_match("arn:aws:ecr:*", REPO)


VARIABLES = [
    ("arn:aws:ecr:us-east-1:123456789012:repository/${aws:PrincipalTag/team}/*", True),
    (
        "arn:aws:ecr:us-east-1:123456789012:repository/${aws:principaltag/TEAM}/*",
        True,
    ),  # case-insensitive key
    ("arn:aws:ecr:us-east-1:123456789012:repository/${aws:username}/*", False),
    ("arn:aws:ecr:us-east-1:123456789012:repository/${aws:PrincipalTag/missing, 'team'}/app", True),
    ("arn:aws:ecr:us-east-1:123456789012:repository/${aws:PrincipalTag/missing,'team'}/app", True),
    ("arn:aws:ecr:us-east-1:123456789012:repository/${aws:PrincipalTag/team, 'other'}/app", True),
    ("arn:aws:ecr:us-east-1:123456789012:repository/${aws:PrincipalTag/missing}/app", False),
    ("arn:aws:ecr:us-east-1:123456789012:repository/team/${*}", False),  # ${*} is a literal asterisk
    (
        "arn:aws:ecr:us-east-1:123456789012:repository/${aws:PrincipalTag/weird}",
        False,
    ),  # tag value is literal
]


@pytest.mark.parametrize(("pattern", "expected"), VARIABLES)
def test_policy_variables_in_resources(pattern: str, expected: bool) -> None:
    assert allowed({"Action": "ecr:*", "Resource": pattern}) is expected


def test_a_substituted_value_never_acts_as_a_wildcard() -> None:
    literal = f"arn:aws:ecr:us-east-1:{ACCOUNT}:repository/a*"
    statement = {
        "Action": "ecr:*",
        "Resource": f"arn:aws:ecr:us-east-1:{ACCOUNT}:repository/${{aws:PrincipalTag/weird}}",
    }
    assert allowed(statement, resource=literal)
    assert not allowed(statement, resource=f"arn:aws:ecr:us-east-1:{ACCOUNT}:repository/ab")


def test_special_variables_stand_for_their_character() -> None:
    for name, char in (("*", "*"), ("?", "?"), ("$", "$")):
        resource = f"arn:aws:ecr:us-east-1:{ACCOUNT}:repository/x{char}y"
        statement = {
            "Action": "ecr:*",
            "Resource": f"arn:aws:ecr:us-east-1:{ACCOUNT}:repository/x${{{name}}}y",
        }
        assert allowed(statement, resource=resource)
    assert render_text("a${*}b${?}c${$}d", lambda _: None) == "a*b?c$d"


def test_variables_are_literal_text_before_2012_10_17() -> None:
    pattern = f"arn:aws:ecr:us-east-1:{ACCOUNT}:repository/team/${{aws:username}}"
    literal = f"arn:aws:ecr:us-east-1:{ACCOUNT}:repository/team/${{aws:username}}"
    bob_repo = f"arn:aws:ecr:us-east-1:{ACCOUNT}:repository/team/bob"
    for version in (None, "2008-10-17"):
        assert allowed({"Action": "ecr:*", "Resource": pattern}, resource=literal, version=version)
        assert not allowed({"Action": "ecr:*", "Resource": pattern}, resource=bob_repo, version=version)
    assert allowed({"Action": "ecr:*", "Resource": pattern}, resource=bob_repo)


def test_variables_are_substituted_only_after_the_fifth_colon() -> None:
    pattern = "arn:aws:ecr:us-east-1:${aws:PrincipalAccount}:repository/*"
    assert not allowed({"Action": "ecr:*", "Resource": pattern})
    assert allowed({"Action": "ecr:*", "Resource": pattern}, resource=pattern.replace("/*", "/x"))


def test_an_unresolvable_variable_makes_its_statement_inapplicable() -> None:
    role = Principal.assumed_role(ACCOUNT, "builder", "session")  # no aws:username for a role session
    statement = {"Action": "ecr:*", "Resource": "arn:aws:ecr:*:*:repository/${aws:username}/*"}
    assert not allowed(statement, principal=role, resource=f"arn:aws:ecr:us-east-1:{ACCOUNT}:repository//x")
    deny = parse_policy(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": "ecr:*", "Resource": "*"},
                {
                    "Effect": "Deny",
                    "Action": "ecr:*",
                    "NotResource": "arn:aws:ecr:*:*:repository/${aws:username}",
                },
            ],
        }
    )
    decision = evaluate(RequestContext(role, "ecr:PutImage", REPO), [deny])
    assert decision.reason is Reason.ALLOWED  # the Deny names an absent variable, so it does not apply


def test_template_parsing() -> None:
    assert parse_template("a${x}b") == ("a", parse_template("${x}")[0], "b")
    assert parse_template("${}") == ("${}",)
    assert parse_template("${unterminated") == ("${unterminated",)
    with pytest.raises(Unresolvable):
        render_text("${aws:username}", lambda _: None)


# Reference implementations: fnmatch (with `[` out of the alphabet, fnmatch's only extra syntax).
ALPHABET = "ab:/*?-"
texts = st.text(alphabet="ab:/-", max_size=12)
patterns = st.text(alphabet=ALPHABET, max_size=10)


@settings(max_examples=400, deadline=None)
@given(patterns, texts)
def test_wildcard_match_agrees_with_fnmatch(pattern: str, value: str) -> None:
    assert wildcard_match(pattern, value) == fnmatch.fnmatchcase(value, pattern)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="aB:*?", max_size=8), st.text(alphabet="AbAB:", max_size=10))
def test_case_insensitive_match_agrees_with_fnmatch_on_lowered_text(pattern: str, value: str) -> None:
    expected = fnmatch.fnmatchcase(value.lower(), pattern.lower())
    assert wildcard_match(pattern, value, ignore_case=True) == expected


def reference_arn_match(pattern: str, value: str) -> bool:
    if pattern == "*":
        return True
    pattern_parts, value_parts = pattern.split(":", 5), value.split(":", 5)
    return len(pattern_parts) == len(value_parts) and all(
        fnmatch.fnmatchcase(v, p) for p, v in zip(pattern_parts, value_parts, strict=True)
    )


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet="a:*?", max_size=14), st.text(alphabet="ab:", max_size=16))
def test_arn_match_agrees_with_a_per_segment_reference(pattern: str, value: str) -> None:
    assert arn_match(pattern, value) == reference_arn_match(pattern, value)


@pytest.mark.timeout(10)
def test_matching_never_backtracks_exponentially() -> None:
    # `.*a.*a.*a.*a.*b` as a regular expression takes seconds on 500 characters; request values are long.
    value = "a" * 50_000
    assert not wildcard_match("*a*a*a*a*a*b", value)
    assert wildcard_match("*a*a*a*a*a*", value)
    assert not arn_match("arn:*:*:*:*:*a*a*a*a*b", "arn:aws:s3:::" + value)
    context = RequestContext(BOB, "ecr:BatchGetImage", REPO, keys={"aws:UserAgent": value})
    policy = parse_policy(
        {
            "Version": "2012-10-17",
            "Statement": {
                "Effect": "Allow",
                "Action": "*",
                "Resource": "*",
                "Condition": {"StringLike": {"aws:UserAgent": "*a*a*a*a*b"}},
            },
        }
    )
    assert not evaluate(context, [policy]).allowed
