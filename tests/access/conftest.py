"""Registry access end to end: a real `dockyard serve` with auth on (``DOCKYARD_AUTH=iam``, the default),
two accounts made with `dockyard admin`, their registry host names mapped to 127.0.0.1 in /etc/hosts (as
a user would; restored byte for byte afterwards), and the real clients of the e2e tests (the shared
dockerd from ``tests/e2e/shared.py``, skopeo, podman, the oras SDK) logging in with ECR passwords.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from e2e.shared import DockerDaemon, require
from e2e.support import LocalImages, Tool, hermetic_environ, run
from identity.conftest import Issuer, issuer  # noqa: F401  (an OIDC issuer for the web identity role)
from identity.support import Creds, Server, client, init_account, unique

ACCOUNT_A = "111111111111"
ACCOUNT_B = "222222222222"
DOMAIN = "dockyard.localhost"
HOSTS = Path("/etc/hosts")
MARK = "# dockyard tests/access"


@contextlib.contextmanager
def mapped_to_loopback(names: list[str]) -> Iterator[None]:
    """Add ``127.0.0.1 <name>`` lines to /etc/hosts; put the file back exactly as it was afterwards."""
    original = HOSTS.read_bytes()
    lines = "".join(f"127.0.0.1 {name} {MARK}\n" for name in names)
    try:
        HOSTS.write_bytes(
            original + (b"" if original.endswith(b"\n") or not original else b"\n") + lines.encode()
        )
        yield
    finally:
        HOSTS.write_bytes(original)


@dataclass
class Registry:
    """The server, its accounts' root credentials and their host names (``<account>.dkr.<domain>:<port>``)."""

    server: Server
    roots: dict[str, Creds]
    data_dir: Path

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def port(self) -> int:
        return self.server.port

    def host(self, account: str) -> str:
        return f"{account}.dkr.{DOMAIN}:{self.port}"

    def ref(self, account: str, repository: str, tag: str) -> str:
        return f"{self.host(account)}/{repository}:{tag}"

    def ecr(self, creds: Creds) -> Any:
        return client(self.url, "ecr", creds)

    def iam(self, account: str = ACCOUNT_A) -> Any:
        return client(self.url, "iam", self.roots[account])

    def sts(self, creds: Creds) -> Any:
        return client(self.url, "sts", creds)

    def password(self, creds: Creds) -> str:
        """GetAuthorizationToken's password (the part after ``AWS:``)."""
        import base64

        data = self.ecr(creds).get_authorization_token()["authorizationData"][0]
        user, _, password = base64.b64decode(data["authorizationToken"]).decode().partition(":")
        assert user == "AWS"
        return password

    def user(self, *managed: str, account: str = ACCOUNT_A, inline: dict[str, Any] | None = None) -> Creds:
        """A new IAM user of ``account`` with AWS managed policies (by name) and an access key."""
        iam = self.iam(account)
        name = unique("user")
        iam.create_user(UserName=name)
        for policy in managed:
            iam.attach_user_policy(UserName=name, PolicyArn=f"arn:aws:iam::aws:policy/{policy}")
        if inline is not None:
            iam.put_user_policy(UserName=name, PolicyName="inline", PolicyDocument=json.dumps(inline))
        return Creds.of(iam.create_access_key(UserName=name)["AccessKey"])


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Iterator[Registry]:
    if os.geteuid() != 0 or not os.access(HOSTS, os.W_OK):
        pytest.skip("the access tests map registry host names in /etc/hosts, which needs root")
    data_dir = tmp_path_factory.mktemp("access") / "data"
    data_dir.mkdir()
    shutil.copyfile(sqlite_template, data_dir / "dockyard.db")
    roots = {ACCOUNT_A: init_account(data_dir, ACCOUNT_A)}
    roots[ACCOUNT_B] = init_account(data_dir, ACCOUNT_B, "create-account")
    # The public host too (tests/access/test_public.py), mapped with the rest at the start: Go programs
    # (dockerd) keep /etc/hosts cached for 5 seconds, so a name added mid-session may not resolve at once.
    names = [f"{account}.dkr.{DOMAIN}" for account in roots] + [f"public.{DOMAIN}"]
    env = {"DOCKYARD_AUTH": "iam", "DOCKYARD_DOMAIN": DOMAIN}
    with mapped_to_loopback(names):
        server = Server(data_dir, env=env)
        try:
            yield Registry(server, roots, data_dir)
        finally:
            server.stop()


# -- clients, each principal with its own credentials store --------------------------------------------


@pytest.fixture
def docker_for(dockerd: DockerDaemon, tmp_path: Path) -> Any:
    """``docker_for("name")``: the docker CLI on the shared daemon with a config dir of its own."""

    def make(name: str) -> Tool:
        config = tmp_path / f"docker-{name}"
        config.mkdir(exist_ok=True)
        return Tool(["docker"], {**dockerd.env, "DOCKER_CONFIG": os.fspath(config)})

    return make


@pytest.fixture(scope="session")
def containers_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """skopeo and podman: vfs storage and an auth file in tmp; registries reached with --tls-verify=false."""
    root = tmp_path_factory.mktemp("access-containers")
    (root / "tmp").mkdir()
    (root / "storage.conf").write_text(
        f'[storage]\ndriver = "vfs"\nrunroot = "{root}/run"\ngraphroot = "{root}/graph"\n'
    )
    (root / "containers.conf").write_text(
        '[engine]\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n'
        f'events_logfile_path = "{root}/events.log"\ntmp_dir = "{root}/libpod-tmp"\n'
    )
    (root / "registries.conf").write_text("unqualified-search-registries = []\n")
    env = hermetic_environ()
    env.update(
        CONTAINERS_STORAGE_CONF=f"{root}/storage.conf",
        CONTAINERS_CONF=f"{root}/containers.conf",
        CONTAINERS_REGISTRIES_CONF=f"{root}/registries.conf",
        TMPDIR=f"{root}/tmp",
    )
    return env


@pytest.fixture
def auth_file(tmp_path: Path) -> Path:
    """The test's own containers auth file (logins land here, not in the user's)."""
    path = tmp_path / "auth.json"
    path.write_text('{"auths": {}}\n')
    return path


@pytest.fixture
def skopeo(containers_env: dict[str, str], auth_file: Path) -> Tool:
    require("skopeo")
    return Tool(["skopeo"], {**containers_env, "REGISTRY_AUTH_FILE": os.fspath(auth_file)})


@pytest.fixture
def podman(containers_env: dict[str, str], auth_file: Path) -> Tool:
    require("podman")
    return Tool(["podman"], {**containers_env, "REGISTRY_AUTH_FILE": os.fspath(auth_file)})


@pytest.fixture(scope="session")
def seeded(registry: Registry, images: LocalImages) -> str:
    """``app:v1`` (busybox) in account A, pushed by A's root with skopeo; returns its manifest digest."""
    require("skopeo")
    password = registry.password(registry.roots[ACCOUNT_A])
    target = f"docker://{registry.ref(ACCOUNT_A, 'app', 'v1')}"
    run(
        [
            "skopeo",
            "copy",
            "--dest-tls-verify=false",
            "--dest-creds",
            f"AWS:{password}",
            images.ref("busybox"),
            target,
        ],
        env=hermetic_environ(),
    )
    found = registry.ecr(registry.roots[ACCOUNT_A]).describe_images(repositoryName="app")["imageDetails"]
    digest: str = found[0]["imageDigest"]
    return digest
