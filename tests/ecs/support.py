"""A real dockyard app (``create_app``: IAM, STS, ECR and ECS on ``/``, the agent's poll) served by uvicorn
on 127.0.0.1 with one account, and the clients the ECS tests drive it with: boto3, the aws CLI, and a
simulated node agent that speaks ``docs/ecs-agent-protocol.md`` (boto3 for the ECS operations, signed
httpx POSTs for the poll)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from subprocess import CompletedProcess
from typing import Any

import boto3
import httpx
import uvicorn
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

from aws_profile import aws_cli_env
from dockyard.app import build_services, create_app
from dockyard.config import Settings
from dockyard.http.ecs import POLL_PATH

ACCOUNT = "123456789012"
REGION = "us-east-1"
AGENT_ACTIONS = (  # what a node's agent calls, as AmazonEC2ContainerServiceforEC2Role allows them
    "ecs:RegisterContainerInstance",
    "ecs:DiscoverPollEndpoint",
    "ecs:Poll",
    "ecs:SubmitTaskStateChange",
    "ecs:SubmitContainerStateChange",
)
NO_RETRIES = Config(retries={"total_max_attempts": 1, "mode": "standard"})
AWS_CLI = shutil.which("aws", path=os.path.dirname(sys.executable)) or shutil.which("aws")


@dataclass(frozen=True)
class Creds:
    key: str
    secret: str
    token: str | None = None

    @classmethod
    def of(cls, found: dict[str, Any]) -> Creds:
        """From an STS ``Credentials``, an IAM ``AccessKey`` or the poll's credentials."""
        return cls(
            found["AccessKeyId"], found["SecretAccessKey"], found.get("SessionToken") or found.get("Token")
        )


def trust(*services: str) -> str:
    statement = {"Effect": "Allow", "Principal": {"Service": list(services)}, "Action": "sts:AssumeRole"}
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def allow(*actions: str, resource: str | list[str] = "*") -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": list(actions), "Resource": resource}],
    }


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@dataclass
class EcsServer:
    url: str
    root: Creds
    settings: Settings
    http: httpx.Client

    def client(self, service: str, creds: Creds | None = None) -> Any:
        creds = creds or self.root
        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name=REGION,
            aws_access_key_id=creds.key,
            aws_secret_access_key=creds.secret,
            aws_session_token=creds.token,
            config=NO_RETRIES,
        )

    def user(self, policy: dict[str, Any] | None = None) -> Creds:
        """A new IAM user with an access key (and an inline policy)."""
        iam, name = self.client("iam"), unique("user")
        iam.create_user(UserName=name)
        if policy is not None:
            iam.put_user_policy(UserName=name, PolicyName="inline", PolicyDocument=json.dumps(policy))
        return Creds.of(iam.create_access_key(UserName=name)["AccessKey"])

    def role(self, *services: str, policy: dict[str, Any] | None = None) -> str:
        """A new role trusting ``services`` (and with an inline policy); its ARN."""
        iam, name = self.client("iam"), unique("role")
        arn: str = iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust(*services))["Role"]["Arn"]
        if policy is not None:
            iam.put_role_policy(RoleName=name, PolicyName="inline", PolicyDocument=json.dumps(policy))
        return arn


@dataclass
class Agent:
    """A node agent as the contract describes it, driven by hand."""

    server: EcsServer
    creds: Creds
    cluster: str
    capacity: str = "EC2"
    cpu: int = 2048
    memory: int = 4096
    role_arn: str | None = None
    instance_id: str = field(default_factory=lambda: f"i-{uuid.uuid4().hex[:16]}")
    arn: str = ""

    @property
    def ecs(self) -> Any:
        return self.server.client("ecs", self.creds)

    def register(self) -> dict[str, Any]:
        document = {"instanceId": self.instance_id}
        if self.role_arn is not None:
            document["instanceRoleArn"] = self.role_arn
        found: dict[str, Any] = self.ecs.register_container_instance(
            cluster=self.cluster,
            instanceIdentityDocument=json.dumps(document),
            totalResources=[
                {"name": "CPU", "type": "INTEGER", "integerValue": self.cpu},
                {"name": "MEMORY", "type": "INTEGER", "integerValue": self.memory},
            ],
            attributes=[{"name": "dockyard.capacity", "value": self.capacity}],
            versionInfo={"agentVersion": "1.0.0", "dockerVersion": "test"},
        )["containerInstance"]
        self.arn = found["containerInstanceArn"]
        return found

    def poll_response(self, tasks: list[dict[str, Any]] | None = None, wait: int = 0) -> httpx.Response:
        body = json.dumps(
            {
                "cluster": self.cluster,
                "containerInstanceArn": self.arn,
                "tasks": tasks or [],
                "waitSeconds": wait,
            }
        ).encode()
        request = AWSRequest(
            method="POST",
            url=self.server.url + POLL_PATH,
            data=body,
            headers={"Content-Type": "application/json"},
        )
        credentials = Credentials(self.creds.key, self.creds.secret, self.creds.token)
        SigV4Auth(credentials, "ecs", REGION).add_auth(request)
        prepared = request.prepare()
        return httpx.post(prepared.url, headers=dict(prepared.headers), content=prepared.body, timeout=60)

    def poll(self, tasks: list[dict[str, Any]] | None = None, wait: int = 0) -> dict[str, Any]:
        response = self.poll_response(tasks, wait)
        assert response.status_code == 200, response.text
        answer: dict[str, Any] = response.json()
        return answer

    def submit(self, task_arn: str, status: str, **extra: Any) -> None:
        answer = self.ecs.submit_task_state_change(
            cluster=self.cluster, task=task_arn, status=status, **extra
        )
        assert answer["acknowledgment"]


def _free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    return sock


def create_account(settings: Settings, account: str = ACCOUNT) -> Creds:
    """The account and its root key, made before the server starts (as `dockyard admin init` would)."""

    async def make() -> Creds:
        services = build_services(settings)
        try:
            issued = await services.identity.create_account(account)
            return Creds(issued.key.access_key_id, issued.secret)
        finally:
            await services.close()

    return asyncio.run(make())


def prepared_settings(data_dir: Path, template: Path, **extra: Any) -> Settings:
    data_dir.mkdir(parents=True, exist_ok=True)
    if not (data_dir / "dockyard.db").exists():
        shutil.copyfile(template, data_dir / "dockyard.db")
    return Settings(
        data_dir=data_dir, access_log=False, auth="none", default_account=ACCOUNT, scan_concurrency=0, **extra
    )


@contextmanager
def serve(settings: Settings, root: Creds) -> Iterator[EcsServer]:
    app = create_app(settings)
    sock = _free_socket()
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.started
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    with httpx.Client(base_url=url, timeout=30) as client:
        try:
            yield EcsServer(url, root, settings, client)
        finally:
            server.should_exit = True
            thread.join(timeout=20)
            sock.close()


def aws(server: EcsServer, home: Path, *args: str, creds: Creds | None = None) -> CompletedProcess[str]:
    """``aws ecs <args>`` with a profile for this server."""
    creds = creds or server.root
    env = aws_cli_env(home, server.url, creds.key, creds.secret, REGION)
    command = [str(AWS_CLI), "ecs", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False)
