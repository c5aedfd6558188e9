"""The container credentials endpoint for task roles (contract §4).

A task with a task role gets ``AWS_CONTAINER_CREDENTIALS_FULL_URI=http://127.0.0.1:<port>/v2/credentials/
<task id>`` and ``AWS_CONTAINER_AUTHORIZATION_TOKEN=<token>``: a random token of its own, checked in
constant time. No ``Authorization`` header is 401; a token that is not this task's (another task's
included, or any token for an unknown task) is 403, so one task never reads another's credentials.
"""

from __future__ import annotations

import hmac
import json
import secrets
from dataclasses import dataclass, field

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from dockyard.agent.model import RoleCredentials

FULL_URI_ENV = "AWS_CONTAINER_CREDENTIALS_FULL_URI"
TOKEN_ENV = "AWS_CONTAINER_AUTHORIZATION_TOKEN"  # noqa: S105  (a variable name)
_NO_TOKEN = secrets.token_urlsafe(32)  # compared against when the task is unknown, to take the same time


@dataclass
class TaskEntry:
    """One task's token and its task role's credentials (``None`` until the server sends them)."""

    token: str = field(repr=False)
    credentials: RoleCredentials | None = None


class TaskCredentials:
    """Each task's token and its task role's current credentials, by task id."""

    def __init__(self) -> None:
        self._tasks: dict[str, TaskEntry] = {}

    def register(self, task_id: str, token: str | None = None) -> str:
        """The task's token: ``token`` (an adopted container's, from its environment) or a new one."""
        entry = self._tasks.get(task_id)
        if entry is None:
            entry = self._tasks[task_id] = TaskEntry(token or secrets.token_urlsafe(32))
        return entry.token

    def update(self, task_id: str, credentials: RoleCredentials) -> None:
        if task_id in self._tasks:
            self._tasks[task_id].credentials = credentials

    def remove(self, task_id: str) -> None:
        self._tasks.pop(task_id, None)

    def authorized(self, task_id: str, presented: str) -> TaskEntry | None:
        entry = self._tasks.get(task_id)
        expected = entry.token if entry is not None else _NO_TOKEN
        matches = hmac.compare_digest(presented.encode(), expected.encode())
        return entry if matches and entry is not None else None


def credentials_environment(base_url: str, task_id: str, token: str) -> dict[str, str]:
    """The two variables a container of a task with a task role gets."""
    return {FULL_URI_ENV: f"{base_url}/v2/credentials/{task_id}", TOKEN_ENV: token}


def credentials_app(tasks: TaskCredentials) -> Starlette:
    async def task_credentials(request: Request) -> Response:
        presented = request.headers.get("authorization")
        if not presented:
            return PlainTextResponse("Unauthorized", 401)
        entry = tasks.authorized(request.path_params["task_id"], presented)
        if entry is None:
            return PlainTextResponse("Forbidden", 403)
        if entry.credentials is None:
            return PlainTextResponse("Not Found: no task role credentials yet", 404)
        current = entry.credentials
        body = {
            "AccessKeyId": current.access_key_id,
            "SecretAccessKey": current.secret_access_key,
            "Token": current.token,
            "Expiration": current.expiration_text,
            "RoleArn": current.role_arn,
        }
        return Response(json.dumps(body), media_type="application/json")

    return Starlette(routes=[Route("/v2/credentials/{task_id}", task_credentials, methods=["GET"])])
