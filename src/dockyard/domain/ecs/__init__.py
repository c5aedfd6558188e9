"""ECS, the pure part: resource names, task definitions, resources and placement, the task state machine
and what the node agent's poll is told. No I/O here; the services and the store use these."""

from __future__ import annotations

from dockyard.domain.ecs.arns import EcsArns, TaskDefinitionRef
from dockyard.domain.ecs.errors import (
    ClientError,
    ClusterContainsInstances,
    ClusterContainsTasks,
    ClusterNotFound,
    EcsError,
    InvalidParameter,
)
from dockyard.domain.ecs.resources import Demand
from dockyard.domain.ecs.states import StopCode, TaskStatus

__all__ = [
    "ClientError",
    "ClusterContainsInstances",
    "ClusterContainsTasks",
    "ClusterNotFound",
    "Demand",
    "EcsArns",
    "EcsError",
    "InvalidParameter",
    "StopCode",
    "TaskDefinitionRef",
    "TaskStatus",
]
