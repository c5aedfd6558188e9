"""How a container definition becomes a Docker ``POST /containers/create`` body.

Containers use the host's network (see the package docstring), unless the task definition's
``networkMode`` is ``none``; port mappings therefore need no publishing. CPU units become CPU shares
(at least 2, Docker's minimum, as the ECS agent does), MiB become bytes.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from typing import Any

from dockyard.agent.docker import ImageRef
from dockyard.agent.model import (
    CLUSTER_LABEL,
    CONTAINER_NAME_LABEL,
    DIGEST_LABEL,
    ESSENTIAL_LABEL,
    FAMILY_LABEL,
    REVISION_LABEL,
    STOP_TIMEOUT_LABEL,
    TASK_ARN_LABEL,
    ContainerSpec,
    TaskSpec,
)

MIB = 1024 * 1024
MIN_CPU_SHARES = 2
_UNSAFE = re.compile(r"[^a-zA-Z0-9_.-]")


def container_name(task: TaskSpec, container: ContainerSpec) -> str:
    """``ecs-<family>-<revision>-<container>-<random>``, the ECS agent's pattern, unique per run."""
    family = task.definition.get("family", "task")
    revision = task.definition.get("revision", 0)
    name = f"ecs-{family}-{revision}-{container.name}-{secrets.token_hex(8)}"
    return _UNSAFE.sub("-", name)


def pinned(image: str, digest: str | None) -> str:
    return f"{ImageRef.parse(image).name}@{digest}" if digest else image


def labels(task: TaskSpec, container: ContainerSpec, cluster: str, digest: str | None) -> dict[str, str]:
    found = {
        TASK_ARN_LABEL: task.arn,
        CONTAINER_NAME_LABEL: container.name,
        CLUSTER_LABEL: cluster,
        FAMILY_LABEL: str(task.definition.get("family", "")),
        REVISION_LABEL: str(task.definition.get("revision", "")),
        ESSENTIAL_LABEL: "true" if container.essential else "false",
    }
    if digest:
        found[DIGEST_LABEL] = digest
    if container.stop_timeout:
        found[STOP_TIMEOUT_LABEL] = str(container.stop_timeout)
    return found


def create_body(
    task: TaskSpec,
    container: ContainerSpec,
    *,
    cluster: str,
    digest: str | None,
    extra_env: Mapping[str, str],
) -> dict[str, Any]:
    """The body; the image is pinned to the digest just pulled, so the container runs exactly what the
    poll reports even if the tag moves meanwhile."""
    host_config: dict[str, Any] = {
        "NetworkMode": "none" if task.definition.get("networkMode") == "none" else "host",
        "CpuShares": max(container.cpu, MIN_CPU_SHARES),
    }
    if container.memory:
        host_config["Memory"] = container.memory * MIB
    if container.memory_reservation:
        host_config["MemoryReservation"] = container.memory_reservation * MIB
    environment = {**container.environment, **extra_env}
    body: dict[str, Any] = {
        "Image": pinned(container.image, digest),
        "Env": [f"{key}={value}" for key, value in environment.items()],
        "Labels": labels(task, container, cluster, digest),
        "HostConfig": host_config,
    }
    optional = {
        "Cmd": container.command,
        "Entrypoint": container.entry_point,
        "WorkingDir": container.working_directory,
        "User": container.user,
    }
    body.update({key: value for key, value in optional.items() if value is not None})
    return body
