"""ECS resources as the store keeps them (plain values; the wire layer shapes them for the API)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

Tags = list[dict[str, str]]  # ECS's [{"key": ..., "value": ...}]


@dataclass(frozen=True, slots=True)
class ClusterRecord:
    id: int
    account_id: str
    name: str
    status: str  # ACTIVE | INACTIVE
    created_at: datetime
    tags: Tags = field(default_factory=list)
    settings: list[dict[str, Any]] = field(default_factory=list)
    configuration: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class ClusterCounts:
    instances: int = 0
    running: int = 0
    pending: int = 0


@dataclass(frozen=True, slots=True)
class TaskDefinitionRecord:
    id: int
    account_id: str
    family: str
    revision: int
    status: str  # ACTIVE | INACTIVE
    definition: dict[str, Any]  # RegisterTaskDefinition's members, validated, defaults filled
    tags: Tags
    registered_at: datetime
    registered_by: str | None
    deregistered_at: datetime | None


@dataclass(frozen=True, slots=True)
class NewInstance:
    ec2_instance_id: str
    capacity: str
    cpu: int
    memory: int
    attributes: list[dict[str, Any]]
    version_info: dict[str, Any] | None
    tags: Tags
    role_arn: str | None


@dataclass(frozen=True, slots=True)
class InstanceRecord:
    id: int
    instance_id: str  # the id in its ARN
    cluster_id: int
    cluster_name: str
    account_id: str
    ec2_instance_id: str
    capacity: str
    status: str  # ACTIVE | INACTIVE
    cpu: int
    memory: int
    remaining_cpu: int
    remaining_memory: int
    attributes: list[dict[str, Any]]
    version_info: dict[str, Any] | None
    tags: Tags
    role_arn: str | None
    registered_at: datetime
    heartbeat_at: datetime  # last contact: registration, or the end of the agent's latest poll
    version: int
    credentials_until: datetime | None  # the instance role credentials last sent expire then
    image_digests: list[str]


@dataclass(frozen=True, slots=True)
class TaskCounts:
    running: int = 0
    pending: int = 0


@dataclass(frozen=True, slots=True)
class NewTask:
    task_id: str
    account_id: str
    cluster_id: int
    task_definition_id: int
    launch_type: str
    overrides: dict[str, Any]
    cpu: int
    memory: int
    containers: list[dict[str, Any]]
    started_by: str | None
    group: str | None
    tags: Tags
    created_at: datetime


@dataclass(frozen=True, slots=True)
class TaskRecord:
    id: int
    task_id: str
    account_id: str
    cluster_name: str
    instance_id: str
    family: str
    revision: int
    task_definition_id: int
    launch_type: str
    overrides: dict[str, Any]
    cpu: int
    memory: int
    last_status: str
    desired_status: str
    containers: list[dict[str, Any]]
    tags: Tags
    created_at: datetime
    version: int
    started_by: str | None = None
    group: str | None = None
    stop_code: str | None = None
    stopped_reason: str | None = None
    times: dict[str, datetime] = field(default_factory=dict)  # pullStartedAt, startedAt… as ECS names them
    sent_at: datetime | None = None
    credentials_until: datetime | None = None
