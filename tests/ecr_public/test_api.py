"""The ``ecr-public`` API with unmodified boto3 and the aws CLI against a real server: every operation with
good and bad input, ECR Public's exception names and AWS's wording, IAM on ``ecr-public:*`` actions."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from identity.support import AWS_CLI, Creds, error_of, new_user, unique

from .conftest import ACCOUNT_A, ACCOUNT_B, ALIAS_A, PUBLIC, Plane

ALIAS = re.compile(r"^[a-z][a-z0-9]{7}$")


def _name(prefix: str = "app") -> str:
    return unique(prefix)


def _error(call: Any, **params: Any) -> tuple[str, int, str]:
    with pytest.raises(ClientError) as caught:
        call(**params)
    code, status = error_of(caught)
    return code, status, caught.value.response["Error"]["Message"]


# -- registries ---------------------------------------------------------------------------------------


def test_describe_registries_gives_each_account_one_alias(plane: Plane) -> None:
    found = plane.public().describe_registries()["registries"]
    assert found == [
        {
            "registryId": ACCOUNT_A,
            "registryArn": f"arn:aws:ecr-public::{ACCOUNT_A}:registry/{ACCOUNT_A}",
            "registryUri": f"{PUBLIC}/{ALIAS_A}",
            "verified": False,
            "aliases": [
                {
                    "name": ALIAS_A,
                    "status": "ACTIVE",
                    "primaryRegistryAlias": True,
                    "defaultRegistryAlias": True,
                }
            ],
        }
    ]
    other = plane.public(ACCOUNT_B).describe_registries()["registries"][0]
    alias = other["aliases"][0]["name"]
    assert ALIAS.match(alias), alias  # not the default account: a random alias, as ECR Public gives
    assert plane.public(ACCOUNT_B).describe_registries()["registries"][0]["aliases"][0]["name"] == alias
    assert _error(plane.public().describe_registries, nextToken="bogus")[0] == "InvalidParameterException"


def test_registry_catalog_data(plane: Plane) -> None:
    api = plane.public(ACCOUNT_B)
    assert api.get_registry_catalog_data()["registryCatalogData"] == {"displayName": ""}
    assert api.put_registry_catalog_data(displayName="Team B")["registryCatalogData"] == {
        "displayName": "Team B"
    }
    assert api.get_registry_catalog_data()["registryCatalogData"] == {"displayName": "Team B"}
    code, status, message = _error(api.put_registry_catalog_data, displayName="x" * 101)
    assert (code, status) == ("InvalidParameterException", 400)
    assert "displayName" in message
    assert api.get_registry_catalog_data()["registryCatalogData"] == {"displayName": "Team B"}


# -- repositories -------------------------------------------------------------------------------------


def test_create_describe_and_delete_a_repository(plane: Plane) -> None:
    api, name = plane.public(), _name()
    catalog = {
        "description": "a demo",
        "aboutText": "# About",
        "usageText": "docker pull ...",
        "architectures": ["x86-64", "ARM 64"],
        "operatingSystems": ["Linux"],
    }
    created = api.create_repository(
        repositoryName=name, catalogData=catalog, tags=[{"Key": "team", "Value": "core"}]
    )
    repository = created["repository"]
    assert repository["repositoryArn"] == f"arn:aws:ecr-public::{ACCOUNT_A}:repository/{name}"
    assert repository["repositoryUri"] == f"{PUBLIC}/{ALIAS_A}/{name}"
    assert repository["registryId"] == ACCOUNT_A
    assert abs(repository["createdAt"] - datetime.now(UTC)) < timedelta(minutes=1)
    assert created["catalogData"] == {**catalog, "marketplaceCertified": False}
    described = api.describe_repositories(repositoryNames=[name])["repositories"]
    assert described == [repository]
    tags = api.list_tags_for_resource(resourceArn=repository["repositoryArn"])["tags"]
    assert tags == [{"Key": "team", "Value": "core"}]
    code, status, message = _error(api.create_repository, repositoryName=name)
    assert (code, status) == ("RepositoryAlreadyExistsException", 400)
    assert (
        message == f"The repository with name '{name}' already exists in the registry with id '{ACCOUNT_A}'"
    )
    assert api.delete_repository(repositoryName=name)["repository"] == repository
    code, _, message = _error(api.describe_repositories, repositoryNames=[name])
    assert code == "RepositoryNotFoundException"
    assert (
        message == f"The repository with name '{name}' does not exist in the registry with id '{ACCOUNT_A}'"
    )
    assert _error(api.delete_repository, repositoryName=name)[0] == "RepositoryNotFoundException"


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"repositoryName": "Bad_Name"}, "InvalidParameterException"),
        ({"repositoryName": "a"}, "InvalidParameterException"),
        (
            {"repositoryName": "ok-name", "catalogData": {"architectures": ["sparc"]}},
            "InvalidParameterException",
        ),
        (
            {"repositoryName": "ok-name", "catalogData": {"operatingSystems": ["Plan9"]}},
            "InvalidParameterException",
        ),
        (
            {"repositoryName": "ok-name", "catalogData": {"description": "x" * 1025}},
            "InvalidParameterException",
        ),
        (
            {"repositoryName": "ok-name", "catalogData": {"logoImageBlob": b"\x89PNG"}},
            "InvalidParameterException",
        ),
        (
            {"repositoryName": "ok-name", "tags": [{"Key": "aws:x", "Value": "v"}]},
            "InvalidTagParameterException",
        ),
    ],
)
def test_create_repository_refuses_bad_input(plane: Plane, params: dict[str, Any], code: str) -> None:
    api = _unvalidated(plane)  # the server's own checks, not botocore's client-side ones
    assert _error(api.create_repository, **params)[:2] == (code, 400)
    assert _error(api.describe_repositories, repositoryNames=["ok-name"])[0] == "RepositoryNotFoundException"


def test_public_and_private_repositories_of_one_name_are_different(plane: Plane) -> None:
    name = _name("both")
    private = _private(plane)
    private.create_repository(repositoryName=name)
    public = plane.public()
    public.create_repository(repositoryName=name, catalogData={"description": "public one"})
    assert public.describe_repositories(repositoryNames=[name])["repositories"][0]["repositoryUri"] == (
        f"{PUBLIC}/{ALIAS_A}/{name}"
    )
    assert private.describe_repositories(repositoryNames=[name])["repositories"][0]["repositoryUri"] == (
        f"{ACCOUNT_A}.dkr.{PUBLIC.removeprefix('public.')}/{name}"
    )
    public.delete_repository(repositoryName=name)
    assert private.describe_repositories(repositoryNames=[name])["repositories"]
    private_names = {r["repositoryName"] for r in private.describe_repositories()["repositories"]}
    assert not any(n.startswith(f"{ALIAS_A}/") for n in private_names)
    private.delete_repository(repositoryName=name)


def _unvalidated(plane: Plane) -> Any:
    creds = plane.roots[ACCOUNT_A]
    return boto3.client(
        "ecr-public",
        endpoint_url=plane.url,
        region_name="us-east-1",
        aws_access_key_id=creds.key,
        aws_secret_access_key=creds.secret,
        config=Config(parameter_validation=False, retries={"total_max_attempts": 1}),
    )


def _private(plane: Plane) -> Any:
    from identity.support import client

    return client(plane.url, "ecr", plane.roots[ACCOUNT_A])


def test_describe_repositories_pages(plane: Plane) -> None:
    api = plane.public(ACCOUNT_B)
    names = sorted(_name("page") for _ in range(3))
    for name in names:
        api.create_repository(repositoryName=name)
    seen, token = [], None
    while True:
        params: dict[str, Any] = {"maxResults": 1}
        if token:
            params["nextToken"] = token
        page = api.describe_repositories(**params)
        seen += [r["repositoryName"] for r in page["repositories"]]
        token = page.get("nextToken")
        if not token:
            break
    assert [n for n in seen if n in names] == names
    assert _error(api.describe_repositories, nextToken="forged")[0] == "InvalidParameterException"
    assert _error(api.describe_repositories, repositoryNames=[names[0]], maxResults=1)[0] == (
        "InvalidParameterException"
    )
    assert _error(_unvalidated(plane).describe_repositories, maxResults=0)[0] == "InvalidParameterException"


def test_repository_catalog_data_is_merged_and_read_back(plane: Plane) -> None:
    api, name = plane.public(), _name()
    api.create_repository(repositoryName=name)
    assert api.get_repository_catalog_data(repositoryName=name)["catalogData"] == {
        "marketplaceCertified": False
    }
    api.put_repository_catalog_data(
        repositoryName=name, catalogData={"description": "d", "architectures": ["ARM"]}
    )
    put = api.put_repository_catalog_data(repositoryName=name, catalogData={"usageText": "run it"})
    expected = {
        "description": "d",
        "architectures": ["ARM"],
        "usageText": "run it",
        "marketplaceCertified": False,
    }
    assert put["catalogData"] == expected
    assert api.get_repository_catalog_data(repositoryName=name)["catalogData"] == expected
    bad = {"repositoryName": name, "catalogData": {"architectures": ["mips"]}}
    assert _error(api.put_repository_catalog_data, **bad)[0] == "InvalidParameterException"
    missing = {"repositoryName": "nope-none", "catalogData": {}}
    assert _error(api.put_repository_catalog_data, **missing)[0] == "RepositoryNotFoundException"
    assert (
        _error(api.get_repository_catalog_data, repositoryName="nope-none")[0]
        == "RepositoryNotFoundException"
    )


# -- images -------------------------------------------------------------------------------------------


def test_images_pushed_through_the_public_host_are_described(plane: Plane) -> None:
    api, name = plane.public(), _name("images")
    api.create_repository(repositoryName=name)
    password = plane.password(plane.roots[ACCOUNT_A])
    first = plane.push(f"{ALIAS_A}/{name}", "v1", password)
    second = plane.push(f"{ALIAS_A}/{name}", "v2", password)
    plane.push(f"{ALIAS_A}/{name}", "latest", password, seed="third")
    details = api.describe_images(repositoryName=name)["imageDetails"]
    assert [d["imageDigest"] for d in details][:2] == [first, second]
    assert details[0]["imageTags"] == ["v1"]
    assert details[0]["imageManifestMediaType"] == "application/vnd.oci.image.manifest.v1+json"
    assert details[0]["imageSizeInBytes"] > 0
    assert details[0]["registryId"] == ACCOUNT_A
    assert details[0]["repositoryName"] == name
    by_tag = api.describe_images(repositoryName=name, imageIds=[{"imageTag": "v2"}])["imageDetails"]
    assert [d["imageDigest"] for d in by_tag] == [second]
    page = api.describe_images(repositoryName=name, maxResults=2)
    assert len(page["imageDetails"]) == 2
    rest = api.describe_images(repositoryName=name, nextToken=page["nextToken"])["imageDetails"]
    assert len(rest) == 1
    code, _, message = _error(api.describe_images, repositoryName=name, imageIds=[{"imageTag": "nope"}])
    assert code == "ImageNotFoundException"
    assert "imageTag:'nope'" in message
    assert _error(api.describe_images, repositoryName="nope-none")[0] == "RepositoryNotFoundException"
    tags = api.describe_image_tags(repositoryName=name)["imageTagDetails"]
    assert [t["imageTag"] for t in tags] == ["latest", "v1", "v2"]
    assert tags[1]["imageDetail"]["imageDigest"] == first
    assert tags[1]["imageDetail"]["imageSizeInBytes"] == details[0]["imageSizeInBytes"]
    paged = api.describe_image_tags(repositoryName=name, maxResults=2)
    assert len(paged["imageTagDetails"]) == 2
    after = api.describe_image_tags(repositoryName=name, nextToken=paged["nextToken"])["imageTagDetails"]
    assert [t["imageTag"] for t in after] == ["v2"]
    assert _error(api.describe_image_tags, repositoryName="nope-none")[0] == "RepositoryNotFoundException"
    code, _, message = _error(api.delete_repository, repositoryName=name)
    assert code == "RepositoryNotEmptyException"
    assert "cannot be deleted because it still contains images" in message
    api.delete_repository(repositoryName=name, force=True)
    token = plane.token(f"repository:{ALIAS_A}/{name}:pull").json()["token"]
    gone = plane.v2("GET", f"{ALIAS_A}/{name}/manifests/v1", token)
    assert gone.status_code == 404
    assert gone.json()["errors"][0]["code"] == "NAME_UNKNOWN"


def test_push_tokens_follow_iam_and_denials_are_in_aws_words(plane: Plane) -> None:
    name = _name("iam-push")
    plane.public().create_repository(repositoryName=name)
    path = f"{ALIAS_A}/{name}"
    login = {"Effect": "Allow", "Action": ["ecr-public:GetAuthorizationToken", "sts:GetServiceBearerToken"]}
    login["Resource"] = "*"
    push = {"Effect": "Allow", "Action": ["ecr-public:InitiateLayerUpload"]}
    push["Resource"] = f"arn:aws:ecr-public::{ACCOUNT_A}:repository/{name}"
    _, reader = new_user(plane.iam(), policy={"Version": "2012-10-17", "Statement": [login]})
    _, pusher = new_user(plane.iam(), policy={"Version": "2012-10-17", "Statement": [login, push]})
    token = plane.token(f"repository:{path}:pull,push", plane.password(reader)).json()["token"]
    denied = plane.v2("POST", f"{path}/blobs/uploads/", token)
    assert denied.status_code == 403
    error = denied.json()["errors"][0]
    assert error["code"] == "DENIED"
    assert error["message"].endswith(
        f"is not authorized to perform: ecr-public:InitiateLayerUpload on resource: "
        f"arn:aws:ecr-public::{ACCOUNT_A}:repository/{name} because no identity-based policy allows the "
        "ecr-public:InitiateLayerUpload action"
    )
    token = plane.token(f"repository:{path}:pull,push", plane.password(pusher)).json()["token"]
    assert plane.v2("POST", f"{path}/blobs/uploads/", token).status_code == 202
    denied = plane.v2("PUT", f"{path}/manifests/v1", token, content=b"{}")
    assert denied.status_code == 403
    assert "ecr-public:PutImage" in denied.json()["errors"][0]["message"]
    assert plane.public().describe_images(repositoryName=name)["imageDetails"] == []


def test_a_push_to_a_repository_that_was_never_created_is_refused(plane: Plane) -> None:
    password = plane.password(plane.roots[ACCOUNT_A])
    path = f"{ALIAS_A}/{_name('never')}"
    token = plane.token(f"repository:{path}:pull,push", password).json()["token"]
    refused = plane.v2("POST", f"{path}/blobs/uploads/", token)
    assert refused.status_code == 404
    assert refused.json()["errors"][0]["code"] == "NAME_UNKNOWN"


# -- policies and IAM ---------------------------------------------------------------------------------


def test_repository_policy_round_trip(plane: Plane) -> None:
    api, name = plane.public(), _name()
    api.create_repository(repositoryName=name)
    code, _, message = _error(api.get_repository_policy, repositoryName=name)
    assert code == "RepositoryPolicyNotFoundException"
    assert message.startswith(f"Repository policy does not exist for the repository with name '{name}'")
    assert _error(api.set_repository_policy, repositoryName=name, policyText="{not json")[0] == (
        "InvalidParameterException"
    )
    policy = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT_B}:root"},
                    "Action": ["ecr-public:DescribeRepositories", "ecr-public:GetRepositoryCatalogData"],
                }
            ],
        }
    )
    set_ = api.set_repository_policy(repositoryName=name, policyText=policy)
    assert (set_["registryId"], set_["repositoryName"], set_["policyText"]) == (ACCOUNT_A, name, policy)
    assert api.get_repository_policy(repositoryName=name)["policyText"] == policy
    other = plane.public(ACCOUNT_B)
    shared = other.describe_repositories(registryId=ACCOUNT_A, repositoryNames=[name])["repositories"]
    assert shared[0]["repositoryUri"] == f"{PUBLIC}/{ALIAS_A}/{name}"
    code, _, message = _error(other.delete_repository, registryId=ACCOUNT_A, repositoryName=name)
    assert code == "AccessDeniedException"
    assert "is not authorized to perform: ecr-public:DeleteRepository on resource: " in message
    assert f"arn:aws:ecr-public::{ACCOUNT_A}:repository/{name}" in message
    assert api.delete_repository_policy(repositoryName=name)["policyText"] == policy
    assert _error(api.delete_repository_policy, repositoryName=name)[0] == "RepositoryPolicyNotFoundException"
    code = _error(other.describe_repositories, registryId=ACCOUNT_A, repositoryNames=[name])[0]
    assert code == "AccessDeniedException"
    missing = {"repositoryName": "nope-none", "policyText": policy}
    assert _error(api.set_repository_policy, **missing)[0] == "RepositoryNotFoundException"


def test_a_user_needs_ecr_public_actions_and_a_bearer_token_permission(plane: Plane) -> None:
    iam = plane.iam()
    _, nobody = new_user(iam)
    code, status, message = _error(plane.public(creds=nobody).create_repository, repositoryName="denied-one")
    assert (code, status) == ("AccessDeniedException", 400)
    assert message.startswith(f"User: arn:aws:iam::{ACCOUNT_A}:user/")
    assert message.endswith(
        f"is not authorized to perform: ecr-public:CreateRepository on resource: "
        f"arn:aws:ecr-public::{ACCOUNT_A}:repository/denied-one because no identity-based policy allows the "
        "ecr-public:CreateRepository action"
    )
    only_ecr_public = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "ecr-public:GetAuthorizationToken", "Resource": "*"}],
    }
    _, half = new_user(iam, policy=only_ecr_public)
    code, _, message = _error(plane.public(creds=half).get_authorization_token)
    assert code == "AccessDeniedException"
    assert "sts:GetServiceBearerToken" in message
    both = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["ecr-public:GetAuthorizationToken", "sts:GetServiceBearerToken"],
                "Resource": "*",
            }
        ],
    }
    _, login = new_user(iam, policy=both)
    data = plane.public(creds=login).get_authorization_token()["authorizationData"]
    user, _, password = base64.b64decode(data["authorizationToken"]).decode().partition(":")
    assert user == "AWS"
    assert password
    assert timedelta(hours=11) < data["expiresAt"] - datetime.now(UTC) <= timedelta(hours=12)


def test_set_repository_policy_guards_against_locking_the_caller_out(plane: Plane) -> None:
    iam = plane.iam()
    name = _name("guard")
    plane.public().create_repository(repositoryName=name)
    user, creds = new_user(
        iam,
        policy={
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "ecr-public:*", "Resource": "*"}],
        },
    )
    lockout = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Deny",
                    "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT_A}:user/{user}"},
                    "Action": "ecr-public:SetRepositoryPolicy",
                }
            ],
        }
    )
    api = plane.public(creds=creds)
    code, _, message = _error(api.set_repository_policy, repositoryName=name, policyText=lockout)
    assert code == "InvalidParameterException"
    assert "force" in message
    api.set_repository_policy(repositoryName=name, policyText=lockout, force=True)
    assert (
        _error(api.set_repository_policy, repositoryName=name, policyText=lockout)[0]
        == "AccessDeniedException"
    )


def test_resource_tags(plane: Plane) -> None:
    api, name = plane.public(), _name()
    arn = api.create_repository(repositoryName=name)["repository"]["repositoryArn"]
    api.tag_resource(resourceArn=arn, tags=[{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}])
    api.untag_resource(resourceArn=arn, tagKeys=["a"])
    assert api.list_tags_for_resource(resourceArn=arn)["tags"] == [{"Key": "b", "Value": "2"}]
    bad = f"arn:aws:ecr:us-east-1:{ACCOUNT_A}:repository/{name}"
    assert _error(api.list_tags_for_resource, resourceArn=bad)[0] == "InvalidParameterException"


def test_operations_it_does_not_serve_are_unknown(plane: Plane) -> None:
    code, status, _ = _error(
        plane.public().batch_delete_image, repositoryName="x1", imageIds=[{"imageTag": "a"}]
    )
    assert (code, status) == ("UnknownOperationException", 400)


def test_the_aws_cli_logs_in_and_describes(plane: Plane, tmp_path: Any) -> None:
    creds: Creds = plane.roots[ACCOUNT_A]
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "AWS_ACCESS_KEY_ID": creds.key,
        "AWS_SECRET_ACCESS_KEY": creds.secret,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": str(tmp_path / "config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "credentials"),
    }

    def aws(*args: str) -> str:
        done = subprocess.run(
            [AWS_CLI, "ecr-public", *args, "--endpoint-url", plane.url],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    registries = json.loads(aws("describe-registries"))["registries"]
    assert registries[0]["aliases"][0]["name"] == ALIAS_A
    password = aws("get-login-password").strip()
    token = plane.token(f"repository:{ALIAS_A}/x1:pull,push", password)
    assert token.status_code == 200
