"""ECR Public end to end: a public repository made with boto3 ``ecr-public``, pushed to through the public
host ``public.<domain>`` by an authorised user (skopeo with its login, docker after `docker login`), then
pulled **anonymously** through the Docker bearer-token flow by docker, podman and skopeo; an anonymous
push fails with nothing stored, and private and public repositories never reach each other's hosts."""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from e2e.support import LocalImages, Tool
from identity.support import AWS_CLI, Creds, client, unique

from .conftest import ACCOUNT_A, DOMAIN, Registry
from .test_walkthrough import aws_profile

pytestmark = pytest.mark.e2e
PUBLIC = f"public.{DOMAIN}"


@dataclass
class Public:
    registry: Registry
    alias: str
    repository: str  # pushed by the authorised user, tag v1
    digest: str

    @property
    def host(self) -> str:
        return f"{PUBLIC}:{self.registry.port}"

    def ref(self, repository: str, tag: str) -> str:
        return f"{self.host}/{self.alias}/{repository}:{tag}"

    def api(self, creds: Creds | None = None) -> Any:
        return client(self.registry.url, "ecr-public", creds or self.registry.roots[ACCOUNT_A])

    def password(self, creds: Creds | None = None) -> str:
        """`aws ecr-public get-login-password`."""
        data = self.api(creds).get_authorization_token()["authorizationData"]
        user, _, password = base64.b64decode(data["authorizationToken"]).decode().partition(":")
        assert user == "AWS"
        return password

    def tags(self, repository: str) -> set[str]:
        details = self.api().describe_image_tags(repositoryName=repository)["imageTagDetails"]
        return {d["imageTag"] for d in details}


@pytest.fixture(scope="module")
def public(registry: Registry, images: LocalImages, tmp_path_factory: pytest.TempPathFactory) -> Public:
    """A public repository of account A with ``v1`` (busybox) pushed through the public host by skopeo
    (the registry fixture maps the public host name to the loopback address with the account hosts)."""
    api = client(registry.url, "ecr-public", registry.roots[ACCOUNT_A])
    alias = api.describe_registries()["registries"][0]["aliases"][0]["name"]
    name = unique("hello")
    api.create_repository(repositoryName=name, catalogData={"description": "busybox, publicly"})
    found = Public(registry, alias, name, "")
    skopeo = Tool(["skopeo"], _containers(tmp_path_factory.mktemp("public-skopeo")))
    skopeo(
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        f"AWS:{found.password()}",
        images.ref("busybox"),
        f"docker://{found.ref(name, 'v1')}",
    )
    details = api.describe_images(repositoryName=name)["imageDetails"]
    assert [d["imageTags"] for d in details] == [["v1"]]
    found.digest = details[0]["imageDigest"]
    return found


def _containers(root: Path) -> dict[str, str]:
    from e2e.support import hermetic_environ

    env = hermetic_environ()
    auth = root / "auth.json"
    auth.write_text('{"auths": {}}\n')
    env["REGISTRY_AUTH_FILE"] = str(auth)
    return env


def test_v2_base_answers_with_the_bearer_challenge_and_tokens_are_anonymous_pull_only(public: Public) -> None:
    headers = {"Host": public.host}
    base = httpx.get(f"{public.registry.url}/v2/", headers=headers)
    assert base.status_code == 401
    assert base.headers["www-authenticate"] == (
        f'Bearer realm="http://{public.host}/token",service="{PUBLIC}"'
    )
    assert base.json()["errors"][0]["code"] == "UNAUTHORIZED"
    path = f"{public.alias}/{public.repository}"
    answer = httpx.get(
        f"{public.registry.url}/token",
        params={"service": PUBLIC, "scope": f"repository:{path}:pull,push"},
        headers=headers,
    )
    assert answer.status_code == 200
    body = answer.json()
    assert body["token"] == body["access_token"]
    assert 0 < body["expires_in"] <= 300
    bearer = {**headers, "Authorization": f"Bearer {body['token']}"}
    assert httpx.get(f"{public.registry.url}/v2/", headers=bearer).status_code == 200
    tags = httpx.get(f"{public.registry.url}/v2/{path}/tags/list", headers=bearer)
    assert tags.json() == {"name": path, "tags": ["v1"]}
    refused = httpx.post(f"{public.registry.url}/v2/{path}/blobs/uploads/", headers=bearer)
    assert refused.status_code == 401
    assert 'error="insufficient_scope"' in refused.headers["www-authenticate"]
    forged = {**headers, "Authorization": f"Bearer {body['token'][:-2]}xx"}
    assert httpx.get(f"{public.registry.url}/v2/{path}/tags/list", headers=forged).status_code == 401
    bad = httpx.get(
        f"{public.registry.url}/token",
        params={"scope": f"repository:{path}:pull"},
        headers=headers,
        auth=("AWS", "not-a-password"),
    )
    assert bad.status_code == 401
    assert bad.json()["errors"][0]["code"] == "UNAUTHORIZED"


def test_anonymous_docker_pull_through_the_public_host(public: Public, docker_for: Any) -> None:
    docker = docker_for("anonymous")
    image = public.ref(public.repository, "v1")
    docker("pull", image)
    digests = docker("inspect", "--format", "{{json .RepoDigests}}", image).stdout
    assert f"{public.host}/{public.alias}/{public.repository}@{public.digest}" in json.loads(digests)
    docker("rmi", image)


def test_anonymous_podman_and_skopeo_pulls(
    public: Public, podman: Tool, skopeo: Tool, tmp_path: Path
) -> None:
    image = public.ref(public.repository, "v1")
    inspected = json.loads(skopeo("inspect", "--tls-verify=false", f"docker://{image}").stdout)
    assert inspected["Digest"] == public.digest
    skopeo("copy", "--src-tls-verify=false", f"docker://{image}", f"oci:{tmp_path}/layout:v1")
    index = json.loads((tmp_path / "layout" / "index.json").read_text())
    assert index["manifests"][0]["digest"] == public.digest
    podman("pull", "--tls-verify=false", image)
    found = podman("image", "inspect", "--format", "{{.Digest}}", image).stdout.strip()
    assert found == public.digest
    podman("rmi", image)


def test_anonymous_push_fails_and_stores_nothing(
    public: Public, images: LocalImages, skopeo: Tool, docker_for: Any
) -> None:
    target = public.ref(public.repository, "anonymous")
    pushed = skopeo(
        "copy", "--dest-tls-verify=false", images.ref("busybox-3layer"), f"docker://{target}", check=False
    )
    assert pushed.returncode != 0
    assert "unauthorized" in pushed.stderr.lower() or "denied" in pushed.stderr.lower()
    docker = docker_for("anonymous-push")
    source = public.ref(public.repository, "v1")
    docker("pull", source)
    docker("tag", source, target)
    refused = docker("push", target, check=False)
    assert refused.returncode != 0
    assert "unauthorized" in refused.stderr.lower()
    docker("rmi", source, target)
    assert public.tags(public.repository) == {"v1"}
    assert len(public.api().describe_images(repositoryName=public.repository)["imageDetails"]) == 1


def test_docker_login_and_push_to_the_public_host(public: Public, docker_for: Any) -> None:
    """A user with AWS's managed ECR Public power-user policy: `aws ecr-public get-login-password | docker
    login`, then docker push."""
    api = public.api()
    name = unique("pushed")
    api.create_repository(repositoryName=name)
    publisher = public.registry.user("AmazonElasticContainerRegistryPublicPowerUser")
    docker = docker_for("publisher")
    source = public.ref(public.repository, "v1")
    docker("pull", source)
    target = public.ref(name, "v2")
    docker("tag", source, target)
    password = public.password(publisher)
    done = docker("login", "--username", "AWS", "--password-stdin", public.host, input_text=password)
    assert "Login Succeeded" in done.stdout
    docker("push", target)
    docker("rmi", source, target)
    assert public.tags(name) == {"v2"}
    anonymous = docker_for("anonymous-after-push")
    anonymous("pull", target)
    anonymous("rmi", target)


def test_a_user_without_push_permission_is_denied_in_aws_words(
    public: Public, images: LocalImages, skopeo: Tool
) -> None:
    login_only = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["ecr-public:GetAuthorizationToken", "sts:GetServiceBearerToken"],
                "Resource": "*",
            }
        ],
    }
    user = public.registry.user(inline=login_only)
    target = public.ref(public.repository, "by-user")
    pushed = skopeo(
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        f"AWS:{public.password(user)}",
        images.ref("busybox"),
        f"docker://{target}",
        check=False,
    )
    assert pushed.returncode != 0
    assert f"User: arn:aws:iam::{ACCOUNT_A}:user/" in pushed.stderr
    assert "is not authorized to perform: ecr-public:" in pushed.stderr
    assert f"arn:aws:ecr-public::{ACCOUNT_A}:repository/{public.repository}" in pushed.stderr
    assert public.tags(public.repository) == {"v1"}


def test_private_and_public_repositories_never_cross_hosts(public: Public, seeded: str, skopeo: Tool) -> None:
    # The private repository `app` of account A is not on the public host, under the alias or without it.
    for path in (f"{public.alias}/app", "app"):
        missing = skopeo("inspect", "--tls-verify=false", f"docker://{public.host}/{path}:v1", check=False)
        assert missing.returncode != 0
        assert "unknown" in missing.stderr.lower()
    # The public repository is not on the account's private host, with the private login...
    private = public.registry.password(public.registry.roots[ACCOUNT_A])
    host = public.registry.host(ACCOUNT_A)
    for path in (f"{public.alias}/{public.repository}", public.repository):
        missing = skopeo(
            "inspect",
            "--tls-verify=false",
            "--creds",
            f"AWS:{private}",
            f"docker://{host}/{path}:v1",
            check=False,
        )
        assert missing.returncode != 0
        assert "unknown" in missing.stderr.lower()
    # ...and a public login is no login on the private host.
    refused = skopeo(
        "inspect",
        "--tls-verify=false",
        "--creds",
        f"AWS:{public.password()}",
        f"docker://{host}/app:v1",
        check=False,
    )
    assert refused.returncode != 0
    assert "unauthorized" in refused.stderr.lower()


def test_the_readme_public_walkthrough_runs_verbatim(
    public: Public, docker_for: Any, podman: Tool, tmp_path: Path
) -> None:
    text = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    block = re.search(r"<!-- public-walkthrough -->\n```bash\n(.*?)```", text, re.S)
    assert block, "the README lost its ECR Public walkthrough"
    user = public.registry.user("AmazonElasticContainerRegistryPublicFullAccess")
    docker = docker_for("public-walkthrough")
    env = {
        **podman.env,
        **docker.env,
        **aws_profile(tmp_path, public.registry, user.key, user.secret),
        "PATH": f"{Path(AWS_CLI).parent}:{docker.env.get('PATH', '/usr/bin:/bin')}",
        "PUBLIC": public.host,
        "DOCKER_BUILDKIT": "0",
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    context = tmp_path / "hello"  # hello:1, as the ECR walkthrough builds it
    context.mkdir()
    shutil.copy2("/bin/busybox", context / "busybox")
    (context / "Dockerfile").write_text(
        'FROM scratch\nCOPY busybox /bin/busybox\nCMD ["/bin/busybox", "echo", "hi"]\n'
    )
    subprocess.run(
        ["docker", "build", "-t", "hello:1", str(context)], env=env, check=True, capture_output=True
    )
    script = tmp_path / "public.sh"
    script.write_text(block.group(1))
    done = subprocess.run(
        ["bash", "-euo", "pipefail", str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines[:2] == ["Acme", f"{PUBLIC}/{public.alias}/hello"]
    pushed = re.search(r"1: digest: (sha256:[0-9a-f]{64}) size: \d+", done.stdout)
    assert pushed, done.stdout
    assert lines[-2] == pushed.group(1)  # skopeo, anonymously
    assert lines[-1].split("\t") == ["1", pushed.group(1)]
    docker("rmi", "hello:1", f"{public.host}/{public.alias}/hello:1")
