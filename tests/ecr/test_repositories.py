"""Repositories, their settings, policies, resource tags, the registry and authorization tokens (boto3)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from .support import ACCOUNT, DOMAIN, REGION, Server

POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "pull",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
            }
        ],
    }
)


def error(caught: pytest.ExceptionInfo[ClientError]) -> tuple[int, str, str]:
    response: Any = caught.value.response
    return (
        response["ResponseMetadata"]["HTTPStatusCode"],
        response["Error"]["Code"],
        response["Error"]["Message"],
    )


def test_create_repository_with_every_setting(ecr: Any) -> None:
    before = datetime.now(UTC) - timedelta(seconds=2)
    repository = ecr.create_repository(
        repositoryName="team/app",
        imageTagMutability="IMMUTABLE_WITH_EXCLUSION",
        imageTagMutabilityExclusionFilters=[{"filterType": "WILDCARD", "filter": "latest*"}],
        imageScanningConfiguration={"scanOnPush": True},
        encryptionConfiguration={"encryptionType": "AES256"},
        tags=[{"Key": "team", "Value": "core"}, {"Key": "env", "Value": "prod"}],
    )["repository"]
    assert repository["repositoryArn"] == f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/team/app"
    assert repository["registryId"] == ACCOUNT
    assert repository["repositoryName"] == "team/app"
    assert repository["repositoryUri"] == f"{ACCOUNT}.dkr.{DOMAIN}/team/app"
    assert repository["createdAt"] >= before
    assert repository["imageTagMutability"] == "IMMUTABLE_WITH_EXCLUSION"
    assert repository["imageTagMutabilityExclusionFilters"] == [
        {"filterType": "WILDCARD", "filter": "latest*"}
    ]
    assert repository["imageScanningConfiguration"] == {"scanOnPush": True}
    assert repository["encryptionConfiguration"] == {"encryptionType": "AES256"}
    tags = ecr.list_tags_for_resource(resourceArn=repository["repositoryArn"])["tags"]
    assert tags == [{"Key": "env", "Value": "prod"}, {"Key": "team", "Value": "core"}]
    assert ecr.describe_repositories(repositoryNames=["team/app"])["repositories"] == [repository]


def test_defaults_and_duplicate(ecr: Any) -> None:
    repository = ecr.create_repository(repositoryName="plain")["repository"]
    assert repository["imageTagMutability"] == "MUTABLE"
    assert repository["imageScanningConfiguration"] == {"scanOnPush": False}
    assert repository["encryptionConfiguration"] == {"encryptionType": "AES256"}
    assert "imageTagMutabilityExclusionFilters" not in repository
    with pytest.raises(ecr.exceptions.RepositoryAlreadyExistsException) as caught:
        ecr.create_repository(repositoryName="plain")
    assert error(caught) == (
        400,
        "RepositoryAlreadyExistsException",
        f"The repository with name 'plain' already exists in the registry with id '{ACCOUNT}'",
    )


def test_kms_without_key_provider(ecr: Any) -> None:
    for kind in ("KMS", "KMS_DSSE"):
        with pytest.raises(ecr.exceptions.KmsException) as caught:
            ecr.create_repository(
                repositoryName=f"kms-{kind.lower()}", encryptionConfiguration={"encryptionType": kind}
            )
        assert "no KMS key provider" in error(caught)[2]
        assert caught.value.response["kmsError"] == "KMSNotConfigured"
    with pytest.raises(ecr.exceptions.RepositoryNotFoundException):
        ecr.describe_repositories(repositoryNames=["kms-kms"])


def test_repository_created_by_push_has_defaults(server: Server, ecr: Any) -> None:
    server.push_image("pushed/only", "v1")
    repository = ecr.describe_repositories(repositoryNames=["pushed/only"])["repositories"][0]
    assert repository["registryId"] == ACCOUNT
    assert repository["imageTagMutability"] == "MUTABLE"


def test_describe_missing_repository(ecr: Any) -> None:
    with pytest.raises(ecr.exceptions.RepositoryNotFoundException) as caught:
        ecr.describe_repositories(repositoryNames=["no/such"])
    assert error(caught) == (
        400,
        "RepositoryNotFoundException",
        f"The repository with name 'no/such' does not exist in the registry with id '{ACCOUNT}'",
    )
    with pytest.raises(ecr.exceptions.RepositoryNotFoundException):
        ecr.describe_repositories(repositoryNames=["plain-x"], registryId="999999999999")


def test_describe_repositories_paginates(ecr: Any) -> None:
    for i in range(7):
        ecr.create_repository(repositoryName=f"page/r{i}")
    pages = list(ecr.get_paginator("describe_repositories").paginate(PaginationConfig={"PageSize": 3}))
    names = [r["repositoryName"] for page in pages for r in page["repositories"]]
    assert [n for n in names if n.startswith("page/")] == [f"page/r{i}" for i in range(7)]
    assert names == sorted(names)
    assert len(names) == len(set(names))
    assert all(len(page["repositories"]) <= 3 for page in pages)
    with pytest.raises(ecr.exceptions.InvalidParameterException):
        ecr.describe_repositories(repositoryNames=["page/r1"], maxResults=2)
    with pytest.raises(ecr.exceptions.InvalidParameterException) as caught:
        ecr.describe_repositories(nextToken="forged")
    assert "nextToken" in error(caught)[2]


def test_delete_repository(server: Server, ecr: Any) -> None:
    ecr.create_repository(repositoryName="doomed", tags=[{"Key": "a", "Value": "b"}])
    server.push_image("doomed", "v1")
    with pytest.raises(ecr.exceptions.RepositoryNotEmptyException) as caught:
        ecr.delete_repository(repositoryName="doomed")
    assert "still contains images" in error(caught)[2]
    deleted = ecr.delete_repository(repositoryName="doomed", force=True)["repository"]
    assert deleted["repositoryName"] == "doomed"
    with pytest.raises(ecr.exceptions.RepositoryNotFoundException):
        ecr.delete_repository(repositoryName="doomed")
    assert server.http.get("/v2/doomed/tags/list").status_code == 404
    ecr.create_repository(repositoryName="doomed")  # nothing of the old one is left behind
    assert ecr.list_tags_for_resource(resourceArn=deleted["repositoryArn"])["tags"] == []
    assert ecr.delete_repository(repositoryName="doomed")["repository"]["repositoryName"] == "doomed"


@pytest.mark.parametrize(
    ("mutability", "filters"),
    [
        ("IMMUTABLE", None),
        ("MUTABLE", None),
        ("IMMUTABLE_WITH_EXCLUSION", ["dev-*", "latest"]),
        ("MUTABLE_WITH_EXCLUSION", ["release-*"]),
    ],
)
def test_put_image_tag_mutability(ecr: Any, repo: str, mutability: str, filters: list[str] | None) -> None:
    kwargs: dict[str, Any] = {"repositoryName": repo, "imageTagMutability": mutability}
    if filters:
        kwargs["imageTagMutabilityExclusionFilters"] = [
            {"filterType": "WILDCARD", "filter": f} for f in filters
        ]
    answer = ecr.put_image_tag_mutability(**kwargs)
    assert (answer["registryId"], answer["repositoryName"], answer["imageTagMutability"]) == (
        ACCOUNT,
        repo,
        mutability,
    )
    assert answer.get("imageTagMutabilityExclusionFilters") == kwargs.get(
        "imageTagMutabilityExclusionFilters"
    )
    described = ecr.describe_repositories(repositoryNames=[repo])["repositories"][0]
    assert described["imageTagMutability"] == mutability


def test_mutability_filters_must_match_the_mode(ecr: Any, repo: str) -> None:
    with pytest.raises(ecr.exceptions.InvalidParameterException):
        ecr.put_image_tag_mutability(repositoryName=repo, imageTagMutability="IMMUTABLE_WITH_EXCLUSION")
    with pytest.raises(ecr.exceptions.InvalidParameterException):
        ecr.put_image_tag_mutability(
            repositoryName=repo,
            imageTagMutability="IMMUTABLE",
            imageTagMutabilityExclusionFilters=[{"filterType": "WILDCARD", "filter": "x"}],
        )
    assert (
        ecr.describe_repositories(repositoryNames=[repo])["repositories"][0]["imageTagMutability"]
        == "MUTABLE"
    )


def test_put_image_scanning_configuration(ecr: Any, repo: str) -> None:
    answer = ecr.put_image_scanning_configuration(
        repositoryName=repo, imageScanningConfiguration={"scanOnPush": True}
    )
    assert answer["imageScanningConfiguration"] == {"scanOnPush": True}
    assert (answer["registryId"], answer["repositoryName"]) == (ACCOUNT, repo)
    described = ecr.describe_repositories(repositoryNames=[repo])["repositories"][0]
    assert described["imageScanningConfiguration"] == {"scanOnPush": True}


def test_repository_policy(ecr: Any, repo: str) -> None:
    with pytest.raises(ecr.exceptions.RepositoryPolicyNotFoundException) as caught:
        ecr.get_repository_policy(repositoryName=repo)
    assert error(caught)[2] == (
        f"Repository policy does not exist for the repository with name '{repo}' in the registry with id "
        f"'{ACCOUNT}'"
    )
    answer = ecr.set_repository_policy(repositoryName=repo, policyText=POLICY)
    assert answer == {**answer, "registryId": ACCOUNT, "repositoryName": repo, "policyText": POLICY}
    assert ecr.get_repository_policy(repositoryName=repo)["policyText"] == POLICY
    assert ecr.delete_repository_policy(repositoryName=repo)["policyText"] == POLICY
    with pytest.raises(ecr.exceptions.RepositoryPolicyNotFoundException):
        ecr.delete_repository_policy(repositoryName=repo)


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ecr:*"}]}
        ),  # no Principal
        json.dumps({"Statement": [{"Effect": "Maybe", "Principal": "*", "Action": "ecr:*"}]}),
    ],
)
def test_malformed_repository_policy_changes_nothing(ecr: Any, repo: str, text: str) -> None:
    ecr.set_repository_policy(repositoryName=repo, policyText=POLICY)
    with pytest.raises(ecr.exceptions.InvalidParameterException) as caught:
        ecr.set_repository_policy(repositoryName=repo, policyText=text)
    assert error(caught)[2] == (
        "Invalid parameter at 'PolicyText' failed to satisfy constraint: 'Invalid repository policy provided'"
    )
    assert ecr.get_repository_policy(repositoryName=repo)["policyText"] == POLICY


def test_resource_tags(ecr: Any, repo: str) -> None:
    arn = f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/{repo}"
    ecr.tag_resource(resourceArn=arn, tags=[{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}])
    ecr.tag_resource(resourceArn=arn, tags=[{"Key": "a", "Value": "one"}])
    assert ecr.list_tags_for_resource(resourceArn=arn)["tags"] == [
        {"Key": "a", "Value": "one"},
        {"Key": "b", "Value": "2"},
    ]
    ecr.untag_resource(resourceArn=arn, tagKeys=["a", "missing"])
    assert ecr.list_tags_for_resource(resourceArn=arn)["tags"] == [{"Key": "b", "Value": "2"}]
    with pytest.raises(ecr.exceptions.InvalidTagParameterException):
        ecr.tag_resource(resourceArn=arn, tags=[{"Key": "aws:reserved", "Value": "x"}])
    with pytest.raises(ecr.exceptions.TooManyTagsException):
        ecr.tag_resource(resourceArn=arn, tags=[{"Key": f"k{i}", "Value": "v"} for i in range(50)])
    assert ecr.list_tags_for_resource(resourceArn=arn)["tags"] == [{"Key": "b", "Value": "2"}]
    with pytest.raises(ecr.exceptions.InvalidParameterException):
        ecr.list_tags_for_resource(resourceArn="arn:aws:s3:::bucket")
    with pytest.raises(ecr.exceptions.RepositoryNotFoundException):
        ecr.list_tags_for_resource(resourceArn=f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/nope")


def test_registry(ecr: Any) -> None:
    described = ecr.describe_registry()
    assert described["registryId"] == ACCOUNT
    assert described["replicationConfiguration"] == {"rules": []}
    with pytest.raises(ecr.exceptions.RegistryPolicyNotFoundException) as caught:
        ecr.get_registry_policy()
    assert error(caught)[2] == f"Registry policy does not exist in the registry with id '{ACCOUNT}'"
    put = ecr.put_registry_policy(policyText=POLICY)
    assert (put["registryId"], put["policyText"]) == (ACCOUNT, POLICY)
    assert ecr.get_registry_policy()["policyText"] == POLICY
    with pytest.raises(ecr.exceptions.InvalidParameterException):
        ecr.put_registry_policy(policyText="{}")
    assert ecr.delete_registry_policy()["policyText"] == POLICY
    with pytest.raises(ecr.exceptions.RegistryPolicyNotFoundException):
        ecr.delete_registry_policy()


def test_get_authorization_token(server: Server, ecr: Any) -> None:
    before = datetime.now(UTC)
    data = ecr.get_authorization_token()["authorizationData"]
    assert len(data) == 1
    user, _, password = base64.b64decode(data[0]["authorizationToken"]).decode().partition(":")
    assert user == "AWS"
    assert data[0]["proxyEndpoint"] == f"https://{ACCOUNT}.dkr.{DOMAIN}"
    assert timedelta(hours=11, minutes=59) < data[0]["expiresAt"] - before <= timedelta(hours=12, seconds=2)
    claims = server.api.issuer.verify(password, datetime.now(UTC))
    assert claims is not None
    assert (claims.account, claims.principal) == (ACCOUNT, "AKIDECRTESTEXAMPLE")
    assert server.api.issuer.verify(password[:-2] + "xx", datetime.now(UTC)) is None
    assert server.api.issuer.verify(password, datetime.now(UTC) + timedelta(hours=13)) is None
    several = ecr.get_authorization_token(registryIds=[ACCOUNT, "210987654321"])["authorizationData"]
    assert [d["proxyEndpoint"] for d in several] == [
        f"https://{ACCOUNT}.dkr.{DOMAIN}",
        f"https://210987654321.dkr.{DOMAIN}",
    ]
