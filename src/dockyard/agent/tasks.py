"""Running one task on the node: pull with the right role, create and start its containers, report
RUNNING, wait, ship ``awslogs`` output, report STOPPED with the exit codes, clean up.

Pull credentials (contract §4): the execution role's whenever the task definition names one (always on
FARGATE), else the instance role's. A failed pull reports STOPPED with ``CannotPullContainerError:
<message>`` and starts nothing; a failed create or start, ``CannotStartContainerError: <message>``.
The task stops when an essential container exits (the others get ``docker stop``) or when the server's
desired status becomes STOPPED. Logs go out with the execution role's credentials; on EC2 a task without
an execution role uses the instance role's, as ECS does.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from dockyard.agent.aws import EcsApi, Endpoints, PullCredentialsError, logs_client, registry_auth
from dockyard.agent.containers import container_name, create_body
from dockyard.agent.creds import TOKEN_ENV, TaskCredentials, credentials_environment
from dockyard.agent.docker import ContainerInfo, DockerClient, DockerError, ImageRef
from dockyard.agent.imds import InstanceCredentials
from dockyard.agent.logship import AwsLogsTarget, LogShipper
from dockyard.agent.model import (
    CONTAINER_NAME_LABEL,
    DIGEST_LABEL,
    ESSENTIAL_LABEL,
    PENDING,
    RUNNING,
    STOP_TIMEOUT_LABEL,
    STOPPED,
    ContainerSpec,
    RoleCredentials,
    TaskSpec,
    TaskStates,
    task_id,
)

log = logging.getLogger("dockyard.agent")
ESSENTIAL_EXITED = "Essential container in task exited"
DEFAULT_STOP_TIMEOUT = 30


@dataclass
class TaskContext:
    """What every task runner shares with the agent."""

    cluster: str
    docker: DockerClient
    ecs: EcsApi
    endpoints: Endpoints
    states: TaskStates
    task_credentials: TaskCredentials
    credentials_url: str  # the container credentials endpoint, e.g. http://127.0.0.1:51679
    instance: InstanceCredentials
    log_flush_seconds: float = 1.0


@dataclass
class Container:
    """One of the task's Docker containers."""

    name: str
    id: str
    essential: bool
    digest: str | None
    stop_timeout: int = DEFAULT_STOP_TIMEOUT
    spec: ContainerSpec | None = None  # None for an adopted container
    exit_code: int | None = None
    exited: bool = False

    def wire(self, status: str | None = None) -> dict[str, Any]:
        entry: dict[str, Any] = {"containerName": self.name, "runtimeId": self.id}
        entry["status"] = status or (STOPPED if self.exited else RUNNING)
        if self.exit_code is not None:
            entry["exitCode"] = self.exit_code
        if self.digest:
            entry["imageDigest"] = self.digest
        return entry


class StartFailed(Exception):
    """The task could not start; the message is its stopped reason."""


def _now() -> datetime:
    return datetime.now(UTC)


class TaskRunner:
    """One task: from the poll entry that placed it (``run``), or from its containers found at start
    (``adopt``)."""

    def __init__(self, context: TaskContext, arn: str, spec: TaskSpec | None = None) -> None:
        self.context = context
        self.arn = arn
        self.spec = spec
        self._stop = asyncio.Event()
        self._logs_clients: dict[RoleCredentials, Any] = {}

    @property
    def task_id(self) -> str:
        return task_id(self.arn)

    def update(self, spec: TaskSpec) -> None:
        """The server sent the task again: fresh credentials, or a new desired status (a stop comes
        without credentials: the ones held stay, to ship the last logs)."""
        if self.spec is not None:
            spec = dataclasses.replace(
                spec,
                execution_credentials=spec.execution_credentials or self.spec.execution_credentials,
                task_credentials=spec.task_credentials or self.spec.task_credentials,
            )
        self.spec = spec
        if spec.task_credentials is not None:
            self.context.task_credentials.update(self.task_id, spec.task_credentials)
        if spec.desired_status == STOPPED:
            self._stop.set()

    # -- starting ------------------------------------------------------------------------------------

    async def run(self) -> None:
        assert self.spec is not None, "run() needs the task's poll entry"
        context, pull_started = self.context, _now()
        context.states.set(self.arn, PENDING)
        await context.ecs.submit_task_state(
            cluster=context.cluster, task=self.arn, status=PENDING, pullStartedAt=pull_started
        )
        try:
            digests = await self._pull_all(self.spec)
        except StartFailed as failed:
            await self._report_stopped(str(failed), [], pullStartedAt=pull_started, pullStoppedAt=_now())
            return
        pulled = {"pullStartedAt": pull_started, "pullStoppedAt": _now()}
        if self._stop.is_set():
            await self._report_stopped(None, [], **pulled)
            return
        containers: list[Container] = []
        try:
            await self._create_and_start(self.spec, digests, containers)
        except StartFailed as failed:
            await self._stop_containers(containers)
            await self._report_stopped(str(failed), containers, **pulled)
            return
        await self._report(RUNNING, containers, **pulled)
        await self.supervise(containers)

    def _pull_credentials(self, spec: TaskSpec) -> RoleCredentials | None:
        if spec.pulls_with_execution_role:
            return spec.execution_credentials
        return self.context.instance.current

    async def _pull_all(self, spec: TaskSpec) -> dict[str, str | None]:
        """Pull each image once; the manifest digest each was pulled by."""
        digests: dict[str, str | None] = {}
        for image in dict.fromkeys(c.image for c in spec.containers()):
            ref = ImageRef.parse(image)
            try:
                auth = await registry_auth(ref, self._pull_credentials(spec), self.context.endpoints)
                await self.context.docker.pull(ref, auth)
                digests[image] = await self.context.docker.image_digest(ref)
            except PullCredentialsError as exc:
                raise StartFailed(f"CannotPullContainerError: {exc}") from None
            except DockerError as exc:
                raise StartFailed(f"CannotPullContainerError: {exc.message}") from None
            log.info("image pulled", extra={"task": self.arn, "image": image, "digest": digests[image]})
        return digests

    def _credentials_env(self, spec: TaskSpec) -> dict[str, str]:
        if not spec.definition.get("taskRoleArn") and spec.task_credentials is None:
            return {}
        token = self.context.task_credentials.register(self.task_id)
        if spec.task_credentials is not None:
            self.context.task_credentials.update(self.task_id, spec.task_credentials)
        return credentials_environment(self.context.credentials_url, self.task_id, token)

    async def _create_and_start(
        self, spec: TaskSpec, digests: dict[str, str | None], created: list[Container]
    ) -> None:
        """Create every container, then start them in order; ``created`` fills as they are made."""
        extra_env = self._credentials_env(spec)
        docker = self.context.docker
        try:
            for wanted in spec.containers():
                digest = digests.get(wanted.image)
                body = create_body(
                    spec, wanted, cluster=self.context.cluster, digest=digest, extra_env=extra_env
                )
                runtime_id = await docker.create_container(container_name(spec, wanted), body)
                timeout = wanted.stop_timeout or DEFAULT_STOP_TIMEOUT
                created.append(Container(wanted.name, runtime_id, wanted.essential, digest, timeout, wanted))
            for container in created:
                await docker.start(container.id)
        except DockerError as exc:
            raise StartFailed(f"CannotStartContainerError: {exc.message}") from None

    # -- adopting ------------------------------------------------------------------------------------

    def adopt(self, found: Sequence[ContainerInfo]) -> list[Container]:
        """Take over this task's containers found at agent start: its state (RUNNING, for the next
        poll) and token are known at once; ``supervise`` the returned containers like a started
        task's (already exited ones make it report STOPPED at once)."""
        containers = [
            Container(
                name=info.labels.get(CONTAINER_NAME_LABEL, info.id),
                id=info.id,
                essential=info.labels.get(ESSENTIAL_LABEL, "true") != "false",
                digest=info.labels.get(DIGEST_LABEL),
                stop_timeout=int(info.labels.get(STOP_TIMEOUT_LABEL) or DEFAULT_STOP_TIMEOUT),
            )
            for info in found
        ]
        token = next((info.env[TOKEN_ENV] for info in found if info.env.get(TOKEN_ENV)), None)
        if token is not None:
            self.context.task_credentials.register(self.task_id, token)
        self.context.states.set(self.arn, RUNNING, _digests(containers))
        return containers

    # -- running and stopping -----------------------------------------------------------------------

    async def supervise(self, containers: list[Container]) -> None:
        """Wait until every container has exited; the first essential exit (or a stop request) stops
        the others. Then report STOPPED and remove the containers."""
        shippers = [asyncio.create_task(self._ship_logs(c)) for c in containers if c.spec and c.spec.awslogs]
        waits = {asyncio.create_task(self._wait(c)): c for c in containers}
        stop_requested = asyncio.create_task(self._stop_request())
        reason: str | None = None
        stopping = False
        try:
            while waits:
                watched = set(waits) | (set() if stopping else {stop_requested})
                done, _ = await asyncio.wait(watched, return_when=asyncio.FIRST_COMPLETED)
                if stop_requested in done and not stopping:
                    stopping = True
                    await self._stop_containers(containers)
                for finished in done & set(waits):
                    exited = waits.pop(finished)
                    if exited.essential and not stopping:
                        stopping, reason = True, ESSENTIAL_EXITED
                        await self._stop_containers(containers)
                    elif not stopping:
                        await self._report_container(exited)
        except BaseException:  # cancelled (the agent stops): the containers run on; waits and logs end
            for child in (*waits, *shippers):
                child.cancel()
            raise
        finally:
            stop_requested.cancel()
        await asyncio.gather(*shippers)
        await self._report_stopped(reason, containers, executionStoppedAt=_now())

    async def _stop_request(self) -> None:
        await self._stop.wait()

    async def _wait(self, container: Container) -> None:
        try:
            container.exit_code = await self.context.docker.wait(container.id)
        except DockerError as exc:  # removed behind the agent's back, or the daemon went away
            log.warning("container wait failed", extra={"task": self.arn, "error": exc.message})
        container.exited = True

    async def _stop_containers(self, containers: Sequence[Container]) -> None:
        async def stop(container: Container) -> None:
            try:
                await self.context.docker.stop(container.id, container.stop_timeout)
            except DockerError as exc:
                log.warning("container stop failed", extra={"task": self.arn, "error": exc.message})

        await asyncio.gather(*(stop(c) for c in containers if not c.exited))

    async def _ship_logs(self, container: Container) -> None:
        assert container.spec is not None
        assert container.spec.awslogs is not None
        target = AwsLogsTarget.of(container.spec.awslogs, container.name, self.task_id, container.id)
        if target is None:
            return
        shipper = LogShipper(target, self._logs_client, flush_seconds=self.context.log_flush_seconds)
        shipped = await shipper.ship(self.context.docker.logs(container.id, follow=True))
        log.info(
            "container logs shipped", extra={"task": self.arn, "stream": target.stream, "events": shipped}
        )

    def _logs_client(self) -> Any | None:
        """A logs client for the execution role's current credentials (the instance role's on EC2
        without one); clients are cached per credentials."""
        spec = self.spec
        credentials = spec.execution_credentials if spec is not None else None
        if credentials is None and (spec is None or spec.launch_type != "FARGATE"):
            credentials = self.context.instance.current
        if credentials is None:
            return None
        if credentials not in self._logs_clients:
            self._logs_clients = {credentials: logs_client(credentials, self.context.endpoints)}
        return self._logs_clients[credentials]

    # -- reporting -----------------------------------------------------------------------------------

    async def _report(self, status: str, containers: Sequence[Container], **times: datetime) -> None:
        context = self.context
        context.states.set(self.arn, status, _digests(containers))
        wire = [c.wire() for c in containers]
        await context.ecs.submit_task_state(
            cluster=context.cluster, task=self.arn, status=status, containers=wire, **times
        )

    async def _report_container(self, container: Container) -> None:
        await self.context.ecs.submit_container_state(
            cluster=self.context.cluster,
            task=self.arn,
            containerName=container.name,
            runtimeId=container.id,
            status=STOPPED,
            exitCode=container.exit_code,
        )

    async def _report_stopped(
        self, reason: str | None, containers: Sequence[Container], **times: datetime
    ) -> None:
        context = self.context
        await context.ecs.submit_task_state(
            cluster=context.cluster,
            task=self.arn,
            status=STOPPED,
            reason=reason,
            containers=[c.wire(STOPPED) for c in containers],
            **times,
        )
        context.states.set(self.arn, STOPPED, _digests(containers))
        context.task_credentials.remove(self.task_id)
        for container in containers:
            try:
                await context.docker.remove(container.id)
            except DockerError as exc:
                log.warning("container not removed", extra={"task": self.arn, "error": exc.message})
        log.info("task stopped", extra={"task": self.arn, "reason": reason})


def _digests(containers: Sequence[Container]) -> list[str]:
    return list(dict.fromkeys(c.digest for c in containers if c.digest))
