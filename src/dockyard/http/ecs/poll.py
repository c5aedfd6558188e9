"""``POST /dockyard/ecs/v1/poll``: the node agent's long poll (contract: ``docs/ecs-agent-protocol.md`` §2).

On AWS, ECS delivers tasks to its agent over a private websocket; Dockyard documents this HTTP long poll in
its place. It is signed with SigV4 for ``ecs`` like the API, authorised as ``ecs:Poll`` on the container
instance's ARN, and answers JSON: ``instanceCredentials`` (when due, else null) and ``tasks``, each with its
task definition and overrides in the shapes of botocore's ``ecs`` model (timestamps as epoch seconds, as
the API sends them). Errors are AWS JSON errors (``{"__type", "message"}``) with the API's codes.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from dockyard.domain.ecs import sync
from dockyard.domain.ecs.arns import cluster_name, scoped_id
from dockyard.domain.ecs.records import InstanceRecord
from dockyard.domain.ecs.taskdef import roles
from dockyard.http.aws.errors import (
    JSON_FAULTS,
    AwsError,
    Fault,
    ProtocolError,
    SerializationError,
    fault_error,
)
from dockyard.http.aws.json_protocol import encode, error_body
from dockyard.http.aws.model import service_model
from dockyard.http.ecr.auth import EcrCaller
from dockyard.http.ecs.errors import ecs_error
from dockyard.http.ecs.handlers import EcsContext
from dockyard.http.ecs.shapes import credentials
from dockyard.services.ecs_agent import PollAnswer, PollTask

POLL_PATH = "/dockyard/ecs/v1/poll"
MAX_BODY = 1024 * 1024
_MODEL = service_model("ecs").botocore
_TASK_DEFINITION = _MODEL.shape_for("TaskDefinition")
_OVERRIDES = _MODEL.shape_for("TaskOverride")


class ReportedTask(BaseModel):
    model_config = ConfigDict(extra="ignore")

    taskArn: str = Field(min_length=1, max_length=2048)
    lastStatus: str = Field(max_length=32)
    imageDigests: list[str] = Field(default_factory=list, max_length=100)


class PollRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    cluster: str | None = Field(None, max_length=2048)
    containerInstanceArn: str = Field(min_length=1, max_length=2048)
    tasks: list[ReportedTask] = Field(default_factory=list, max_length=1000)
    waitSeconds: int | None = Field(None, ge=0)


class PollEndpoint:
    def __init__(
        self, ctx: EcsContext, authenticate: Callable[[Request, bytes], Awaitable[EcrCaller]]
    ) -> None:
        self.ctx = ctx
        self.authenticate = authenticate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = await self.handle(Request(scope, receive))
        await response(scope, receive, send)

    async def handle(self, request: Request) -> Response:
        try:
            return await self._serve(request)
        except ProtocolError as exc:
            error = fault_error(exc, JSON_FAULTS)
        except AwsError as exc:
            error = exc
        except Exception as exc:
            error = ecs_error(exc)
        status = error.status or (400 if error.sender_fault else 500)
        headers = {"X-Amzn-ErrorType": error.code}
        return Response(error_body(error), status, headers, media_type="application/json")

    async def _serve(self, request: Request) -> Response:
        body = await _read(request)
        caller = await self.authenticate(request, body)
        poll = _parse(body)
        arns, name = self.ctx.shapes.arns(caller.account), cluster_name(poll.cluster, caller.account)
        named, instance_id = scoped_id(poll.containerInstanceArn, "container-instance", caller.account)
        arn = arns.container_instance(named or name, instance_id)
        keys = {"ecs:cluster": arns.cluster(name)}
        await self.ctx.access.require(caller.identity, "ecs:Poll", arn, keys=keys)
        cluster = await self.ctx.clusters.active(caller.account, poll.cluster)
        instance = await self.ctx.instances.get(cluster, poll.containerInstanceArn)
        reports = {}
        for task in poll.tasks:
            _, task_id = scoped_id(task.taskArn, "task", caller.account)
            reports[task_id] = sync.Reported(task_id, task.lastStatus, tuple(task.imageDigests))
        answer = await self.ctx.agent.poll(instance, reports, self.ctx.agent.wait_seconds(poll.waitSeconds))
        return JSONResponse(self.answer(instance, answer))

    def answer(self, instance: InstanceRecord, answer: PollAnswer) -> dict[str, Any]:
        return {
            "instanceCredentials": credentials(answer.instance, instance.role_arn),
            "tasks": [self.task(found) for found in answer.tasks],
        }

    def task(self, found: PollTask) -> dict[str, Any]:
        shapes, task = self.ctx.shapes, found.task
        definition = shapes.task_definition(found.definition)
        task_roles = roles(found.definition.definition, task.overrides)
        return {
            "taskArn": shapes.arns(task.account_id).task(task.cluster_name, task.task_id),
            "desiredStatus": task.desired_status,
            "launchType": task.launch_type,
            "taskDefinition": encode(_TASK_DEFINITION, definition, "taskDefinition"),
            "overrides": encode(_OVERRIDES, shapes.overrides(task), "overrides"),
            "executionRoleCredentials": credentials(found.execution, task_roles.get("executionRoleArn")),
            "taskRoleCredentials": credentials(found.role, task_roles.get("taskRoleArn")),
        }


async def _read(request: Request) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise ProtocolError("Request body too large", Fault.REQUEST_TOO_LARGE)
        chunks.append(chunk)
    return b"".join(chunks)


def _parse(body: bytes) -> PollRequest:
    try:
        document = json.loads(body or b"{}")
    except ValueError as exc:
        raise SerializationError("Request body is not valid JSON") from exc
    try:
        return PollRequest.model_validate(document)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise AwsError("InvalidParameterException", f"Invalid poll request: {problems}", 400) from None
