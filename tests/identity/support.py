"""Helpers for the identity tests: `dockyard serve` processes, boto3 clients, the aws CLI, hand signing."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import boto3  # type: ignore[import-untyped]
import botocore.auth  # type: ignore[import-untyped]
import httpx
from botocore.awsrequest import AWSRequest  # type: ignore[import-untyped]
from botocore.client import BaseClient  # type: ignore[import-untyped]
from botocore.config import Config  # type: ignore[import-untyped]
from botocore.credentials import Credentials  # type: ignore[import-untyped]

BIN = Path(sys.executable).parent
DOCKYARD = str(BIN / "dockyard")
AWS_CLI = str(BIN / "aws")
NO_RETRIES = Config(retries={"total_max_attempts": 1})
ACCOUNT = "111122223333"


@dataclass(frozen=True)
class Creds:
    key: str
    secret: str
    token: str | None = None

    @classmethod
    def of(cls, credentials: dict[str, Any]) -> Creds:
        """From an STS ``Credentials`` or IAM ``AccessKey`` structure."""
        return cls(
            credentials["AccessKeyId"], credentials["SecretAccessKey"], credentials.get("SessionToken")
        )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def admin(data_dir: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    command = [DOCKYARD, "admin", *args, "--data-dir", str(data_dir)]
    return subprocess.run(
        command, env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=60, check=False
    )


def init_account(data_dir: Path, account: str = ACCOUNT, command: str = "init") -> Creds:
    done = admin(data_dir, command, "--account-id", account, "--json")
    assert done.returncode == 0, done.stderr
    created = json.loads(done.stdout)
    assert created["account_id"] == account
    return Creds(created["access_key_id"], created["secret_access_key"])


class Server:
    """`dockyard serve` on a free 127.0.0.1 port, its output in a log file next to the data directory."""

    def __init__(self, data_dir: Path, env: dict[str, str] | None = None, *, wait: bool = True) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = data_dir.parent / f"serve-{self.port}.log"
        command = [DOCKYARD, "serve", "--data-dir", str(data_dir), "--port", str(self.port)]
        self.process = subprocess.Popen(
            command,
            env={**os.environ, **(env or {})},
            stdout=self.log.open("w"),
            stderr=subprocess.STDOUT,
        )
        if wait:
            self.wait_ready()

    def wait_ready(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"server exited: {self.log.read_text()}")
            try:
                if httpx.get(self.url + "/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.05)
        raise AssertionError(f"server at {self.url} did not become ready")

    def stop(self) -> None:
        stop_process(self.process)


def stop_process(process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    """SIGTERM, then SIGKILL if it has not exited within ``timeout`` seconds."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def client(url: str, service: str, creds: Creds, region: str = "us-east-1") -> Any:
    return boto3.client(
        service,
        endpoint_url=url,
        region_name=region,
        aws_access_key_id=creds.key,
        aws_secret_access_key=creds.secret,
        aws_session_token=creds.token,
        config=NO_RETRIES,
    )


def error_of(caught: Any) -> tuple[str, int]:
    """``(code, HTTP status)`` of a botocore ``ClientError``."""
    response = caught.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


def new_user(
    iam: BaseClient, *, policy: dict[str, Any] | None = None, prefix: str = "user"
) -> tuple[str, Creds]:
    """A user with an access key (and an inline policy, when given)."""
    name = unique(prefix)
    iam.create_user(UserName=name)
    if policy is not None:
        iam.put_user_policy(UserName=name, PolicyName="inline", PolicyDocument=json.dumps(policy))
    return name, Creds.of(iam.create_access_key(UserName=name)["AccessKey"])


def allow(*actions: str, resource: str = "*") -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": list(actions), "Resource": resource}],
    }


@contextmanager
def signing_time(when: datetime) -> Iterator[None]:
    """botocore signs as if the clock read ``when``."""
    original = botocore.auth.get_current_datetime
    botocore.auth.get_current_datetime = lambda: when.replace(tzinfo=None)
    try:
        yield
    finally:
        botocore.auth.get_current_datetime = original


def hand_signed(
    url: str,
    service: str,
    params: dict[str, str],
    creds: Creds,
    *,
    when: datetime,
    region: str = "us-east-1",
    presign_expires: int | None = None,
) -> httpx.Response:
    """A Query request signed by botocore's own signer at ``when`` (header form, or presigned GET)."""
    credentials = Credentials(creds.key, creds.secret, creds.token)
    if presign_expires is None:
        request = AWSRequest(
            method="POST",
            url=url + "/",
            data=httpx.QueryParams(params).__str__(),
            headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
        )
        signer = botocore.auth.SigV4Auth(credentials, service, region)
    else:
        request = AWSRequest(method="GET", url=url + "/?" + str(httpx.QueryParams(params)))
        signer = botocore.auth.SigV4QueryAuth(credentials, service, region, expires=presign_expires)
    with signing_time(when):
        signer.add_auth(request)
    prepared = request.prepare()
    return httpx.request(prepared.method, prepared.url, headers=dict(prepared.headers), content=prepared.body)


class AwsCli:
    """The aws CLI with its config and credentials files in a temporary directory (one named profile each)."""

    def __init__(self, home: Path, url: str) -> None:
        self.home = home
        self.url = url
        self.config = home / "config"
        self.credentials = home / "credentials"
        self.config.write_text("")
        self.credentials.write_text("")

    def profile(self, name: str, creds: Creds, **extra: str) -> None:
        settings = {"region": "us-east-1", "endpoint_url": self.url, "output": "json", **extra}
        with self.config.open("a") as config:
            config.write(f"[profile {name}]\n" + "".join(f"{k} = {v}\n" for k, v in settings.items()))
        with self.credentials.open("a") as credentials:
            credentials.write(f"[{name}]\naws_access_key_id = {creds.key}\n")
            credentials.write(f"aws_secret_access_key = {creds.secret}\n")
            if creds.token:
                credentials.write(f"aws_session_token = {creds.token}\n")

    def role_profile(self, name: str, role_arn: str, source: str) -> None:
        with self.config.open("a") as config:
            config.write(
                f"[profile {name}]\nrole_arn = {role_arn}\nsource_profile = {source}\n"
                f"region = us-east-1\nendpoint_url = {self.url}\noutput = json\n"
            )

    def run(self, profile: str, *args: str) -> subprocess.CompletedProcess[str]:
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(self.home),
            "AWS_CONFIG_FILE": str(self.config),
            "AWS_SHARED_CREDENTIALS_FILE": str(self.credentials),
            "AWS_PROFILE": profile,
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_MAX_ATTEMPTS": "1",
        }
        return subprocess.run(
            [AWS_CLI, *args], env=env, capture_output=True, text=True, timeout=60, check=False
        )

    def json(self, profile: str, *args: str) -> Any:
        done = self.run(profile, *args)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout) if done.stdout.strip() else None
