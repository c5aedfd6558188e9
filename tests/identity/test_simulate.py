"""The policy simulator explains decisions with the same evaluator that authorises requests."""

from __future__ import annotations

import json

from .conftest import Plane
from .support import allow, new_user

REPO = "arn:aws:ecr:eu-west-1:111122223333:repository/{}"
READ_ONLY = "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly"
DENY_SECRET = """{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Sid": "NoSecrets",
      "Effect": "Deny",
      "Action": "ecr:BatchGetImage",
      "Resource": "arn:aws:ecr:eu-west-1:111122223333:repository/secret"
    }
  ]
}"""


def test_simulate_principal_policy_explains_an_allow_and_a_deny(plane: Plane) -> None:
    iam = plane.iam()
    name, _ = new_user(iam)
    iam.attach_user_policy(UserName=name, PolicyArn=READ_ONLY)
    iam.put_user_policy(UserName=name, PolicyName="no-secrets", PolicyDocument=DENY_SECRET)
    results = iam.simulate_principal_policy(
        PolicySourceArn=f"arn:aws:iam::{plane.account}:user/{name}",
        ActionNames=["ecr:BatchGetImage", "ecr:PutImage"],
        ResourceArns=[REPO.format("app"), REPO.format("secret")],
    )["EvaluationResults"]
    decisions = {(r["EvalActionName"], r["EvalResourceName"]): r for r in results}
    allowed = decisions[("ecr:BatchGetImage", REPO.format("app"))]
    assert allowed["EvalDecision"] == "allowed"
    assert [(m["SourcePolicyId"], m["SourcePolicyType"]) for m in allowed["MatchedStatements"]] == [
        ("AmazonEC2ContainerRegistryReadOnly", "aws-managed")
    ]
    denied = decisions[("ecr:BatchGetImage", REPO.format("secret"))]
    assert denied["EvalDecision"] == "explicitDeny"
    (statement,) = denied["MatchedStatements"]
    assert (statement["SourcePolicyId"], statement["SourcePolicyType"]) == ("no-secrets", "user")
    assert (statement["StartPosition"], statement["EndPosition"]) == (
        {"Line": 4, "Column": 5},
        {"Line": 9, "Column": 6},
    )
    push = decisions[("ecr:PutImage", REPO.format("app"))]
    assert (push["EvalDecision"], push["MatchedStatements"]) == ("implicitDeny", [])


def test_simulate_principal_policy_sees_group_policies_and_extra_input(plane: Plane) -> None:
    iam = plane.iam()
    name, _ = new_user(iam)
    group = f"{name}-group"
    iam.create_group(GroupName=group)
    iam.put_group_policy(
        GroupName=group, PolicyName="pull", PolicyDocument=json.dumps(allow("ecr:BatchGetImage"))
    )
    iam.add_user_to_group(GroupName=group, UserName=name)
    results = iam.simulate_principal_policy(
        PolicySourceArn=f"arn:aws:iam::{plane.account}:user/{name}",
        ActionNames=["ecr:BatchGetImage", "ecr:PutImage"],
        PolicyInputList=[json.dumps(allow("ecr:PutImage"))],
    )["EvaluationResults"]
    sources = {
        r["EvalActionName"]: [(m["SourcePolicyId"], m["SourcePolicyType"]) for m in r["MatchedStatements"]]
        for r in results
    }
    assert sources == {
        "ecr:BatchGetImage": [("pull", "group")],
        "ecr:PutImage": [("PolicyInputList.1", "none")],
    }


def test_simulate_custom_policy_with_context_and_resource_policy(plane: Plane) -> None:
    iam = plane.iam()
    conditional = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "ecr:BatchGetImage",
                "Resource": "*",
                "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}},
            }
        ],
    }

    def decide(ip: str) -> str:
        result = iam.simulate_custom_policy(
            PolicyInputList=[json.dumps(conditional)],
            ActionNames=["ecr:BatchGetImage"],
            ContextEntries=[
                {"ContextKeyName": "aws:SourceIp", "ContextKeyValues": [ip], "ContextKeyType": "ip"}
            ],
        )["EvaluationResults"][0]
        return str(result["EvalDecision"])

    assert (decide("10.1.2.3"), decide("192.168.0.1")) == ("allowed", "implicitDeny")
    deny_everyone = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Deny", "Principal": "*", "Action": "ecr:*"}],
    }
    result = iam.simulate_custom_policy(
        PolicyInputList=[json.dumps(allow("ecr:*"))],
        ActionNames=["ecr:BatchGetImage"],
        ResourceArns=[REPO.format("app")],
        ResourcePolicy=json.dumps(deny_everyone),
        CallerArn=f"arn:aws:iam::{plane.account}:user/someone",
    )["EvaluationResults"][0]
    assert result["EvalDecision"] == "explicitDeny"
    assert result["MatchedStatements"][0]["SourcePolicyType"] == "resource"
