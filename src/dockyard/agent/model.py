"""What the agent knows about tasks: the server's task entries (poll response, contract §2), the role
credentials they carry, and the state the agent reports back in each poll.

Credentials keep their secrets out of ``repr`` so that a stray log line or traceback never shows them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

TASK_ARN_LABEL = "com.amazonaws.ecs.task-arn"
CONTAINER_NAME_LABEL = "com.amazonaws.ecs.container-name"
CLUSTER_LABEL = "com.amazonaws.ecs.cluster"
FAMILY_LABEL = "com.amazonaws.ecs.task-definition-family"
REVISION_LABEL = "com.amazonaws.ecs.task-definition-version"
ESSENTIAL_LABEL = "dockyard.agent.essential"
DIGEST_LABEL = "dockyard.agent.image-digest"
STOP_TIMEOUT_LABEL = "dockyard.agent.stop-timeout"

PENDING, RUNNING, STOPPED = "PENDING", "RUNNING", "STOPPED"
IMDS_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"  # the form botocore's instance metadata fetcher parses


def parse_time(value: object) -> datetime:
    """An ISO 8601 string (``Z`` or an offset) or epoch seconds, as an aware UTC datetime."""
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    if not isinstance(value, str):
        raise ValueError(f"not a time: {value!r}")
    parsed = datetime.fromisoformat(value)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


@dataclass(frozen=True)
class RoleCredentials:
    """One role's temporary credentials, as the poll response carries them."""

    access_key_id: str
    secret_access_key: str = field(repr=False)
    token: str = field(repr=False)
    expiration: datetime
    role_arn: str

    @classmethod
    def from_wire(cls, data: object) -> RoleCredentials | None:
        """The wire object, or ``None`` for ``null``; ``ValueError`` when a field is missing."""
        if data is None:
            return None
        if not isinstance(data, Mapping):
            raise ValueError("credentials must be an object")
        try:
            return cls(
                str(data["AccessKeyId"]),
                str(data["SecretAccessKey"]),
                str(data["Token"]),
                parse_time(data["Expiration"]),
                str(data.get("RoleArn", "")),
            )
        except KeyError as exc:
            raise ValueError(f"credentials lack {exc.args[0]}") from None

    @property
    def role_name(self) -> str:
        """The last segment of the role ARN (``arn:aws:iam::1:role/path/name`` -> ``name``)."""
        return self.role_arn.rsplit("/", 1)[-1]

    @property
    def expiration_text(self) -> str:
        return self.expiration.astimezone(UTC).strftime(IMDS_TIME_FORMAT)


@dataclass(frozen=True)
class ContainerSpec:
    """One container definition with the task's overrides applied."""

    name: str
    image: str
    essential: bool = True
    command: list[str] | None = None
    entry_point: list[str] | None = None
    environment: dict[str, str] = field(default_factory=dict)
    cpu: int = 0
    memory: int | None = None
    memory_reservation: int | None = None
    working_directory: str | None = None
    user: str | None = None
    stop_timeout: int | None = None
    awslogs: dict[str, str] | None = None  # logConfiguration.options when logDriver is awslogs


def _pairs(items: object) -> dict[str, str]:
    if not isinstance(items, Sequence):
        return {}
    return {str(i["name"]): str(i.get("value", "")) for i in items if isinstance(i, Mapping) and "name" in i}


def _optional_int(value: object) -> int | None:
    return int(value) if isinstance(value, int | str) and str(value).strip() else None


def _strings(value: object) -> list[str] | None:
    return [str(v) for v in value] if isinstance(value, Sequence) and not isinstance(value, str) else None


def container_spec(definition: Mapping[str, Any], override: Mapping[str, Any]) -> ContainerSpec:
    """A container definition (DescribeTaskDefinition's shape) merged with its RunTask override."""
    logging = definition.get("logConfiguration") or {}
    awslogs = dict(logging.get("options") or {}) if logging.get("logDriver") == "awslogs" else None
    environment = _pairs(definition.get("environment")) | _pairs(override.get("environment"))
    command = _strings(override.get("command")) or _strings(definition.get("command"))
    return ContainerSpec(
        name=str(definition["name"]),
        image=str(definition["image"]),
        essential=bool(definition.get("essential", True)),
        command=command,
        entry_point=_strings(definition.get("entryPoint")),
        environment=environment,
        cpu=_optional_int(override.get("cpu")) or _optional_int(definition.get("cpu")) or 0,
        memory=_optional_int(override.get("memory")) or _optional_int(definition.get("memory")),
        memory_reservation=_optional_int(override.get("memoryReservation"))
        or _optional_int(definition.get("memoryReservation")),
        working_directory=definition.get("workingDirectory"),
        user=definition.get("user"),
        stop_timeout=_optional_int(definition.get("stopTimeout")),
        awslogs=awslogs,
    )


@dataclass(frozen=True)
class TaskSpec:
    """One entry of the poll response's ``tasks``."""

    arn: str
    desired_status: str
    launch_type: str
    definition: Mapping[str, Any]
    overrides: Mapping[str, Any]
    execution_credentials: RoleCredentials | None
    task_credentials: RoleCredentials | None

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> TaskSpec:
        return cls(
            arn=str(data["taskArn"]),
            desired_status=str(data.get("desiredStatus", RUNNING)),
            launch_type=str(data.get("launchType") or "EC2"),
            definition=data.get("taskDefinition") or {},
            overrides=data.get("overrides") or {},
            execution_credentials=RoleCredentials.from_wire(data.get("executionRoleCredentials")),
            task_credentials=RoleCredentials.from_wire(data.get("taskRoleCredentials")),
        )

    @property
    def task_id(self) -> str:
        return task_id(self.arn)

    @property
    def pulls_with_execution_role(self) -> bool:
        """Contract §4: the execution role pulls whenever the definition names one, and always on
        FARGATE (which never uses the instance role)."""
        named = self.definition.get("executionRoleArn") or self.overrides.get("executionRoleArn")
        return bool(named) or self.launch_type == "FARGATE"

    def containers(self) -> list[ContainerSpec]:
        overrides = {
            str(o.get("name")): o for o in self.overrides.get("containerOverrides") or [] if o.get("name")
        }
        return [
            container_spec(d, overrides.get(str(d.get("name")), {}))
            for d in self.definition.get("containerDefinitions") or []
        ]


def task_id(arn: str) -> str:
    """The last segment of a task ARN (``arn:aws:ecs:r:a:task/<cluster>/<id>`` -> ``<id>``)."""
    return arn.rsplit("/", 1)[-1]


@dataclass
class TaskState:
    """What the agent reports for one task in the poll's ``tasks``."""

    arn: str
    last_status: str
    image_digests: list[str] = field(default_factory=list)
    stopped_polls_left: int = 3  # a STOPPED task is still listed in this many polls, then forgotten

    def wire(self) -> dict[str, Any]:
        return {"taskArn": self.arn, "lastStatus": self.last_status, "imageDigests": list(self.image_digests)}


class TaskStates:
    """The node's tasks as the next poll reports them; the task runners write, the poll loop reads."""

    def __init__(self) -> None:
        self._tasks: dict[str, TaskState] = {}

    def set(self, arn: str, status: str, digests: Sequence[str] | None = None) -> None:
        state = self._tasks.setdefault(arn, TaskState(arn, status))
        state.last_status = status
        if digests is not None:
            state.image_digests = list(digests)

    def get(self, arn: str) -> TaskState | None:
        return self._tasks.get(arn)

    def report(self) -> list[dict[str, Any]]:
        """The poll's ``tasks``; each STOPPED task counts down and is dropped after its last listing."""
        listed = [state.wire() for state in self._tasks.values()]
        for arn, state in list(self._tasks.items()):
            if state.last_status == STOPPED:
                state.stopped_polls_left -= 1
                if state.stopped_polls_left <= 0:
                    del self._tasks[arn]
        return listed
