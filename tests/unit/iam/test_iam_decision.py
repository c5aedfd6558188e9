"""Decisions: AWS's AccessDenied texts, reasons, the statements a decision reports, and edge cases of whose
account a resource is in."""

# ruff: noqa: E501 -- one table row per line reads better than a wrapped one

from __future__ import annotations

from typing import Any

import pytest

from dockyard.domain.iam import (
    AccessDenied,
    Decision,
    Policy,
    PolicyType,
    Principal,
    Reason,
    RequestContext,
    evaluate,
    parse_policy,
)

ME, OTHER = "111122223333", "444455556666"
BOB = Principal.user(ME, "bob")
OUTSIDER = Principal.user(OTHER, "bob")
ROOT = Principal.root(ME)
PULL = ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"]


def identity(*statements: dict[str, Any]) -> Policy:
    return parse_policy({"Version": "2012-10-17", "Statement": list(statements)})


def allow(action: Any, res: Any = "*", **more: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": res, **more}


def deny(action: Any, res: Any = "*") -> dict[str, Any]:
    return {"Effect": "Deny", "Action": action, "Resource": res}


def repo(name: str) -> str:
    return f"arn:aws:ecr:us-east-1:{ME}:repository/{name}"


ADMIN = identity(allow("*"))
ONLY_CALLER_IDENTITY = identity(allow("sts:GetCallerIdentity"))


# The IAM User Guide's "Access denied error message examples" (JohnDoe), rebuilt from decisions.
JOHN = "arn:aws:iam::123456789012:user/JohnDoe"
GROUP = "arn:aws:codedeploy:us-east-1:123456789012:deploymentgroup:*"
SECRETS = "arn:aws:secretsmanager:us-east-1:123456789012:secret:*"
MESSAGES = [
    (Reason.NO_IDENTITY_ALLOW, "codecommit:ListRepositories", None,
     f"User: {JOHN} is not authorized to perform: codecommit:ListRepositories because no identity-based policy "
     "allows the codecommit:ListRepositories action"),
    (Reason.EXPLICIT_DENY_IDENTITY, "codedeploy:ListDeployments", GROUP,
     f"User: {JOHN} is not authorized to perform: codedeploy:ListDeployments on resource: {GROUP} with an "
     "explicit deny in an identity-based policy"),
    (Reason.NO_RESOURCE_ALLOW, "secretsmanager:GetSecretValue", None,
     f"User: {JOHN} is not authorized to perform: secretsmanager:GetSecretValue because no resource-based policy "
     "allows the secretsmanager:GetSecretValue action"),
    (Reason.EXPLICIT_DENY_RESOURCE, "secretsmanager:GetSecretValue", SECRETS,
     f"User: {JOHN} is not authorized to perform: secretsmanager:GetSecretValue on resource: {SECRETS} with an "
     "explicit deny in a resource-based policy"),
    (Reason.NO_BOUNDARY_ALLOW, "codedeploy:ListDeployments", GROUP,
     f"User: {JOHN} is not authorized to perform: codedeploy:ListDeployments on resource: {GROUP} because no "
     "permissions boundary allows the codedeploy:ListDeployments action"),
    (Reason.EXPLICIT_DENY_BOUNDARY, "sagemaker:ListModels", None,
     f"User: {JOHN} is not authorized to perform: sagemaker:ListModels with an explicit deny in a permissions "
     "boundary"),
    (Reason.NO_SESSION_ALLOW, "codecommit:ListRepositories", None,
     f"User: {JOHN} is not authorized to perform: codecommit:ListRepositories because no session policy allows "
     "the codecommit:ListRepositories action"),
    # The guide prints "a sessions policy" here, a typo; services answer "a session policy".
    (Reason.EXPLICIT_DENY_SESSION, "codedeploy:ListDeployments", GROUP,
     f"User: {JOHN} is not authorized to perform: codedeploy:ListDeployments on resource: {GROUP} with an "
     "explicit deny in a session policy"),
]  # fmt: skip


@pytest.mark.parametrize(("reason", "action", "resource_arn", "expected"), MESSAGES)
def test_access_denied_message(reason: Reason, action: str, resource_arn: str | None, expected: str) -> None:
    assert Decision(False, reason).message(JOHN, action, resource_arn) == expected


def test_an_allowed_decision_has_no_message() -> None:
    with pytest.raises(ValueError, match="no AccessDenied"):
        Decision(True, Reason.ALLOWED).message(JOHN, "s3:GetObject", "*")


def test_message_for_uses_the_context() -> None:
    context = RequestContext(BOB, "ecr:BatchGetImage", repo("app"))
    decision = evaluate(context, [])
    assert decision.message_for(context) == decision.message(BOB.arn, "ecr:BatchGetImage", repo("app"))


def test_reason_properties() -> None:
    assert Reason.EXPLICIT_DENY_SESSION.explicit
    assert Reason.EXPLICIT_DENY_SESSION.policy_type is PolicyType.SESSION
    assert not Reason.NO_RESOURCE_ALLOW.explicit
    assert Reason.NO_RESOURCE_ALLOW.policy_type is PolicyType.RESOURCE
    assert Reason.ALLOWED.policy_type is None


def test_matched_statements_say_where_they_come_from() -> None:
    granting = identity({"Sid": "Pull", **allow(PULL)})
    refuse = {"Sid": "NoPush", "Effect": "Deny", "Principal": "*", "Action": "ecr:PutImage"}
    policy = parse_policy({"Version": "2012-10-17", "Id": "repo-policy", "Statement": [refuse]}, "resource")
    decision = evaluate(RequestContext(BOB, "ecr:PutImage", repo("app")), [ADMIN, granting], [policy])
    (matched,) = decision.statements
    assert (matched.policy_type, matched.policy_index, matched.statement_index) == (PolicyType.RESOURCE, 0, 0)
    assert (matched.policy_id, matched.statement.sid) == ("repo-policy", "NoPush")
    allowed = evaluate(RequestContext(BOB, "ecr:BatchGetImage", repo("app")), [ADMIN, granting], [policy])
    assert [(m.policy_index, m.statement.sid) for m in allowed.statements] == [(0, None), (1, "Pull")]


def test_resource_account_can_be_given_explicitly() -> None:
    # S3 ARNs carry no account: the caller says whose bucket it is.
    context = RequestContext(OUTSIDER, "s3:GetObject", "arn:aws:s3:::bucket/k", resource_account=ME)
    assert context.is_cross_account
    assert evaluate(context, [ADMIN]).reason is Reason.NO_RESOURCE_ALLOW
    same = RequestContext(OUTSIDER, "s3:GetObject", "arn:aws:s3:::bucket/k")
    assert not same.is_cross_account
    assert evaluate(same, [ADMIN]).allowed


def test_boundaries_and_session_policies_do_not_apply_to_root() -> None:
    context = RequestContext(ROOT, "ecr:PutImage", repo("app"))
    assert evaluate(context, [], permissions_boundary=ONLY_CALLER_IDENTITY).allowed
    assert evaluate(context, [], session_policies=[ONLY_CALLER_IDENTITY]).allowed
    assert evaluate(context, [], session_policies=[identity(deny("ecr:*"))]).allowed
    assert evaluate(context, [], permissions_boundary=identity(deny("*"))).allowed


def test_access_denied_carries_the_message() -> None:
    context = RequestContext(BOB, "ecr:BatchGetImage", repo("app"))
    error = AccessDenied(evaluate(context, []).message_for(context))
    assert str(error).endswith("because no identity-based policy allows the ecr:BatchGetImage action")
    assert AccessDenied().text == "Access denied"
