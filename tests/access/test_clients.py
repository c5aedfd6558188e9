"""Registry logins and authorization with unmodified clients: docker (through `aws ecr get-login-password`),
podman, skopeo and oras; IAM users, an assumed role, a web identity role and a second account."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import httpx
import oras.client
import pytest

from e2e.support import LocalImages, Tool
from identity.conftest import Issuer
from identity.support import AWS_CLI, Creds, unique

from .conftest import ACCOUNT_A, ACCOUNT_B, Registry

pytestmark = pytest.mark.e2e
READ_ONLY = "AmazonEC2ContainerRegistryReadOnly"
POWER_USER = "AmazonEC2ContainerRegistryPowerUser"


def docker_login(docker: Tool, registry: Registry, creds: Creds, account: str = ACCOUNT_A) -> None:
    """`aws ecr get-login-password | docker login --username AWS --password-stdin <host>` (ECR's recipe)."""
    env = {
        "PATH": docker.env.get("PATH", "/usr/bin:/bin"),
        "AWS_ACCESS_KEY_ID": creds.key,
        "AWS_SECRET_ACCESS_KEY": creds.secret,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    if creds.token:
        env["AWS_SESSION_TOKEN"] = creds.token
    password = subprocess.run(
        [AWS_CLI, "ecr", "get-login-password", "--endpoint-url", registry.url],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.strip()
    done = docker(
        "login", "--username", "AWS", "--password-stdin", registry.host(account), input_text=password
    )
    assert "Login Succeeded" in done.stdout


def test_read_only_user_pulls_with_docker_but_its_push_is_denied(
    registry: Registry, seeded: str, docker_for: Any
) -> None:
    reader = registry.user(READ_ONLY)
    docker = docker_for("reader")
    docker_login(docker, registry, reader)
    image = registry.ref(ACCOUNT_A, "app", "v1")
    docker("pull", image)
    target = registry.ref(ACCOUNT_A, "app", "by-reader")
    docker("tag", image, target)
    pushed = docker("push", target, check=False)
    assert pushed.returncode != 0
    arn = f"arn:aws:iam::{ACCOUNT_A}:user/"
    assert f"denied: User: {arn}" in pushed.stderr
    assert "is not authorized to perform: ecr:" in pushed.stderr
    assert (
        f"on resource: arn:aws:ecr:us-east-1:{ACCOUNT_A}:repository/app because no identity-based policy"
        in (pushed.stderr)
    )
    tags = registry.ecr(registry.roots[ACCOUNT_A]).list_images(repositoryName="app")["imageIds"]
    assert "by-reader" not in {t.get("imageTag") for t in tags}
    docker("rmi", image, target)


def test_power_user_pushes_with_docker(registry: Registry, seeded: str, docker_for: Any) -> None:
    power = registry.user(POWER_USER)
    docker = docker_for("power")
    docker_login(docker, registry, power)
    image = registry.ref(ACCOUNT_A, "app", "v1")
    docker("pull", image)
    target = registry.ref(ACCOUNT_A, "team/power", "v1")
    docker("tag", image, target)
    docker("push", target)
    detail = registry.ecr(power).describe_images(repositoryName="team/power")["imageDetails"]
    assert detail[0]["imageTags"] == ["v1"]
    docker("rmi", image, target)


def _role(registry: Registry, trust: dict[str, Any], managed: str = POWER_USER) -> str:
    iam = registry.iam()
    name = unique("role")
    arn: str = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    iam.attach_role_policy(RoleName=name, PolicyArn=f"arn:aws:iam::aws:policy/{managed}")
    return arn


def test_assumed_role_pushes_with_docker(registry: Registry, seeded: str, docker_for: Any) -> None:
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT_A}:root"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    role_arn = _role(registry, trust)
    caller = registry.user(
        inline={
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": role_arn}],
        }
    )
    session = registry.sts(caller).assume_role(RoleArn=role_arn, RoleSessionName="deploy")["Credentials"]
    docker = docker_for("role")
    docker_login(docker, registry, Creds.of(session))
    image = registry.ref(ACCOUNT_A, "app", "v1")
    docker("pull", image)
    target = registry.ref(ACCOUNT_A, "team/role", "v1")
    docker("tag", image, target)
    docker("push", target)
    docker("rmi", image, target)


def test_web_identity_role_pushes_with_skopeo_and_podman(
    registry: Registry, seeded: str, issuer: Issuer, images: LocalImages, skopeo: Tool, podman: Tool
) -> None:
    """A CI job: its OIDC token for a role, the role's credentials for a registry password, then a push."""
    iam = registry.iam()
    provider = iam.create_open_id_connect_provider(Url=issuer.url, ClientIDList=["dockyard"])
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Federated": provider["OpenIDConnectProviderArn"]},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {"StringEquals": {f"{issuer.host}:aud": "dockyard"}},
            }
        ],
    }
    role_arn = _role(registry, trust)
    try:
        answer = registry.sts(registry.roots[ACCOUNT_A]).assume_role_with_web_identity(
            RoleArn=role_arn, RoleSessionName="ci-run-1", WebIdentityToken=issuer.token()
        )
        password = registry.password(Creds.of(answer["Credentials"]))
        host = registry.host(ACCOUNT_A)
        skopeo(
            "login", "--tls-verify=false", "--username", "AWS", "--password-stdin", host, input_text=password
        )
        skopeo(
            "copy", "--dest-tls-verify=false", images.ref("busybox-3layer"), f"docker://{host}/ci/app:build-1"
        )
        podman(
            "login", "--tls-verify=false", "--username", "AWS", "--password-stdin", host, input_text=password
        )
        podman("pull", "--tls-verify=false", f"{host}/ci/app:build-1")
        podman("tag", f"{host}/ci/app:build-1", f"{host}/ci/app:build-2")
        podman("push", "--tls-verify=false", f"{host}/ci/app:build-2")
        tags = registry.ecr(registry.roots[ACCOUNT_A]).list_images(repositoryName="ci/app")["imageIds"]
        assert {t["imageTag"] for t in tags} == {"build-1", "build-2"}
        podman("rmi", f"{host}/ci/app:build-1", f"{host}/ci/app:build-2")
    finally:
        iam.delete_open_id_connect_provider(OpenIDConnectProviderArn=provider["OpenIDConnectProviderArn"])


def test_oras_login_push_and_pull(
    registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    power = registry.user(POWER_USER)
    host = registry.host(ACCOUNT_A)
    # The SDK's default "token" backend treats every challenge as a Bearer realm; Basic is what ECR offers.
    client = oras.client.OrasClient(hostname=host, insecure=True, auth_backend="basic")
    config = tmp_path / "oras-config.json"
    client.login(username="AWS", password=registry.password(power), hostname=host, config_path=str(config))
    assert "auths" in json.loads(config.read_text())
    monkeypatch.chdir(tmp_path)
    Path("notes.txt").write_text("pushed by oras with an ECR password\n")
    client.push(target=f"{host}/oras/notes:v1", files=["notes.txt"])
    assert "v1" in client.get_tags(f"{host}/oras/notes")
    out = tmp_path / "out"
    client.pull(target=f"{host}/oras/notes:v1", outdir=str(out))
    assert (out / "notes.txt").read_text() == "pushed by oras with an ECR password\n"


def _pull_policy(principal: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "CrossAccountPull",
                    "Effect": "Allow",
                    "Principal": {"AWS": principal},
                    "Action": [
                        "ecr:BatchGetImage",
                        "ecr:GetDownloadUrlForLayer",
                        "ecr:BatchCheckLayerAvailability",
                    ],
                }
            ],
        }
    )


def test_account_b_pulls_from_account_a_only_when_a_allows_it(
    registry: Registry, seeded: str, docker_for: Any, skopeo: Tool, podman: Tool, tmp_path: Path
) -> None:
    a = registry.ecr(registry.roots[ACCOUNT_A])
    puller = registry.user(READ_ONLY, account=ACCOUNT_B)
    docker = docker_for("account-b")
    docker_login(docker, registry, puller, ACCOUNT_A)
    image = registry.ref(ACCOUNT_A, "app", "v1")
    denied = docker("pull", image, check=False)
    assert denied.returncode != 0
    assert "because no resource-based policy allows the ecr:BatchGetImage action" in denied.stderr

    a.set_repository_policy(repositoryName="app", policyText=_pull_policy(f"arn:aws:iam::{ACCOUNT_B}:root"))
    try:
        docker("pull", image)
        docker("rmi", image)
        password = registry.password(puller)  # podman and skopeo, unmodified, pull across accounts too
        creds = f"AWS:{password}"
        skopeo(
            "copy",
            "--src-tls-verify=false",
            "--src-creds",
            creds,
            f"docker://{image}",
            f"dir:{tmp_path / 'b'}",
        )
        assert json.loads((tmp_path / "b" / "manifest.json").read_text())["layers"]
        podman("pull", "--tls-verify=false", "--creds", creds, image)
        podman("rmi", image)
        deny_b = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "NoAccountB",
                    "Effect": "Deny",
                    "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT_B}:root"},
                    "Action": "ecr:*",
                    "Resource": f"arn:aws:ecr:us-east-1:{ACCOUNT_A}:repository/*",
                }
            ],
        }
        a.put_registry_policy(policyText=json.dumps(deny_b))
        try:
            overridden = docker("pull", image, check=False)
            assert overridden.returncode != 0
            assert "with an explicit deny in a resource-based policy" in overridden.stderr
        finally:
            a.delete_registry_policy()
        docker("pull", image)
        docker("rmi", image)
    finally:
        a.delete_repository_policy(repositoryName="app")
    # B's ECR API sees A's repository through the policy too, and not without it
    b = registry.ecr(puller)
    with pytest.raises(b.exceptions.ClientError) as caught:
        b.batch_get_image(registryId=ACCOUNT_A, repositoryName="app", imageIds=[{"imageTag": "v1"}])
    assert caught.value.response["Error"]["Code"] == "AccessDeniedException"


def test_each_account_has_its_own_namespace(
    registry: Registry, seeded: str, images: LocalImages, skopeo: Tool
) -> None:
    """Account B may have its own ``app``; its host name addresses it."""
    password = registry.password(registry.roots[ACCOUNT_B])
    host_b = registry.host(ACCOUNT_B)
    skopeo(
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        f"AWS:{password}",
        images.ref("busybox-3layer"),
        f"docker://{host_b}/app:v1",
    )
    ours = registry.ecr(registry.roots[ACCOUNT_B]).describe_images(repositoryName="app")["imageDetails"]
    assert ours[0]["imageDigest"] != seeded
    theirs = registry.ecr(registry.roots[ACCOUNT_A]).describe_images(repositoryName="app")["imageDetails"]
    assert [d["imageDigest"] for d in theirs] == [seeded]
    described = registry.ecr(registry.roots[ACCOUNT_B]).describe_repositories(repositoryNames=["app"])
    assert described["repositories"][0]["repositoryUri"] == f"{ACCOUNT_B}.dkr.dockyard.localhost/app"
    response = httpx.get(f"http://{host_b}/v2/_catalog", auth=("AWS", password), timeout=10)
    assert "app" in response.json()["repositories"]
