"""An IMDSv2-compatible endpoint for the instance role (contract §4): processes on the node find it with
``AWS_EC2_METADATA_SERVICE_ENDPOINT=http://127.0.0.1:<port>/`` and the SDKs' instance provider reads it.

As EC2's with ``HttpTokens=required``: ``PUT /latest/api/token`` with
``X-aws-ec2-metadata-token-ttl-seconds`` (1-21600) gives a session token; every ``GET`` needs it in
``X-aws-ec2-metadata-token`` (401 without a valid, unexpired one); a token ``PUT`` carrying
``X-Forwarded-For`` is refused (403), so a proxy on the node cannot fetch tokens for remote callers.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from dockyard.agent.model import IMDS_TIME_FORMAT, RoleCredentials

TTL_HEADER = "x-aws-ec2-metadata-token-ttl-seconds"
TOKEN_HEADER = "x-aws-ec2-metadata-token"  # noqa: S105  (a header name)
MAX_TTL = 21600
MAX_TOKENS = 10000
CREDENTIALS_PATH = "/latest/meta-data/iam/security-credentials/"


class InstanceCredentials:
    """The instance role's current credentials; the poll loop replaces them as the server re-sends them."""

    def __init__(self, wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._current: RoleCredentials | None = None
        self._updated = wall_clock()
        self._wall_clock = wall_clock

    @property
    def current(self) -> RoleCredentials | None:
        return self._current

    @property
    def last_updated(self) -> datetime:
        return self._updated

    def update(self, credentials: RoleCredentials) -> None:
        if credentials != self._current:
            self._current = credentials
            self._updated = self._wall_clock()


class SessionTokens:
    """IMDSv2 session tokens with their expiry (a monotonic clock, injectable for tests)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._expiry: dict[str, float] = {}
        self._clock = clock

    def issue(self, ttl: int) -> str:
        now = self._clock()
        self._expiry = {t: e for t, e in self._expiry.items() if e > now}
        while len(self._expiry) >= MAX_TOKENS:
            del self._expiry[next(iter(self._expiry))]  # the oldest
        token = secrets.token_urlsafe(32)
        self._expiry[token] = now + ttl
        return token

    def valid(self, token: str | None) -> bool:
        if not token:
            return False
        expiry = self._expiry.get(token)
        return expiry is not None and expiry > self._clock()


def _ttl(request: Request) -> int | None:
    try:
        ttl = int(request.headers.get(TTL_HEADER, ""))
    except ValueError:
        return None
    return ttl if 1 <= ttl <= MAX_TTL else None


def imds_app(credentials: InstanceCredentials, tokens: SessionTokens | None = None) -> Starlette:
    """The IMDSv2 subset the SDKs' instance credential provider uses."""
    sessions = tokens or SessionTokens()

    async def token(request: Request) -> Response:
        if "x-forwarded-for" in request.headers:
            return PlainTextResponse("Forbidden", 403)
        ttl = _ttl(request)
        if ttl is None:
            return PlainTextResponse("Bad Request", 400)
        return PlainTextResponse(sessions.issue(ttl), headers={TTL_HEADER: str(ttl)})

    async def role_names(request: Request) -> Response:
        if not sessions.valid(request.headers.get(TOKEN_HEADER)):
            return PlainTextResponse("Unauthorized", 401)
        current = credentials.current
        if current is None:
            return PlainTextResponse("Not Found", 404)
        return PlainTextResponse(current.role_name)

    async def role(request: Request) -> Response:
        if not sessions.valid(request.headers.get(TOKEN_HEADER)):
            return PlainTextResponse("Unauthorized", 401)
        current = credentials.current
        if current is None or request.path_params["role"] != current.role_name:
            return PlainTextResponse("Not Found", 404)
        return Response(_document(current, credentials.last_updated), media_type="text/plain")

    return Starlette(
        routes=[
            Route("/latest/api/token", token, methods=["PUT"]),
            Route(CREDENTIALS_PATH, role_names, methods=["GET"]),
            Route(CREDENTIALS_PATH + "{role}", role, methods=["GET"]),
        ]
    )


def _document(current: RoleCredentials, updated: datetime) -> str:
    return json.dumps(
        {
            "Code": "Success",
            "LastUpdated": updated.astimezone(UTC).strftime(IMDS_TIME_FORMAT),
            "Type": "AWS-HMAC",
            "AccessKeyId": current.access_key_id,
            "SecretAccessKey": current.secret_access_key,
            "Token": current.token,
            "Expiration": current.expiration_text,
        },
        indent=2,
    )
