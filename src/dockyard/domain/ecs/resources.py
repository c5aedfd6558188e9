"""CPU units and MiB: what a task asks of its container instance, and ECS's ways of writing them.

Task-level ``cpu`` is ``"1024"`` or ``"1 vCPU"`` (1024 units a vCPU), ``memory`` ``"2048"`` (MiB) or
``"2 GB"``; ``RunTask`` overrides may change both, and each container's own ``cpu``/``memory``. A task
needs its task-level values when it has them, else the sum of its containers' (a container's memory is
its hard ``memory`` limit, else its ``memoryReservation``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dockyard.domain.ecs.errors import ClientError

_VCPU = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*vcpu\s*\Z", re.IGNORECASE)
_GB = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*gb\s*\Z", re.IGNORECASE)
_NUMBER = re.compile(r"^\s*(\d+)\s*\Z")


@dataclass(frozen=True, slots=True)
class Demand:
    cpu: int  # CPU units
    memory: int  # MiB


def parse_cpu(text: str) -> int:
    """CPU units of a task-level ``cpu`` (``"512"``, ``"0.5 vCPU"``)."""
    return _parse(text, _VCPU, 1024, "cpu")


def parse_memory(text: str) -> int:
    """MiB of a task-level ``memory`` (``"2048"``, ``"2 GB"``)."""
    return _parse(text, _GB, 1024, "memory")


def _parse(text: str, unit: re.Pattern[str], scale: int, name: str) -> int:
    plain = _NUMBER.match(text)
    if plain is not None:
        value = int(plain.group(1))
    else:
        scaled = unit.match(text)
        if scaled is None:
            raise ClientError(f"Invalid '{name}' setting for task.")
        value = int(float(scaled.group(1)) * scale)
    if value <= 0:
        raise ClientError(f"Invalid '{name}' setting for task.")
    return value


def container_memory(container: Mapping[str, Any]) -> int:
    return int(container.get("memory") or container.get("memoryReservation") or 0)


def demand(definition: Mapping[str, Any], overrides: Mapping[str, Any] | None = None) -> Demand:
    """What one task of ``definition`` (RegisterTaskDefinition's members) needs, with RunTask's
    ``overrides`` applied."""
    overrides = overrides or {}
    containers = with_overrides(definition.get("containerDefinitions", []), overrides)
    cpu_text = overrides.get("cpu") or definition.get("cpu")
    memory_text = overrides.get("memory") or definition.get("memory")
    cpu = parse_cpu(cpu_text) if cpu_text else sum(int(c.get("cpu") or 0) for c in containers)
    memory = parse_memory(memory_text) if memory_text else sum(container_memory(c) for c in containers)
    return Demand(cpu, memory)


def with_overrides(
    containers: Sequence[Mapping[str, Any]], overrides: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """The container definitions with RunTask's per-container overrides (by name) laid over them."""
    by_name = {o.get("name"): o for o in overrides.get("containerOverrides", [])}
    merged = []
    for container in containers:
        change = by_name.get(container.get("name"), {})
        merged.append({**container, **{k: v for k, v in change.items() if k != "name"}})
    return merged
