"""The agent's calls to the server: ECS operations (registration, state changes) with the bootstrap
credentials, the SigV4-signed long poll (contract §2), ECR's GetAuthorizationToken and CloudWatch Logs
with a task's role credentials. boto3 is synchronous, so its calls run in worker threads.

Which images get an ECR token: those whose registry is the server itself (the endpoint's host and port,
as with ``--auth none`` or a load balancer's name) or ``<12 digits>.dkr.<domain>[:port]`` when the
token's ``proxyEndpoint`` names that host. Any other registry (Docker Hub, say) is pulled anonymously, so
a Dockyard token never goes to a third party (as ``docker-credential-dockyard`` decides).
"""

from __future__ import annotations

import asyncio
import base64
import functools
import json
import logging
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import boto3  # type: ignore[import-untyped]
import httpx
from botocore.auth import SigV4Auth  # type: ignore[import-untyped]
from botocore.awsrequest import AWSRequest  # type: ignore[import-untyped]
from botocore.config import Config  # type: ignore[import-untyped]
from botocore.exceptions import BotoCoreError, ClientError  # type: ignore[import-untyped]

from dockyard.agent.docker import ImageRef, RegistryAuth
from dockyard.agent.model import RoleCredentials

log = logging.getLogger("dockyard.agent")
POLL_PATH = "/dockyard/ecs/v1/poll"
CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=10, read_timeout=60)
ECR_HOST = re.compile(r"^(\d{12})\.dkr\.")


@dataclass(frozen=True)
class Endpoints:
    """Where each API is served; ``dockyard agent`` points them all at ``--endpoint``."""

    ecs: str
    ecr: str
    logs: str
    region: str

    @classmethod
    def single(cls, url: str, region: str) -> Endpoints:
        return cls(url, url, url, region)


def error_text(exc: Exception) -> str:
    """``Code: message`` of a botocore error (never a request: those carry signatures)."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', 'Error')}: {error.get('Message', '')}".strip()
    return str(exc)


@functools.cache
def _models() -> Any:
    """One boto3 session whose loaded service models every role's clients share (loading a model
    costs a few hundred milliseconds; the credentials are each client's own)."""
    return boto3.session.Session()


def role_client(service: str, credentials: RoleCredentials, endpoint: str, region: str) -> Any:
    return _models().client(
        service,
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id=credentials.access_key_id,
        aws_secret_access_key=credentials.secret_access_key,
        aws_session_token=credentials.token,
        config=CLIENT_CONFIG,
    )


def logs_client(credentials: RoleCredentials, endpoints: Endpoints) -> Any:
    return role_client("logs", credentials, endpoints.logs, endpoints.region)


class PullCredentialsError(Exception):
    """No registry login could be had; the text goes after ``CannotPullContainerError: ``."""


def _same_host(netloc: str, url: str) -> bool:
    named = urlsplit(url if "//" in url else f"https://{url}")
    return named.hostname is not None and named.hostname == urlsplit(f"//{netloc}").hostname


async def registry_auth(
    ref: ImageRef, credentials: RoleCredentials | None, endpoints: Endpoints
) -> RegistryAuth | None:
    """The ECR login for pulling ``ref`` with ``credentials``; ``None`` for another registry's image."""
    own = ref.registry == urlsplit(endpoints.ecr).netloc
    account = ECR_HOST.match(ref.registry)
    if not own and account is None:
        return None
    if credentials is None:
        raise PullCredentialsError("no role credentials to pull with yet")
    client = role_client("ecr", credentials, endpoints.ecr, endpoints.region)
    kwargs = {"registryIds": [account.group(1)]} if account is not None and not own else {}
    try:
        answer = await asyncio.to_thread(client.get_authorization_token, **kwargs)
    except (ClientError, BotoCoreError) as exc:
        raise PullCredentialsError(error_text(exc)) from None
    data = answer["authorizationData"][0]
    if not own and not _same_host(ref.registry, data.get("proxyEndpoint", "")):
        return None
    user, _, password = base64.b64decode(data["authorizationToken"]).decode().partition(":")
    return RegistryAuth(user, password, ref.registry)


class EcsApi:
    """ECS operations signed with the agent's bootstrap credentials; each state change is retried by
    botocore (standard mode), and one that still fails is logged and given up."""

    def __init__(self, session: Any, endpoints: Endpoints) -> None:
        self._client = session.client(
            "ecs", endpoint_url=endpoints.ecs, region_name=endpoints.region, config=CLIENT_CONFIG
        )

    async def discover_poll_endpoint(self, cluster: str) -> str:
        answer = await asyncio.to_thread(self._client.discover_poll_endpoint, cluster=cluster)
        return str(answer["endpoint"])

    async def register(self, **request: Any) -> dict[str, Any]:
        answer = await asyncio.to_thread(self._client.register_container_instance, **request)
        instance: dict[str, Any] = answer["containerInstance"]
        return instance

    async def submit_task_state(self, **request: Any) -> bool:
        return await self._submit(self._client.submit_task_state_change, request)

    async def submit_container_state(self, **request: Any) -> bool:
        return await self._submit(self._client.submit_container_state_change, request)

    async def _submit(self, operation: Any, request: dict[str, Any]) -> bool:
        fields = {"task": request.get("task"), "status": request.get("status")}
        try:
            await asyncio.to_thread(operation, **{k: v for k, v in request.items() if v is not None})
        except (ClientError, BotoCoreError) as exc:
            log.warning("state change not accepted", extra={**fields, "error": error_text(exc)})
            return False
        log.info("state change reported", extra=fields)
        return True


class PollError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status


class PollClient:
    """``POST /dockyard/ecs/v1/poll``, SigV4-signed for service ``ecs`` with the bootstrap credentials."""

    def __init__(self, base_url: str, session: Any, region: str) -> None:
        self._url = base_url.rstrip("/") + POLL_PATH
        self._session = session
        self._region = region
        self._http = httpx.AsyncClient(trust_env=False)

    async def close(self) -> None:
        await self._http.aclose()

    def _signed_headers(self, body: bytes) -> dict[str, str]:
        credentials = self._session.get_credentials()
        if credentials is None:
            raise PollError(0, "no AWS credentials to sign the poll with")
        request = AWSRequest("POST", self._url, data=body, headers={"Content-Type": "application/json"})
        SigV4Auth(credentials.get_frozen_credentials(), "ecs", self._region).add_auth(request)
        return dict(request.headers.items())

    async def poll(self, request: dict[str, Any]) -> dict[str, Any]:
        body = json.dumps(request).encode()
        headers = await asyncio.to_thread(self._signed_headers, body)
        timeout = httpx.Timeout(30.0, read=float(request.get("waitSeconds", 20)) + 30.0)
        response = await self._http.post(self._url, content=body, headers=headers, timeout=timeout)
        if response.status_code != 200:
            raise PollError(response.status_code, _error_message(response))
        answer: dict[str, Any] = response.json()
        return answer


def _error_message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:500]
    if isinstance(body, dict):
        return str(body.get("message") or body.get("Message") or body.get("__type") or body)
    return str(body)
