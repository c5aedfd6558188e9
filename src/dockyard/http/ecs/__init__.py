"""The ECS API subset (AWS JSON 1.1, ``AmazonEC2ContainerServiceV20141113.<Op>``) over Dockyard's ECS
services, and the node agent's poll endpoint (``docs/ecs-agent-protocol.md``)."""

from __future__ import annotations

from dockyard.http.ecs.api import EcsApi, build_ecs_endpoint
from dockyard.http.ecs.poll import POLL_PATH

__all__ = ["POLL_PATH", "EcsApi", "build_ecs_endpoint"]
