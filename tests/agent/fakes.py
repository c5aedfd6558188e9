"""Stand-ins for the agent's tests: a small server speaking the agent contract (ECS JSON operations, the
long poll, ECR's GetAuthorizationToken and CloudWatch Logs, all on one port as Dockyard serves them), and
an in-memory Docker Engine with the ``DockerClient`` methods the task runner calls."""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import re
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from dockyard.agent.docker import ContainerInfo, DockerError, ImageRef, PullError, RegistryAuth
from dockyard.agent.docker_frames import LogLine

ECS = "AmazonEC2ContainerServiceV20141113."
ECR = "AmazonEC2ContainerRegistry_V20150921."
LOGS = "Logs_20140328."
ACCOUNT = "123456789012"
CREDENTIAL = re.compile(r"Credential=([^/]+)/\d{8}/([^/]+)/([^/]+)/aws4_request")


def role_credentials(name: str, key: str, *, hours: float = 1.0) -> dict[str, str]:
    """A wire credentials object for role ``name`` (contract §2)."""
    expiration = (datetime.now(UTC) + timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "AccessKeyId": key,
        "SecretAccessKey": f"secret-of-{key}",
        "Token": f"token-of-{key}",
        "Expiration": expiration,
        "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/{name}",
    }


def signer(request: Request) -> tuple[str, str]:
    """(access key id, service) of a SigV4 ``Authorization`` header."""
    match = CREDENTIAL.search(request.headers.get("authorization", ""))
    assert match, f"unsigned request: {request.url}"
    return match.group(1), match.group(3)


@dataclass
class FakeServer:
    """Records every call; ``answers`` feeds the poll (one response per poll, else an empty one)."""

    url: str = ""
    calls: list[tuple[str, dict[str, Any], str]] = field(default_factory=list)  # (operation, body, key)
    polls: list[dict[str, Any]] = field(default_factory=list)
    answers: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue)
    instances: dict[str, str] = field(default_factory=dict)  # instanceId -> ARN
    events: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)
    groups: set[str] = field(default_factory=set)
    refuse: dict[str, tuple[str, str]] = field(default_factory=dict)  # operation -> (code, message)
    poll_error: tuple[int, dict[str, Any]] | None = None  # the poll's answer instead of the queue's

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/", self._operation, methods=["POST"]),
                Route("/dockyard/ecs/v1/poll", self._poll, methods=["POST"]),
            ]
        )

    def called(self, operation: str) -> list[dict[str, Any]]:
        return [body for name, body, _ in self.calls if name == operation]

    def keys(self, operation: str) -> list[str]:
        return [key for name, _, key in self.calls if name == operation]

    async def _poll(self, request: Request) -> Response:
        _, service = signer(request)
        assert service == "ecs"
        body = await request.json()
        self.polls.append(body)
        if self.poll_error is not None:
            return JSONResponse(self.poll_error[1], self.poll_error[0])
        try:
            answer = await asyncio.wait_for(self.answers.get(), timeout=min(body["waitSeconds"], 0.2))
        except TimeoutError:
            answer = {"tasks": []}
        return JSONResponse(answer)

    async def _operation(self, request: Request) -> Response:
        target = request.headers["x-amz-target"]
        key, _ = signer(request)
        body = json.loads(await request.body() or b"{}")
        operation = target.split(".", 1)[1]
        self.calls.append((operation, body, key))
        if operation in self.refuse:
            code, message = self.refuse[operation]
            return _json({"__type": code, "message": message}, 400)
        handler = getattr(self, f"_{operation}", None)
        assert handler is not None, f"the fake does not serve {target}"
        try:
            answer: dict[str, Any] = handler(body, key)
        except FakeError as exc:
            return _json({"__type": exc.code, "message": str(exc)}, 400)
        return _json(answer)

    # -- ECS -------------------------------------------------------------------------------------------

    def _DiscoverPollEndpoint(self, body: dict[str, Any], key: str) -> dict[str, Any]:
        return {"endpoint": self.url}

    def _RegisterContainerInstance(self, body: dict[str, Any], key: str) -> dict[str, Any]:
        document = json.loads(body["instanceIdentityDocument"])
        arn = self.instances.setdefault(
            document["instanceId"],
            f"arn:aws:ecs:us-east-1:{ACCOUNT}:container-instance/{body['cluster']}/{len(self.instances)}",
        )
        return {"containerInstance": {"containerInstanceArn": arn, "status": "ACTIVE"}}

    def _SubmitTaskStateChange(self, body: dict[str, Any], key: str) -> dict[str, Any]:
        return {"acknowledgment": "ACK"}

    def _SubmitContainerStateChange(self, body: dict[str, Any], key: str) -> dict[str, Any]:
        return {"acknowledgment": "ACK"}

    # -- ECR and Logs --------------------------------------------------------------------------------------

    def _GetAuthorizationToken(self, body: dict[str, Any], key: str) -> dict[str, Any]:
        token = base64.b64encode(f"AWS:password-for-{key}".encode()).decode()
        account = (body.get("registryIds") or [ACCOUNT])[0]
        data = {"authorizationToken": token, "expiresAt": 2e9, "proxyEndpoint": f"https://{account}.dkr.test"}
        return {"authorizationData": [data]}

    def _CreateLogGroup(self, body: dict[str, Any], key: str) -> dict[str, Any]:
        self.groups.add(body["logGroupName"])
        return {}

    def _CreateLogStream(self, body: dict[str, Any], key: str) -> dict[str, Any]:
        if body["logGroupName"] not in self.groups:
            raise FakeError("ResourceNotFoundException", "The specified log group does not exist.")
        self.events.setdefault((body["logGroupName"], body["logStreamName"]), [])
        return {}

    def _PutLogEvents(self, body: dict[str, Any], key: str) -> dict[str, Any]:
        stamps = [event["timestamp"] for event in body["logEvents"]]
        assert stamps == sorted(stamps), "PutLogEvents takes events in chronological order"
        self.events[(body["logGroupName"], body["logStreamName"])].extend(body["logEvents"])
        return {}


class FakeError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _json(body: Mapping[str, Any], status: int = 200) -> Response:
    return Response(json.dumps(body), status, media_type="application/x-amz-json-1.1")


# -- Docker ------------------------------------------------------------------------------------------------


@dataclass
class FakeContainer:
    id: str
    name: str
    body: dict[str, Any]
    started: bool = False
    exit_code: int | None = None
    exited: asyncio.Event = field(default_factory=asyncio.Event)
    lines: list[LogLine] = field(default_factory=list)
    removed: bool = False


class FakeDocker:
    """The ``DockerClient`` calls of the task runner, in memory. ``digests`` are the images a pull finds,
    ``refused`` the images whose pull fails (with that message), ``logs_of`` a container's output by
    image; ``exit(name, code)`` ends a container as its process would."""

    def __init__(self) -> None:
        self.digests: dict[str, str] = {}
        self.refused: dict[str, str] = {}
        self.unstartable: dict[str, str] = {}
        self.logs_of: dict[str, list[str]] = {}
        self.pulls: list[tuple[str, RegistryAuth | None]] = []
        self.containers: dict[str, FakeContainer] = {}
        self.stopped: list[tuple[str, int]] = []
        self._ids = itertools.count(1)

    async def pull(self, ref: ImageRef, auth: RegistryAuth | None = None) -> None:
        self.pulls.append((str(ref), auth))
        if str(ref) in self.refused:
            raise PullError(500, self.refused[str(ref)])

    async def image_digest(self, ref: ImageRef) -> str | None:
        return self.digests.get(str(ref))

    async def create_container(self, name: str, body: Mapping[str, Any]) -> str:
        runtime_id = f"{next(self._ids):064x}"
        self.containers[runtime_id] = FakeContainer(runtime_id, name, dict(body))
        return runtime_id

    async def start(self, container: str) -> None:
        found = self.containers[container]
        image = found.body["Image"]
        if image in self.unstartable:
            raise DockerError(500, self.unstartable[image])
        found.started = True
        when = datetime(2024, 5, 1, tzinfo=UTC)
        found.lines = [
            LogLine("stdout", when + timedelta(seconds=i), text)
            for i, text in enumerate(self.logs_of.get(image, []))
        ]

    def by_name(self, container: str) -> FakeContainer:
        return next(c for c in self.containers.values() if c.body["Labels"][NAME] == container)

    def exit(self, container: str, code: int) -> None:
        found = self.by_name(container)
        found.exit_code = code
        found.exited.set()

    async def wait(self, container: str) -> int:
        found = self.containers[container]
        await found.exited.wait()
        assert found.exit_code is not None
        return found.exit_code

    async def stop(self, container: str, grace: int) -> None:
        found = self.containers[container]
        self.stopped.append((found.body["Labels"][NAME], grace))
        if not found.exited.is_set():
            found.exit_code = 143
            found.exited.set()

    async def remove(self, container: str) -> None:
        self.containers[container].removed = True

    async def inspect(self, container: str) -> ContainerInfo:
        found = self.containers[container]
        env = dict(item.partition("=")[::2] for item in found.body.get("Env", []))
        running = found.started and not found.exited.is_set()
        return ContainerInfo(found.id, found.body["Labels"], env, running, found.exit_code or 0)

    async def list_containers(self, labels: Mapping[str, str]) -> list[str]:
        return [
            c.id
            for c in self.containers.values()
            if not c.removed and all(c.body["Labels"].get(k) == v for k, v in labels.items())
        ]

    async def logs(self, container: str, *, follow: bool = True) -> AsyncIterator[LogLine]:
        """All the output comes as the container exits: the last lines reach a shipper after the exit."""
        found = self.containers[container]
        if follow:
            await found.exited.wait()
            await asyncio.sleep(0.05)  # Docker's stream ends a moment after the exit
        for line in found.lines:
            yield line


NAME = "com.amazonaws.ecs.container-name"
