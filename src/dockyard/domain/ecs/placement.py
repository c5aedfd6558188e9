"""Where a task goes: the container instances that can take it now, best first, and why the others
cannot, in ECS's words (RunTask's ``failures``: ``AGENT``, ``ATTRIBUTE``, ``RESOURCE:CPU``,
``RESOURCE:MEMORY``).

An instance can take a task when it is ACTIVE, its agent is connected, it was registered for the task's
launch type (``dockyard.capacity`` EC2 or FARGATE: a FARGATE node runs only FARGATE tasks), and its
remaining CPU and memory cover the task's. Among those the one with the most remaining memory, then CPU,
comes first, which spreads tasks over a cluster's nodes. This is only a ranking: the database settles who
gets the last slot (a conditional update of the instance's remaining resources), so a loser re-ranks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from dockyard.domain.ecs.resources import Demand

AGENT = "AGENT"
ATTRIBUTE = "ATTRIBUTE"
RESOURCE_CPU = "RESOURCE:CPU"
RESOURCE_MEMORY = "RESOURCE:MEMORY"
NO_INSTANCES = "No Container Instances were found in your cluster."


@dataclass(frozen=True, slots=True)
class Candidate:
    key: int  # the instance's row
    arn: str
    capacity: str  # EC2 | FARGATE
    connected: bool
    remaining_cpu: int
    remaining_memory: int


@dataclass(frozen=True, slots=True)
class Ranking:
    fits: list[Candidate]  # best first
    refusals: list[tuple[str, str]]  # (instance ARN, reason)


def refusal(candidate: Candidate, demand: Demand, launch_type: str) -> str | None:
    """Why ``candidate`` cannot take the task now, or None when it can."""
    if not candidate.connected:
        return AGENT
    if candidate.capacity != launch_type:
        return ATTRIBUTE
    if candidate.remaining_cpu < demand.cpu:
        return RESOURCE_CPU
    if candidate.remaining_memory < demand.memory:
        return RESOURCE_MEMORY
    return None


def rank(candidates: Sequence[Candidate], demand: Demand, launch_type: str) -> Ranking:
    fits: list[Candidate] = []
    refusals: list[tuple[str, str]] = []
    for candidate in candidates:
        reason = refusal(candidate, demand, launch_type)
        if reason is None:
            fits.append(candidate)
        else:
            refusals.append((candidate.arn, reason))
    fits.sort(key=lambda c: (-c.remaining_memory, -c.remaining_cpu, c.arn))
    return Ranking(fits, refusals)
