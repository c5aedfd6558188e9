"""The agent's life: start the two credential endpoints, register the node (contract §1), adopt what
is already running (``reconcile``), then long-poll the server (§2) and act on each task it sends.

The container instance's identity is ``instanceId`` in ``<state dir>/agent.json``: chosen once
(``i-<16 hex>``) and sent in every registration, so a restarted agent is the same container instance.
A poll that fails (the server down, a 5xx) is retried with a doubling delay of at most 30 seconds.
Stopping the agent leaves the containers running; the next start adopts them.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import secrets
from collections import deque
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from botocore.exceptions import BotoCoreError  # type: ignore[import-untyped]

from dockyard.agent.aws import EcsApi, Endpoints, PollClient, PollError
from dockyard.agent.creds import TaskCredentials, credentials_app
from dockyard.agent.docker import DockerClient
from dockyard.agent.imds import InstanceCredentials, imds_app
from dockyard.agent.model import PENDING, STOPPED, RoleCredentials, TaskSpec, TaskStates
from dockyard.agent.reconcile import reconcile
from dockyard.agent.serving import LoopbackServer
from dockyard.agent.tasks import TaskContext, TaskRunner

log = logging.getLogger("dockyard.agent")
AGENT_VERSION = "dockyard-agent/0.1.0"
MAX_BACKOFF = 30.0
REMEMBERED_TASKS = 10_000


@dataclass(frozen=True)
class AgentConfig:
    cluster: str
    endpoint: str
    region: str
    instance_role_arn: str
    capacity: str  # EC2 or FARGATE
    cpu: int  # CPU units, 1024 per core
    memory: int  # MiB
    state_dir: Path
    docker_host: str = "unix:///var/run/docker.sock"
    imds_port: int = 51680
    credentials_port: int = 51679
    wait_seconds: int = 20
    log_flush_seconds: float = 1.0
    ecr_endpoint: str | None = None  # default: endpoint (a test points ECR elsewhere)
    logs_endpoint: str | None = None

    def endpoints(self) -> Endpoints:
        ecr, logs = self.ecr_endpoint or self.endpoint, self.logs_endpoint or self.endpoint
        return Endpoints(self.endpoint, ecr, logs, self.region)


def instance_id(state_dir: Path) -> str:
    """The node's persistent instance id (created on first use)."""
    path = state_dir / "agent.json"
    if path.exists():
        return str(json.loads(path.read_text())["instanceId"])
    state_dir.mkdir(parents=True, exist_ok=True)
    chosen = f"i-{secrets.token_hex(8)}"
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps({"instanceId": chosen}) + "\n")
    temporary.replace(path)
    return chosen


class Agent:
    """Registration, reconcile and the poll loop over a ready ``TaskContext``."""

    def __init__(self, config: AgentConfig, context: TaskContext, session: Any) -> None:
        self.config = config
        self.context = context
        self._session = session
        self.runners: dict[str, TaskRunner] = {}
        self.container_instance_arn: str | None = None
        self._poll: PollClient | None = None
        self._finished: deque[str] = deque(maxlen=REMEMBERED_TASKS)
        self._background: set[asyncio.Task[None]] = set()

    async def register(self) -> str:
        """DiscoverPollEndpoint, then RegisterContainerInstance; the container instance ARN."""
        config, ecs = self.config, self.context.ecs
        poll_base = await ecs.discover_poll_endpoint(config.cluster)
        document = {"instanceRoleArn": config.instance_role_arn, "instanceId": instance_id(config.state_dir)}
        instance = await ecs.register(
            cluster=config.cluster,
            totalResources=[
                {"name": "CPU", "type": "INTEGER", "integerValue": config.cpu},
                {"name": "MEMORY", "type": "INTEGER", "integerValue": config.memory},
            ],
            attributes=[{"name": "dockyard.capacity", "value": config.capacity}],
            instanceIdentityDocument=json.dumps(document),
            versionInfo={"agentVersion": AGENT_VERSION},
        )
        self.container_instance_arn = str(instance["containerInstanceArn"])
        if self._poll is not None:
            await self._poll.close()
        self._poll = PollClient(poll_base, self._session, config.region)
        log.info("registered", extra={"containerInstanceArn": self.container_instance_arn, "poll": poll_base})
        return self.container_instance_arn

    async def adopt_existing(self) -> None:
        """Adopt the containers found on the node (before the first poll, so it reports them)."""
        for runner, found in await reconcile(self.context):
            self.runners[runner.arn] = runner
            self._spawn(runner.arn, runner.supervise(runner.adopt(found)))

    async def poll_once(self) -> None:
        """One poll: report the node's tasks, take the instance credentials, act on the tasks sent."""
        if self._poll is None or self.container_instance_arn is None:
            raise RuntimeError("register() first")
        request = {
            "cluster": self.config.cluster,
            "containerInstanceArn": self.container_instance_arn,
            "tasks": self.context.states.report(),
            "waitSeconds": self.config.wait_seconds,
        }
        answer = await self._poll.poll(request)
        instance = RoleCredentials.from_wire(answer.get("instanceCredentials"))
        if instance is not None:
            role = instance.role_arn or self.config.instance_role_arn
            self.context.instance.update(dataclasses.replace(instance, role_arn=role))
        for entry in answer.get("tasks") or []:
            await self.dispatch(TaskSpec.from_wire(entry))

    async def dispatch(self, spec: TaskSpec) -> None:
        """A task the server sent: update the one running, start a new one, or confirm a stop."""
        runner = self.runners.get(spec.arn)
        if runner is not None:
            runner.update(spec)
        elif spec.arn in self._finished:
            return  # already stopped and reported: never start a task twice
        elif spec.desired_status == STOPPED:
            await self._confirm_stopped(spec.arn)
        else:
            runner = self.runners[spec.arn] = TaskRunner(self.context, spec.arn, spec)
            self.context.states.set(spec.arn, PENDING)  # the next poll says so, even before run() starts
            self._spawn(spec.arn, runner.run())

    async def _confirm_stopped(self, arn: str) -> None:
        """A task stopped before this node started it (or that it forgot): say it is STOPPED."""
        self._finished.append(arn)
        await self.context.ecs.submit_task_state(cluster=self.config.cluster, task=arn, status=STOPPED)
        self.context.states.set(arn, STOPPED)

    def _spawn(self, arn: str, work: Coroutine[Any, Any, None]) -> None:
        async def guarded() -> None:
            try:
                await work
            except Exception:
                log.exception("task runner failed", extra={"task": arn})
            finally:
                self.runners.pop(arn, None)
                self._finished.append(arn)

        task = asyncio.create_task(guarded())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def run(self) -> None:
        """Poll until cancelled."""
        delay = 1.0
        while True:
            try:
                await self.poll_once()
                delay = 1.0
            except (PollError, httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
                log.warning("poll failed", extra={"error": str(exc), "retry_in": delay})
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_BACKOFF)

    async def wait_idle(self) -> None:
        """Wait for every task runner to finish (tests; a node's tasks normally outlive nothing)."""
        while self._background:
            await asyncio.gather(*list(self._background))

    async def close(self) -> None:
        """Stop supervising (the containers keep running) and close the poll client."""
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        if self._poll is not None:
            await self._poll.close()


@contextlib.asynccontextmanager
async def running_agent(config: AgentConfig, session: Any) -> AsyncIterator[Agent]:
    """The agent with its Docker client and both credential endpoints up; all closed on exit."""
    instance, task_credentials = InstanceCredentials(), TaskCredentials()
    imds = LoopbackServer(imds_app(instance), config.imds_port)
    creds = LoopbackServer(credentials_app(task_credentials), config.credentials_port)
    docker = DockerClient(config.docker_host)
    agent: Agent | None = None
    try:
        await imds.start()
        await creds.start()
        await docker.negotiate()
        endpoints = config.endpoints()
        context = TaskContext(
            cluster=config.cluster,
            docker=docker,
            ecs=EcsApi(session, endpoints),
            endpoints=endpoints,
            states=TaskStates(),
            task_credentials=task_credentials,
            credentials_url=creds.url,
            instance=instance,
            log_flush_seconds=config.log_flush_seconds,
        )
        agent = Agent(config, context, session)
        log.info("agent started", extra={"imds": imds.url, "credentials": creds.url})
        yield agent
    finally:
        if agent is not None:
            await agent.close()
        await docker.close()
        await creds.stop()
        await imds.stop()


async def serve(config: AgentConfig, session: Any) -> None:
    """``dockyard agent``: run until cancelled."""
    async with running_agent(config, session) as agent:
        delay = 1.0
        while True:
            try:
                await agent.register()
                break
            except BotoCoreError as exc:  # cannot reach the server yet; a refusal (ClientError) is final
                log.warning("registration failed", extra={"error": str(exc), "retry_in": delay})
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_BACKOFF)
        await agent.adopt_existing()
        await agent.run()
