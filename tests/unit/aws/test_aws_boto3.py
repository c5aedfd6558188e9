"""Real boto3 clients, signing with botocore, against the layer served by uvicorn on 127.0.0.1."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from subprocess import CompletedProcess
from typing import Any

import boto3
import defusedxml.ElementTree as SafeET
import pytest
import uvicorn
from botocore.config import Config
from botocore.exceptions import ClientError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import Route

from dockyard.clock import SystemClock
from dockyard.http.aws.endpoint import AwsEndpoint, Handler
from dockyard.http.aws.errors import AwsError
from dockyard.http.aws.sigv4 import SecretKeyRecord, SigV4Verifier, VerifiedRequest

from .support import KeyTable

ACCOUNT = "123456789012"
KEY, SECRET = "AKIDBOTO3EXAMPLE", "boto3/Secret+Key/EXAMPLE0000000000000000"
TEMP_KEY, TEMP_SECRET, TOKEN = "ASIATEMPEXAMPLE", "temp/Secret", "IQoJb3JpZ2luX2VjEJr//////////token=="
CREATED = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
KEYS = KeyTable(
    {
        KEY: SecretKeyRecord(SECRET),
        TEMP_KEY: SecretKeyRecord(
            TEMP_SECRET, session_token=TOKEN, expires_at=datetime.now(UTC) + timedelta(hours=1)
        ),
    }
)
NO_RETRIES = Config(retries={"total_max_attempts": 1})


def authenticator(service: str) -> Any:
    verifier = SigV4Verifier(
        region=["us-east-1", "eu-west-1"], service=service, lookup=KEYS, clock=SystemClock()
    )

    async def authenticate(request: Request, body: bytes) -> VerifiedRequest:
        return await verifier.verify_starlette(request, body)

    return authenticate


async def describe_repositories(caller: VerifiedRequest, params: dict[str, Any]) -> dict[str, Any]:
    names = params.get("repositoryNames", ["app"])
    if "missing" in names:
        raise AwsError(
            "RepositoryNotFoundException",
            f"The repository with name 'missing' does not exist in the registry with id '{ACCOUNT}'",
        )
    return {
        "repositories": [
            {
                "repositoryArn": f"arn:aws:ecr:us-east-1:{ACCOUNT}:repository/{name}",
                "registryId": ACCOUNT,
                "repositoryName": name,
                "repositoryUri": f"{ACCOUNT}.dkr.ecr.us-east-1.localhost/{name}",
                "createdAt": CREATED,
                "imageTagMutability": "IMMUTABLE",
                "imageScanningConfiguration": {"scanOnPush": True},
            }
            for name in names
        ]
    }


async def create_repository(caller: VerifiedRequest, params: dict[str, Any]) -> dict[str, Any]:
    return {"repository": {"repositoryName": params["repositoryName"], "createdAt": CREATED}}


async def get_authorization_token(caller: VerifiedRequest, params: dict[str, Any]) -> dict[str, Any]:
    return {
        "authorizationData": [
            {
                "authorizationToken": "QVdTOnRva2Vu",
                "expiresAt": CREATED,
                "proxyEndpoint": f"https://{ACCOUNT}.dkr.ecr.us-east-1.localhost",
            }
        ]
    }


async def get_user(caller: VerifiedRequest, params: dict[str, Any]) -> dict[str, Any]:
    name = params.get("UserName", "me")
    if name == "ghost":
        raise AwsError("NoSuchEntityException", "The user with name ghost cannot be found.")
    return {
        "User": {
            "Path": "/",
            "UserName": name,
            "UserId": caller.access_key_id,
            "Arn": f"arn:aws:iam::{ACCOUNT}:user/{name}",
            "CreateDate": CREATED,
        }
    }


async def create_user(caller: VerifiedRequest, params: dict[str, Any]) -> dict[str, Any]:
    user = await get_user(caller, params)
    user["User"]["Tags"] = params.get("Tags", [])
    return user


async def get_caller_identity(caller: VerifiedRequest, params: dict[str, Any]) -> dict[str, Any]:
    return {
        "UserId": caller.access_key_id,
        "Account": ACCOUNT,
        "Arn": f"arn:aws:iam::{ACCOUNT}:user/{caller.access_key_id}",
    }


ECR: dict[str, Handler[VerifiedRequest]] = {
    "DescribeRepositories": describe_repositories,
    "CreateRepository": create_repository,
    "GetAuthorizationToken": get_authorization_token,
}
IAM: dict[str, Handler[VerifiedRequest]] = {"GetUser": get_user, "CreateUser": create_user}
STS: dict[str, Handler[VerifiedRequest]] = {"GetCallerIdentity": get_caller_identity}

APP = Starlette(
    routes=[
        Route("/ecr", AwsEndpoint(service="ecr", handlers=ECR, authenticator=authenticator("ecr"))),
        Route("/iam", AwsEndpoint(service="iam", handlers=IAM, authenticator=authenticator("iam"))),
        Route("/sts", AwsEndpoint(service="sts", handlers=STS, authenticator=authenticator("sts"))),
    ]
)


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(APP, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.started
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)
    sock.close()


def client(
    base_url: str,
    service: str,
    *,
    key: str = KEY,
    secret: str = SECRET,
    token: str | None = None,
    region: str = "us-east-1",
    config: Config = NO_RETRIES,
) -> Any:
    return boto3.client(
        service,
        endpoint_url=f"{base_url}/{service}",
        region_name=region,
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        aws_session_token=token,
        config=config,
    )


def error_of(caught: pytest.ExceptionInfo[ClientError]) -> tuple[int, str, str]:
    response: Any = caught.value.response
    return (
        response["ResponseMetadata"]["HTTPStatusCode"],
        response["Error"]["Code"],
        response["Error"]["Message"],
    )


def test_ecr_describe_repositories(base_url: str) -> None:
    answer = client(base_url, "ecr").describe_repositories(repositoryNames=["team/app", "web"])
    repos = answer["repositories"]
    assert [r["repositoryName"] for r in repos] == ["team/app", "web"]
    assert repos[0]["createdAt"] == CREATED
    assert repos[0]["imageScanningConfiguration"] == {"scanOnPush": True}
    assert answer["ResponseMetadata"]["RequestId"]


def test_ecr_get_authorization_token(base_url: str) -> None:
    data = client(base_url, "ecr").get_authorization_token()["authorizationData"][0]
    assert data["authorizationToken"] == "QVdTOnRva2Vu"
    assert data["expiresAt"] == CREATED


def test_ecr_modeled_error(base_url: str) -> None:
    ecr = client(base_url, "ecr")
    with pytest.raises(ecr.exceptions.RepositoryNotFoundException) as caught:
        ecr.describe_repositories(repositoryNames=["missing"])
    assert error_of(caught)[:2] == (400, "RepositoryNotFoundException")


def test_ecr_server_side_validation(base_url: str) -> None:
    ecr = client(base_url, "ecr", config=NO_RETRIES.merge(Config(parameter_validation=False)))
    with pytest.raises(ClientError) as caught:
        ecr.create_repository(repositoryName="Not Valid")
    status, code, message = error_of(caught)
    assert (status, code) == (400, "ValidationException")
    assert message.startswith("1 validation error detected: Value 'Not Valid' at 'repositoryName'")


def test_ecr_operation_without_handler(base_url: str) -> None:
    with pytest.raises(ClientError) as caught:
        client(base_url, "ecr").list_images(repositoryName="app")
    assert error_of(caught)[:2] == (400, "UnknownOperationException")


@pytest.mark.parametrize(
    ("service", "kwargs", "expected"),
    [
        ("ecr", {"secret": "wrong"}, (400, "InvalidSignatureException")),
        ("ecr", {"key": "AKIDUNKNOWN"}, (400, "UnrecognizedClientException")),
        ("iam", {"secret": "wrong"}, (403, "SignatureDoesNotMatch")),
        ("iam", {"key": "AKIDUNKNOWN"}, (403, "InvalidClientTokenId")),
        ("sts", {"secret": "wrong"}, (403, "SignatureDoesNotMatch")),
        ("sts", {"key": TEMP_KEY, "secret": TEMP_SECRET, "token": "forged"}, (403, "InvalidClientTokenId")),
        ("sts", {"region": "ap-south-1"}, (403, "SignatureDoesNotMatch")),
    ],
)
def test_bad_credentials(
    base_url: str, service: str, kwargs: dict[str, str], expected: tuple[int, str]
) -> None:
    aws = client(base_url, service, **kwargs)
    call = getattr(
        aws, {"ecr": "describe_repositories", "iam": "get_user", "sts": "get_caller_identity"}[service]
    )
    with pytest.raises(ClientError) as caught:
        call()
    assert error_of(caught)[:2] == expected


def test_iam_create_and_get_user(base_url: str) -> None:
    iam = client(base_url, "iam")
    user = iam.create_user(UserName="alice", Path="/", Tags=[{"Key": "team", "Value": "a+b=c @é"}])["User"]
    assert user["UserName"] == "alice"
    assert user["Tags"] == [{"Key": "team", "Value": "a+b=c @é"}]
    assert user["CreateDate"] == CREATED
    assert iam.get_user(UserName="bob")["User"]["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/bob"


def test_iam_signed_for_another_configured_region(base_url: str) -> None:
    assert client(base_url, "iam", region="eu-west-1").get_user()["User"]["UserId"] == KEY


def test_iam_modeled_error_with_model_status(base_url: str) -> None:
    iam = client(base_url, "iam")
    with pytest.raises(iam.exceptions.NoSuchEntityException) as caught:
        iam.get_user(UserName="ghost")
    assert error_of(caught) == (404, "NoSuchEntity", "The user with name ghost cannot be found.")


def test_iam_operation_without_handler(base_url: str) -> None:
    with pytest.raises(ClientError) as caught:
        client(base_url, "iam").list_roles()
    assert error_of(caught) == (
        400,
        "InvalidAction",
        "Could not find operation ListRoles for version 2010-05-08",
    )


def test_sts_with_temporary_credentials(base_url: str) -> None:
    answer = client(base_url, "sts", key=TEMP_KEY, secret=TEMP_SECRET, token=TOKEN).get_caller_identity()
    assert (answer["UserId"], answer["Account"]) == (TEMP_KEY, ACCOUNT)


def test_sts_presigned_get_caller_identity(base_url: str) -> None:
    url = client(base_url, "sts").generate_presigned_url(
        "get_caller_identity", ExpiresIn=60, HttpMethod="GET"
    )
    with urllib.request.urlopen(url, timeout=5) as response:
        root = SafeET.fromstring(response.read())
    assert root.tag == "{https://sts.amazonaws.com/doc/2011-06-15/}GetCallerIdentityResponse"
    tampered = url.replace("X-Amz-Expires=60", "X-Amz-Expires=61")
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(tampered, timeout=5)
    assert caught.value.code == 403
    assert b"<Code>SignatureDoesNotMatch</Code>" in caught.value.read()


# ------------------------------------------------------------------------------- the aws CLI, when installed

AWS_CLI = shutil.which("aws", path=os.path.dirname(sys.executable)) or shutil.which("aws")


def aws_cli(
    base_url: str, tmp_path: Path, service: str, *args: str, secret: str = SECRET
) -> CompletedProcess[str]:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "AWS_ACCESS_KEY_ID": KEY,
        "AWS_SECRET_ACCESS_KEY": secret,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": str(tmp_path / "config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_MAX_ATTEMPTS": "1",
    }
    command = [str(AWS_CLI), service, *args, "--endpoint-url", f"{base_url}/{service}", "--output", "json"]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.skipif(AWS_CLI is None, reason="the aws CLI is not installed (pip install awscli)")
def test_the_aws_cli(base_url: str, tmp_path: Path) -> None:
    done = aws_cli(base_url, tmp_path, "ecr", "describe-repositories", "--repository-names", "app")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["repositories"][0]["repositoryName"] == "app"
    done = aws_cli(base_url, tmp_path, "ecr", "get-login-password")
    assert (done.returncode, done.stdout.strip()) == (0, "token"), done.stderr
    done = aws_cli(base_url, tmp_path, "sts", "get-caller-identity")
    assert json.loads(done.stdout)["Account"] == ACCOUNT, done.stderr
    done = aws_cli(base_url, tmp_path, "iam", "get-user", "--user-name", "ghost")
    assert done.returncode != 0
    assert "(NoSuchEntity)" in done.stderr
    done = aws_cli(base_url, tmp_path, "iam", "get-user", secret="wrong")
    assert "(SignatureDoesNotMatch)" in done.stderr
