"""Repository and registry policies on the ECR API: validation, ECR's lock-out guard, and grants to other
principals of the same account."""

from __future__ import annotations

import json
from typing import Any

import pytest

from .conftest import ACCOUNT_A, Registry

pytestmark = pytest.mark.e2e


def _code(caught: Any) -> tuple[str, str]:
    error = caught.value.response["Error"]
    return error["Code"], error["Message"]


def test_set_get_delete_repository_policy_with_ecr_validation(registry: Registry) -> None:
    a = registry.ecr(registry.roots[ACCOUNT_A])
    a.create_repository(repositoryName="policy/locked")
    root = f"arn:aws:iam::{ACCOUNT_A}:root"
    with pytest.raises(a.exceptions.InvalidParameterException) as caught:
        a.set_repository_policy(repositoryName="policy/locked", policyText='{"Statement": "nope"}')
    assert "Invalid repository policy provided" in _code(caught)[1]
    lock_out = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Deny", "Principal": {"AWS": root}, "Action": "ecr:SetRepositoryPolicy"}
            ],
        }
    )
    with pytest.raises(a.exceptions.InvalidParameterException) as caught:
        a.set_repository_policy(repositoryName="policy/locked", policyText=lock_out)
    assert "force" in _code(caught)[1]
    with pytest.raises(a.exceptions.RepositoryPolicyNotFoundException):
        a.get_repository_policy(repositoryName="policy/locked")
    a.set_repository_policy(repositoryName="policy/locked", policyText=lock_out, force=True)
    assert json.loads(a.get_repository_policy(repositoryName="policy/locked")["policyText"]) == json.loads(
        lock_out
    )
    with pytest.raises(a.exceptions.ClientError) as caught:
        a.set_repository_policy(repositoryName="policy/locked", policyText=lock_out, force=True)
    assert _code(caught)[0] == "AccessDeniedException"
    assert "with an explicit deny in a resource-based policy" in _code(caught)[1]
    a.delete_repository_policy(repositoryName="policy/locked")
    a.delete_repository(repositoryName="policy/locked")


def test_repository_policy_grants_another_user_of_the_account(registry: Registry) -> None:
    a = registry.ecr(registry.roots[ACCOUNT_A])
    a.create_repository(repositoryName="policy/shared")
    nobody = registry.user(
        inline={
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"}],
        }
    )
    theirs = registry.ecr(nobody)
    with pytest.raises(theirs.exceptions.ClientError) as caught:
        theirs.list_images(repositoryName="policy/shared")
    assert _code(caught)[0] == "AccessDeniedException"
    user_arn = registry.sts(nobody).get_caller_identity()["Arn"]
    grant = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": user_arn}, "Action": "ecr:ListImages"}],
    }
    a.set_repository_policy(repositoryName="policy/shared", policyText=json.dumps(grant))
    assert theirs.list_images(repositoryName="policy/shared")["imageIds"] == []
    a.delete_repository(repositoryName="policy/shared", force=True)
