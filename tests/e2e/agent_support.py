"""What the node agent's end-to-end tests share: a real ``dockyard serve`` with IAM auth on (its registry,
IAM, STS, ECS and Logs), busybox pushed to it, roles and users, and the release of dockerd's host network
namespace mount."""

from __future__ import annotations

import base64
import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from identity.support import Creds, Server, allow, client, init_account, new_user, unique

from .shared import DockerDaemon
from .support import LocalImages, Tool

ACCOUNT = "333344445555"


@dataclass
class Plane:
    """The server, its account's root credentials and the busybox image pushed to it."""

    server: Server
    root: Creds
    image: str  # 127.0.0.1:<port>/agent/busybox:latest
    digest: str

    @property
    def url(self) -> str:
        return self.server.url

    def client(self, service: str, creds: Creds | None = None) -> Any:
        return client(self.url, service, creds or self.root)

    def role(
        self,
        principal: dict[str, str],
        *,
        managed: tuple[str, ...] = (),
        inline: dict[str, Any] | None = None,
    ) -> str:
        """A new role trusting ``principal`` (``{"Service": ...}`` or ``{"AWS": ...}``); its ARN."""
        iam = self.client("iam")
        statement = {"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"}
        document = json.dumps({"Version": "2012-10-17", "Statement": [statement]})
        name = unique("role")
        arn: str = iam.create_role(RoleName=name, AssumeRolePolicyDocument=document)["Role"]["Arn"]
        for policy in managed:
            iam.attach_role_policy(RoleName=name, PolicyArn=f"arn:aws:iam::aws:policy/{policy}")
        if inline is not None:
            iam.put_role_policy(RoleName=name, PolicyName="inline", PolicyDocument=json.dumps(inline))
        return arn

    def user(self, policy: dict[str, Any]) -> Creds:
        return new_user(self.client("iam"), policy=policy)[1]

    def assumed(self, role_arn: str) -> dict[str, Any]:
        """The role's credentials from the real STS (a user assumes it: roots may not), in the poll's
        wire form."""
        caller = self.user(allow("sts:AssumeRole"))
        issued = self.client("sts", caller).assume_role(RoleArn=role_arn, RoleSessionName="agent")[
            "Credentials"
        ]
        return {
            "AccessKeyId": issued["AccessKeyId"],
            "SecretAccessKey": issued["SecretAccessKey"],
            "Token": issued["SessionToken"],
            "Expiration": issued["Expiration"].isoformat(),
            "RoleArn": role_arn,
        }


def start_plane(data_dir: Path, images: LocalImages, skopeo: Tool) -> Plane:
    """``dockyard serve`` with IAM auth on and busybox pushed by skopeo with the root's ECR password."""
    data_dir.mkdir(parents=True)
    root = init_account(data_dir, ACCOUNT)
    server = Server(data_dir, env={"DOCKYARD_AUTH": "iam"})
    try:
        ecr = client(server.url, "ecr", root)
        token = ecr.get_authorization_token()["authorizationData"][0]["authorizationToken"]
        password = base64.b64decode(token).decode().partition(":")[2]
        image = f"127.0.0.1:{server.port}/agent/busybox:latest"
        destination = ("--dest-tls-verify=false", "--dest-creds", f"AWS:{password}")
        skopeo("copy", *destination, images.ref("busybox"), f"docker://{image}")
        digest = ecr.describe_images(repositoryName="agent/busybox")["imageDetails"][0]["imageDigest"]
    except BaseException:
        server.stop()
        raise
    return Plane(server, root, image, digest)


@pytest.fixture(scope="session")
def host_netns_released(dockerd: DockerDaemon) -> Iterator[None]:
    """dockerd bind-mounts the host's network namespace at ``<exec root>/netns/default`` for the first
    host-network container and never unmounts it, not even when it exits: each session would leave a
    mount (and an undeletable directory) in pytest's tmp. The agent's tests run the suite's only
    host-network containers; the mount is released at the end of the session (not before: dockerd
    needs it for every later host-network container)."""
    yield
    path = Path(dockerd.env["DOCKER_HOST"].removeprefix("unix://")).parent / "exec" / "netns" / "default"
    if os.path.ismount(path):
        subprocess.run(["umount", os.fspath(path)], check=False)
