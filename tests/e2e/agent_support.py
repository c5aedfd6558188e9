"""What the node agent's end-to-end tests share: a real ``dockyard serve`` with IAM auth on (its registry,
IAM, STS, ECS and Logs), busybox pushed to it, roles and users, and the release of dockerd's host network
namespace mount."""

from __future__ import annotations

import base64
import http.server
import json
import os
import signal
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ecs.support import AGENT_ACTIONS
from identity.support import Creds, Server, allow, client, init_account, new_user, stop_process, unique

from .shared import DockerDaemon
from .support import LocalImages, Tool, dockyard_executable, free_port, hermetic_environ

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


def start_plane(
    data_dir: Path, images: LocalImages, skopeo: Tool, env: dict[str, str] | None = None
) -> Plane:
    """``dockyard serve`` with IAM auth on (and ``env``'s settings) and busybox pushed by skopeo with the
    root's ECR password."""
    data_dir.mkdir(parents=True)
    root = init_account(data_dir, ACCOUNT)
    server = Server(data_dir, env={"DOCKYARD_AUTH": "iam", **(env or {})})
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


# -- the `dockyard agent` command as a node, and a gate its containers wait on ---------------------------

EC2_PRINCIPAL = {"Service": "ec2.amazonaws.com"}
TASKS_PRINCIPAL = {"Service": "ecs-tasks.amazonaws.com"}


def bootstrap_policy(instance_role: str) -> dict[str, Any]:
    """What the operator gives a node: the agent actions and iam:PassRole on its instance role."""
    policy = allow(*AGENT_ACTIONS)
    policy["Statement"].append({"Effect": "Allow", "Action": "iam:PassRole", "Resource": instance_role})
    return policy


class AgentProcess:
    """``dockyard agent`` as an operator runs it: bootstrap credentials in the environment, its own
    state directory (a restart with the same one is the same container instance), output in a file."""

    def __init__(self, argv: list[str], env: dict[str, str], log_path: Path) -> None:
        self.argv, self.env, self.log_path = argv, env, log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=self.env
            )

    def kill(self) -> None:
        """SIGKILL: no goodbye to the server, the containers keep running."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None


def agent_process(
    plane: Plane,
    *,
    cluster: str,
    instance_role: str,
    capacity: str,
    docker_host: str,
    state_dir: Path,
    endpoint: str | None = None,
) -> AgentProcess:
    """A node of ``cluster`` (not started) whose bootstrap user the test's account creates; it talks to
    ``endpoint`` (default: the plane's server)."""
    bootstrap = plane.user(bootstrap_policy(instance_role))
    env = {k: v for k, v in hermetic_environ().items() if not k.startswith("AWS_")}
    env.update(
        AWS_ACCESS_KEY_ID=bootstrap.key,
        AWS_SECRET_ACCESS_KEY=bootstrap.secret,
        AWS_CONFIG_FILE=os.fspath(state_dir.parent / "no-aws-config"),
        AWS_SHARED_CREDENTIALS_FILE=os.fspath(state_dir.parent / "no-aws-credentials"),
    )
    argv = [
        os.fspath(dockyard_executable()),
        "agent",
        *("--endpoint", endpoint or plane.url, "--instance-role", instance_role, "--cluster", cluster),
        *("--capacity", capacity, "--cpu", "2048", "--memory", "2048", "--docker-host", docker_host),
        *("--imds-port", str(free_port()), "--credentials-port", str(free_port())),
        *("--state-dir", os.fspath(state_dir), "--region", "us-east-1"),
    ]
    return AgentProcess(argv, env, state_dir.parent / f"agent-{cluster}.log")


class Gate:
    """An HTTP server on 127.0.0.1 that host-network containers poll (busybox ``wget``) until the test
    opens their gate: a task stays RUNNING exactly as long as the test needs, no sleeps involved."""

    def __init__(self) -> None:
        opened: set[str] = set()
        self.opened = opened

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200 if self.path.strip("/") in opened else 404)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: pytest's output is for failures."""

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def script(self, name: str, then: str) -> str:
        """A shell script that waits for gate ``name``, then runs ``then``."""
        url = f"http://127.0.0.1:{self.port}/{name}"
        return f"until wget -q -O /dev/null {url} 2>/dev/null; do sleep 0.1; done; {then}"

    def open(self, name: str) -> None:
        self.opened.add(name)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def task_containers(docker: Tool, task_arn: str) -> list[str]:
    """Ids of the containers (any state) dockerd has for a task, found by the agent's label."""
    listed = docker("ps", "-a", "-q", "--filter", f"label=com.amazonaws.ecs.task-arn={task_arn}")
    return listed.stdout.split()
