"""Task definitions: what RegisterTaskDefinition accepts, and what a registered one says of itself.

The checks are ECS's, with its messages: a family of letters, digits, ``-`` and ``_``; at least one
container, each named (uniquely) and with an image; without task-level memory, every container needs
``memory`` or ``memoryReservation``; at least one essential container; task-level ``cpu``/``memory`` in
one of ECS's notations; role ARNs that are IAM role ARNs. A FARGATE definition needs task-level ``cpu``
and ``memory`` and an execution role (the role the node pulls with). Dockyard does not model network
modes: ``networkMode`` is kept and shown as given.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dockyard.domain.ecs.arns import check_family, role_arn_account
from dockyard.domain.ecs.errors import ClientError, invalid_role
from dockyard.domain.ecs.resources import parse_cpu, parse_memory

FARGATE = "FARGATE"
EC2 = "EC2"
LAUNCH_TYPES = (EC2, FARGATE)
FARGATE_NEEDS_EXECUTION_ROLE = (
    "Fargate requires task definition to have execution role ARN to support ECR images."
)
# What ECS shows for a container definition member the caller left out.
_CONTAINER_DEFAULTS: Mapping[str, Any] = {
    "cpu": 0,
    "essential": True,
    "portMappings": [],
    "environment": [],
    "mountPoints": [],
    "volumesFrom": [],
}
ROLE_MEMBERS = ("taskRoleArn", "executionRoleArn")


def validate(definition: Mapping[str, Any]) -> dict[str, Any]:
    """``definition`` (RegisterTaskDefinition's parameters) checked, with ECS's defaults filled in;
    :class:`ClientError` with ECS's message otherwise."""
    check_family(str(definition.get("family", "")))
    containers = [dict(c) for c in definition.get("containerDefinitions", [])]
    if not containers:
        raise ClientError("Container list cannot be empty.")
    for member in ("cpu", "memory"):
        if definition.get(member):
            (parse_cpu if member == "cpu" else parse_memory)(str(definition[member]))
    for member in ROLE_MEMBERS:
        role = definition.get(member)
        if role is not None and role_arn_account(role) is None:
            raise invalid_role(role)
    _check_containers(containers, bool(definition.get("memory")))
    if FARGATE in definition.get("requiresCompatibilities", []):
        check_fargate(definition)
    filled = [{**_CONTAINER_DEFAULTS, **container} for container in containers]
    return {**definition, "containerDefinitions": filled}


def _check_containers(containers: list[dict[str, Any]], task_memory: bool) -> None:
    names: set[str] = set()
    for container in containers:
        for member in ("name", "image"):
            if not container.get(member):
                raise ClientError(f"Container.{member} should not be null or empty.")
        name = container["name"]
        if name in names:
            raise ClientError(f"Duplicate container name found: {name}")
        names.add(name)
        if not task_memory and not (container.get("memory") or container.get("memoryReservation")):
            raise ClientError(
                f"Invalid setting for container '{name}'. At least one of 'memory' or "
                "'memoryReservation' must be specified."
            )
    if not any(container.get("essential", True) for container in containers):
        raise ClientError("A task definition must have at least one essential container.")


def check_fargate(definition: Mapping[str, Any]) -> None:
    """What FARGATE asks of a definition beyond EC2's."""
    for member in ("cpu", "memory"):
        if not definition.get(member):
            raise ClientError(f"Fargate requires that '{member}' be defined at the task level.")
    if not definition.get("executionRoleArn"):
        raise ClientError(FARGATE_NEEDS_EXECUTION_ROLE)


def compatibilities(definition: Mapping[str, Any]) -> list[str]:
    """The launch types a registered definition can run on: EC2 always, FARGATE when it asked for it
    (and so passed FARGATE's checks)."""
    wanted = definition.get("requiresCompatibilities", [])
    return [EC2, FARGATE] if FARGATE in wanted else [EC2]


def check_launch_type(definition: Mapping[str, Any], launch_type: str) -> None:
    """RunTask's refusal of a definition its launch type cannot run."""
    if launch_type not in compatibilities(definition):
        raise ClientError(f"Task definition does not support launch_type {launch_type}.")
    if launch_type == FARGATE:
        check_fargate(definition)


def roles(definition: Mapping[str, Any], overrides: Mapping[str, Any] | None = None) -> dict[str, str]:
    """``{"taskRoleArn": ..., "executionRoleArn": ...}`` of a task, overrides winning (absent roles left
    out)."""
    overrides = overrides or {}
    found = {member: overrides.get(member) or definition.get(member) for member in ROLE_MEMBERS}
    return {member: role for member, role in found.items() if role}
