"""The aws CLI, configured with profiles (``endpoint_url`` in the config file) as the README shows.

Each CLI run costs a second or more of start-up, so these tests keep to the commands that matter.
"""

from __future__ import annotations

import json
from pathlib import Path

from .conftest import Issuer, Plane
from .support import AwsCli, Creds, unique

READ_ONLY = "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly"


def test_the_aws_cli_manages_users_groups_policies_and_roles(plane: Plane, tmp_home: Path) -> None:
    cli = AwsCli(tmp_home, plane.url)
    cli.profile("root", plane.root)
    user, group, role = unique("dev"), unique("devs"), unique("deployer")
    cli.json("root", "iam", "create-user", "--user-name", user)
    key = cli.json("root", "iam", "create-access-key", "--user-name", user)["AccessKey"]
    cli.profile("dev", Creds.of(key))
    cli.json("root", "iam", "create-group", "--group-name", group)
    cli.json("root", "iam", "add-user-to-group", "--group-name", group, "--user-name", user)
    document = tmp_home / "assume.json"
    document.write_text(json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}]}))  # fmt: skip
    arn = cli.json(
        "root",
        "iam",
        "create-policy",
        "--policy-name",
        unique("assume"),
        "--policy-document",
        f"file://{document}",
    )["Policy"]["Arn"]
    cli.json("root", "iam", "attach-group-policy", "--group-name", group, "--policy-arn", arn)
    trust = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": plane.account}, "Action": "sts:AssumeRole"}]})  # fmt: skip
    role_arn = cli.json(
        "root", "iam", "create-role", "--role-name", role, "--assume-role-policy-document", trust
    )["Role"]["Arn"]
    cli.json("root", "iam", "attach-role-policy", "--role-name", role, "--policy-arn", READ_ONLY)

    cli.role_profile("deployer", role_arn, source="dev")  # the CLI calls sts:AssumeRole itself
    identity = cli.json("deployer", "sts", "get-caller-identity")
    assert identity["Arn"].startswith(f"arn:aws:sts::{plane.account}:assumed-role/{role}/")

    simulated = cli.json(
        "root", "iam", "simulate-principal-policy",
        "--policy-source-arn", role_arn,
        "--action-names", "ecr:BatchGetImage", "ecr:DeleteRepository",
    )["EvaluationResults"]  # fmt: skip
    assert [(r["EvalActionName"], r["EvalDecision"]) for r in simulated] == [
        ("ecr:BatchGetImage", "allowed"),
        ("ecr:DeleteRepository", "implicitDeny"),
    ]
    assert simulated[0]["MatchedStatements"][0]["SourcePolicyId"] == "AmazonEC2ContainerRegistryReadOnly"

    cli.json("root", "iam", "detach-group-policy", "--group-name", group, "--policy-arn", arn)
    refused = cli.run("dev", "sts", "assume-role", "--role-arn", role_arn, "--role-session-name", "again")
    assert refused.returncode != 0
    assert "(AccessDenied)" in refused.stderr
    iam = plane.iam()  # read back what the CLI did
    assert iam.list_attached_group_policies(GroupName=group)["AttachedPolicies"] == []
    assert [u["UserName"] for u in iam.get_group(GroupName=group)["Users"]] == [user]
    assert iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"][0]["PolicyArn"] == READ_ONLY


def test_the_aws_cli_federates_a_web_identity_from_a_token_file(
    plane: Plane, issuer: Issuer, tmp_home: Path
) -> None:
    iam = plane.iam()
    provider = f"arn:aws:iam::{plane.account}:oidc-provider/{issuer.host}"
    if provider not in [p["Arn"] for p in iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]]:
        iam.create_open_id_connect_provider(Url=issuer.url, ClientIDList=["dockyard"])
    claims = {f"{issuer.host}:aud": "dockyard", f"{issuer.host}:sub": "repo:acme/app"}
    trust = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Federated": provider}, "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": claims},
    }]}  # fmt: skip
    role = unique("ci")
    role_arn = iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    token = tmp_home / "token"
    token.write_text(issuer.token())
    cli = AwsCli(tmp_home, plane.url)
    with cli.config.open("a") as config:
        config.write(
            f"[profile ci]\nrole_arn = {role_arn}\nweb_identity_token_file = {token}\n"
            f"role_session_name = pipeline\nregion = us-east-1\nendpoint_url = {plane.url}\n"
        )
    identity = cli.json("ci", "sts", "get-caller-identity")
    assert identity["Arn"] == f"arn:aws:sts::{plane.account}:assumed-role/{role}/pipeline"
