"""IAM through real boto3 clients: every entity is created, read back, changed and removed over the wire."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError  # type: ignore[import-untyped]

from .conftest import Plane
from .support import allow, error_of, new_user, unique

TRUST: dict[str, Any] = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {
                "AWS": "arn:aws:iam::111122223333:root",
                "Service": ["ec2.amazonaws.com", "ecs-tasks.amazonaws.com"],
            },
            "Action": "sts:AssumeRole",
        }
    ],
}
READ_ONLY = "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly"


def test_users_are_created_read_listed_paged_and_deleted(plane: Plane) -> None:
    iam = plane.iam()
    name = unique("alice")
    created = iam.create_user(UserName=name, Path="/team/", Tags=[{"Key": "team", "Value": "blue"}])["User"]
    assert created["Arn"] == f"arn:aws:iam::{plane.account}:user/team/{name}"
    assert created["UserId"].startswith("AIDA")
    assert len(created["UserId"]) == 20
    fetched = iam.get_user(UserName=name)["User"]
    assert (fetched["Path"], fetched["Tags"]) == ("/team/", [{"Key": "team", "Value": "blue"}])
    assert [u["UserName"] for u in iam.list_users(PathPrefix="/team/")["Users"]] == [name]
    with pytest.raises(ClientError) as caught:
        iam.create_user(UserName=name)
    assert error_of(caught) == ("EntityAlreadyExists", 409)
    iam.create_user(UserName=unique("alice"), Path="/team/")
    first = iam.list_users(PathPrefix="/team/", MaxItems=1)
    assert first["IsTruncated"]
    assert len(first["Users"]) == 1
    rest = iam.list_users(PathPrefix="/team/", Marker=first["Marker"])
    assert not rest["IsTruncated"]
    assert len(rest["Users"]) == 1
    paginated = iam.get_paginator("list_users").paginate(
        PathPrefix="/team/", PaginationConfig={"PageSize": 1}
    )
    assert len([u for page in paginated for u in page["Users"]]) == 2
    iam.delete_user(UserName=name)
    with pytest.raises(ClientError) as caught:
        iam.get_user(UserName=name)
    assert error_of(caught) == ("NoSuchEntity", 404)
    assert "cannot be found" in caught.value.response["Error"]["Message"]


def test_access_keys_are_created_listed_deactivated_and_deleted(plane: Plane) -> None:
    iam = plane.iam()
    name, creds = new_user(iam)
    second = iam.create_access_key(UserName=name)["AccessKey"]
    assert second["AccessKeyId"].startswith("AKIA")
    assert len(second["SecretAccessKey"]) == 40
    with pytest.raises(ClientError) as caught:
        iam.create_access_key(UserName=name)
    assert error_of(caught) == ("LimitExceeded", 409)
    listed = iam.list_access_keys(UserName=name)["AccessKeyMetadata"]
    assert {k["AccessKeyId"] for k in listed} == {creds.key, second["AccessKeyId"]}
    assert all("SecretAccessKey" not in k for k in listed)
    iam.update_access_key(UserName=name, AccessKeyId=creds.key, Status="Inactive")
    statuses = {
        k["AccessKeyId"]: k["Status"] for k in iam.list_access_keys(UserName=name)["AccessKeyMetadata"]
    }
    assert statuses == {creds.key: "Inactive", second["AccessKeyId"]: "Active"}
    other, _ = new_user(iam)
    with pytest.raises(ClientError) as caught:  # a key is addressed through its own user only
        iam.delete_access_key(UserName=other, AccessKeyId=creds.key)
    assert error_of(caught) == ("NoSuchEntity", 404)
    with pytest.raises(ClientError) as caught:
        iam.delete_user(UserName=name)
    assert error_of(caught) == ("DeleteConflict", 409)
    iam.delete_access_key(UserName=name, AccessKeyId=creds.key)
    iam.delete_access_key(UserName=name, AccessKeyId=second["AccessKeyId"])
    assert iam.list_access_keys(UserName=name)["AccessKeyMetadata"] == []
    iam.delete_user(UserName=name)


def test_a_user_manages_its_own_keys_without_naming_itself(plane: Plane) -> None:
    name, creds = new_user(plane.iam(), policy=allow("iam:*AccessKey*", resource="*"))
    own = plane.iam(creds)
    assert [k["UserName"] for k in own.list_access_keys()["AccessKeyMetadata"]] == [name]
    created = own.create_access_key()["AccessKey"]
    assert created["UserName"] == name
    own.delete_access_key(AccessKeyId=created["AccessKeyId"])


def test_groups_hold_members(plane: Plane) -> None:
    iam = plane.iam()
    group = unique("devs")
    assert iam.create_group(GroupName=group)["Group"]["Arn"].endswith(f":group/{group}")
    user, _ = new_user(iam)
    iam.add_user_to_group(GroupName=group, UserName=user)
    assert [u["UserName"] for u in iam.get_group(GroupName=group)["Users"]] == [user]
    assert [g["GroupName"] for g in iam.list_groups_for_user(UserName=user)["Groups"]] == [group]
    assert group in [g["GroupName"] for g in iam.list_groups()["Groups"]]
    with pytest.raises(ClientError) as caught:
        iam.delete_group(GroupName=group)
    assert error_of(caught) == ("DeleteConflict", 409)
    iam.remove_user_from_group(GroupName=group, UserName=user)
    assert iam.get_group(GroupName=group)["Users"] == []
    iam.delete_group(GroupName=group)
    with pytest.raises(ClientError) as caught:
        iam.get_group(GroupName=group)
    assert error_of(caught) == ("NoSuchEntity", 404)


def test_roles_keep_trust_policies_with_aws_and_service_principals(plane: Plane) -> None:
    iam = plane.iam()
    name = unique("app")
    role = iam.create_role(
        RoleName=name,
        AssumeRolePolicyDocument=json.dumps(TRUST),
        Description="the app",
        MaxSessionDuration=7200,
    )["Role"]
    assert role["RoleId"].startswith("AROA")
    fetched = iam.get_role(RoleName=name)["Role"]
    assert fetched["AssumeRolePolicyDocument"] == TRUST  # URL-encoded on the wire, decoded by botocore
    assert (fetched["Description"], fetched["MaxSessionDuration"]) == ("the app", 7200)
    assert name in [r["RoleName"] for r in iam.list_roles()["Roles"]]
    narrower = {
        **TRUST,
        "Statement": [{**TRUST["Statement"][0], "Principal": {"Service": "ecs-tasks.amazonaws.com"}}],
    }
    iam.update_assume_role_policy(RoleName=name, PolicyDocument=json.dumps(narrower))
    assert iam.get_role(RoleName=name)["Role"]["AssumeRolePolicyDocument"] == narrower
    iam.delete_role(RoleName=name)
    with pytest.raises(ClientError) as caught:
        iam.get_role(RoleName=name)
    assert error_of(caught) == ("NoSuchEntity", 404)


@pytest.mark.parametrize("kind", ["User", "Group", "Role"])
def test_inline_policies_of_users_groups_and_roles(plane: Plane, kind: str) -> None:
    iam = plane.iam()
    owner = unique(kind.lower())
    if kind == "User":
        iam.create_user(UserName=owner)
    elif kind == "Group":
        iam.create_group(GroupName=owner)
    else:
        iam.create_role(RoleName=owner, AssumeRolePolicyDocument=json.dumps(TRUST))
    document = allow("ecr:BatchGetImage", resource="arn:aws:ecr:eu-west-1:111122223333:repository/app")
    getattr(iam, f"put_{kind.lower()}_policy")(
        **{f"{kind}Name": owner}, PolicyName="pull", PolicyDocument=json.dumps(document)
    )
    got = getattr(iam, f"get_{kind.lower()}_policy")(**{f"{kind}Name": owner}, PolicyName="pull")
    assert (got[f"{kind}Name"], got["PolicyName"], got["PolicyDocument"]) == (owner, "pull", document)
    listed = getattr(iam, f"list_{kind.lower()}_policies")(**{f"{kind}Name": owner})
    assert listed["PolicyNames"] == ["pull"]
    getattr(iam, f"delete_{kind.lower()}_policy")(**{f"{kind}Name": owner}, PolicyName="pull")
    with pytest.raises(ClientError) as caught:
        getattr(iam, f"get_{kind.lower()}_policy")(**{f"{kind}Name": owner}, PolicyName="pull")
    assert error_of(caught) == ("NoSuchEntity", 404)


def test_managed_policies_have_versions(plane: Plane) -> None:
    iam = plane.iam()
    name = unique("pull")
    v1 = allow("ecr:BatchGetImage")
    policy = iam.create_policy(PolicyName=name, PolicyDocument=json.dumps(v1), Description="pull")["Policy"]
    arn = policy["Arn"]
    assert arn == f"arn:aws:iam::{plane.account}:policy/{name}"
    assert (policy["DefaultVersionId"], policy["AttachmentCount"]) == ("v1", 0)
    v2 = allow("ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer")
    assert (
        iam.create_policy_version(PolicyArn=arn, PolicyDocument=json.dumps(v2), SetAsDefault=True)[
            "PolicyVersion"
        ]["VersionId"]
        == "v2"
    )
    versions = iam.list_policy_versions(PolicyArn=arn)["Versions"]
    assert [(v["VersionId"], v["IsDefaultVersion"]) for v in versions] == [("v2", True), ("v1", False)]
    assert iam.get_policy_version(PolicyArn=arn, VersionId="v2")["PolicyVersion"]["Document"] == v2
    with pytest.raises(ClientError) as caught:
        iam.delete_policy_version(PolicyArn=arn, VersionId="v2")
    assert error_of(caught) == ("DeleteConflict", 409)
    iam.set_default_policy_version(PolicyArn=arn, VersionId="v1")
    iam.delete_policy_version(PolicyArn=arn, VersionId="v2")
    assert [v["VersionId"] for v in iam.list_policy_versions(PolicyArn=arn)["Versions"]] == ["v1"]
    for _ in range(4):
        iam.create_policy_version(PolicyArn=arn, PolicyDocument=json.dumps(v2))
    with pytest.raises(ClientError) as caught:
        iam.create_policy_version(PolicyArn=arn, PolicyDocument=json.dumps(v2))
    assert error_of(caught) == ("LimitExceeded", 409)


def test_managed_policies_attach_to_users_groups_and_roles(plane: Plane) -> None:
    iam = plane.iam()
    name = unique("pull")
    arn = iam.create_policy(PolicyName=name, PolicyDocument=json.dumps(allow("ecr:BatchGetImage")))["Policy"][
        "Arn"
    ]
    user, _ = new_user(iam)
    group = unique("group")
    iam.create_group(GroupName=group)
    role = unique("role")
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(TRUST))
    iam.attach_user_policy(UserName=user, PolicyArn=arn)
    iam.attach_group_policy(GroupName=group, PolicyArn=arn)
    iam.attach_role_policy(RoleName=role, PolicyArn=arn)
    iam.attach_role_policy(RoleName=role, PolicyArn=READ_ONLY)
    assert iam.get_policy(PolicyArn=arn)["Policy"]["AttachmentCount"] == 3
    attached = iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]
    assert {(p["PolicyName"], p["PolicyArn"]) for p in attached} == {
        (name, arn),
        ("AmazonEC2ContainerRegistryReadOnly", READ_ONLY),
    }
    assert iam.list_attached_user_policies(UserName=user)["AttachedPolicies"] == [
        {"PolicyName": name, "PolicyArn": arn}
    ]
    assert iam.list_attached_group_policies(GroupName=group)["AttachedPolicies"][0]["PolicyArn"] == arn
    entities = iam.list_entities_for_policy(PolicyArn=arn)
    assert [u["UserName"] for u in entities["PolicyUsers"]] == [user]
    assert [g["GroupName"] for g in entities["PolicyGroups"]] == [group]
    assert [r["RoleName"] for r in entities["PolicyRoles"]] == [role]
    assert arn in [p["Arn"] for p in iam.list_policies(Scope="Local", OnlyAttached=True)["Policies"]]
    with pytest.raises(ClientError) as caught:
        iam.delete_policy(PolicyArn=arn)
    assert error_of(caught) == ("DeleteConflict", 409)
    iam.detach_user_policy(UserName=user, PolicyArn=arn)
    iam.detach_group_policy(GroupName=group, PolicyArn=arn)
    iam.detach_role_policy(RoleName=role, PolicyArn=arn)
    with pytest.raises(ClientError) as caught:
        iam.detach_role_policy(RoleName=role, PolicyArn=arn)
    assert error_of(caught) == ("NoSuchEntity", 404)
    assert iam.list_attached_user_policies(UserName=user)["AttachedPolicies"] == []
    iam.delete_policy(PolicyArn=arn)
    with pytest.raises(ClientError) as caught:
        iam.get_policy(PolicyArn=arn)
    assert error_of(caught) == ("NoSuchEntity", 404)


ECR_READ = [
    "ecr:GetAuthorizationToken",
    "ecr:BatchCheckLayerAvailability",
    "ecr:GetDownloadUrlForLayer",
    "ecr:GetRepositoryPolicy",
    "ecr:DescribeRepositories",
    "ecr:ListImages",
    "ecr:DescribeImages",
    "ecr:BatchGetImage",
    "ecr:GetLifecyclePolicy",
    "ecr:GetLifecyclePolicyPreview",
    "ecr:ListTagsForResource",
    "ecr:DescribeImageScanFindings",
]


def test_the_aws_managed_ecr_policies_are_built_in(plane: Plane) -> None:
    iam = plane.iam()
    builtin = {p["PolicyName"]: p for p in iam.list_policies(Scope="AWS")["Policies"]}
    names = ["ReadOnly", "PullOnly", "PowerUser", "FullAccess"]
    for suffix in names:
        policy = builtin[f"AmazonEC2ContainerRegistry{suffix}"]
        assert policy["Arn"] == f"arn:aws:iam::aws:policy/AmazonEC2ContainerRegistry{suffix}"

    def actions(arn: str) -> list[str]:
        document = iam.get_policy_version(PolicyArn=arn, VersionId="v1")["PolicyVersion"]["Document"]
        return [a for statement in document["Statement"] for a in statement["Action"]]

    assert actions(READ_ONLY) == ECR_READ
    assert actions("arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryPowerUser") == [
        *ECR_READ,
        "ecr:InitiateLayerUpload",
        "ecr:UploadLayerPart",
        "ecr:CompleteLayerUpload",
        "ecr:PutImage",
    ]
    assert actions("arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryPullOnly") == [
        "ecr:GetAuthorizationToken",
        "ecr:BatchGetImage",
        "ecr:GetDownloadUrlForLayer",
        "ecr:BatchImportUpstreamImage",
    ]
    assert "ecr:*" in actions("arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryFullAccess")
    with pytest.raises(ClientError) as caught:
        iam.delete_policy(PolicyArn=READ_ONLY)
    assert error_of(caught) == ("InvalidInput", 400)


def test_oidc_providers_are_created_read_and_deleted(plane: Plane) -> None:
    iam = plane.iam()
    url = f"https://{unique('token')}.example.com"
    arn = iam.create_open_id_connect_provider(
        Url=url, ClientIDList=["sts.amazonaws.com"], ThumbprintList=["a" * 40]
    )["OpenIDConnectProviderArn"]
    assert arn == f"arn:aws:iam::{plane.account}:oidc-provider/{url.removeprefix('https://')}"
    iam.add_client_id_to_open_id_connect_provider(OpenIDConnectProviderArn=arn, ClientID="dockyard")
    got = iam.get_open_id_connect_provider(OpenIDConnectProviderArn=arn)
    assert (got["Url"], got["ClientIDList"]) == (
        url.removeprefix("https://"),
        ["sts.amazonaws.com", "dockyard"],
    )
    assert arn in [p["Arn"] for p in iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]]
    with pytest.raises(ClientError) as caught:
        iam.create_open_id_connect_provider(Url=url, ClientIDList=["x"], ThumbprintList=["a" * 40])
    assert error_of(caught) == ("EntityAlreadyExists", 409)
    with pytest.raises(ClientError) as caught:
        iam.create_open_id_connect_provider(Url="http://idp.example.com", ClientIDList=["x"])
    assert error_of(caught) == ("InvalidInput", 400)
    iam.delete_open_id_connect_provider(OpenIDConnectProviderArn=arn)
    with pytest.raises(ClientError) as caught:
        iam.get_open_id_connect_provider(OpenIDConnectProviderArn=arn)
    assert error_of(caught) == ("NoSuchEntity", 404)


def test_a_user_may_do_only_what_its_policies_allow(plane: Plane) -> None:
    iam = plane.iam()
    name, creds = new_user(iam)
    as_user = plane.iam(creds)
    with pytest.raises(ClientError) as caught:
        as_user.list_users()
    assert error_of(caught) == ("AccessDenied", 403)
    assert caught.value.response["Error"]["Message"] == (
        f"User: arn:aws:iam::{plane.account}:user/{name} is not authorized to perform: iam:ListUsers on "
        "resource: * because no identity-based policy allows the iam:ListUsers action"
    )
    group = unique("readers")
    iam.create_group(GroupName=group)
    iam.put_group_policy(GroupName=group, PolicyName="list", PolicyDocument=json.dumps(allow("iam:List*")))
    iam.add_user_to_group(GroupName=group, UserName=name)
    assert name in [u["UserName"] for u in as_user.list_users()["Users"]]
    with pytest.raises(ClientError) as caught:
        as_user.create_user(UserName=unique("nope"))
    assert error_of(caught) == ("AccessDenied", 403)


def test_validation_follows_the_model(plane: Plane) -> None:
    iam = plane.iam()
    with pytest.raises(ClientError) as caught:
        iam.create_user(UserName="bad name!")
    code, status = error_of(caught)
    assert (code, status) == ("ValidationError", 400)
    assert "userName" in caught.value.response["Error"]["Message"]
