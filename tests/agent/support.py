"""Task entries as the poll carries them, and waiting for the agent's background work."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from .fakes import ACCOUNT, role_credentials

DEADLINE = 30.0  # generous: a wait, never a timing assertion


def task_arn(name: str) -> str:
    return f"arn:aws:ecs:us-east-1:{ACCOUNT}:task/default/{name}"


def container(name: str, image: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "image": image, "essential": True, **extra}


def task_entry(
    name: str,
    containers: list[dict[str, Any]],
    *,
    execution_role: bool = True,
    task_role: bool = False,
    launch_type: str = "EC2",
    desired: str = "RUNNING",
    overrides: dict[str, Any] | None = None,
) -> dict[str, Any]:
    definition: dict[str, Any] = {
        "family": "web",
        "revision": 3,
        "containerDefinitions": containers,
        "networkMode": "host",
    }
    if execution_role:
        definition["executionRoleArn"] = f"arn:aws:iam::{ACCOUNT}:role/exec"
    if task_role:
        definition["taskRoleArn"] = f"arn:aws:iam::{ACCOUNT}:role/app"
    return {
        "taskArn": task_arn(name),
        "desiredStatus": desired,
        "launchType": launch_type,
        "taskDefinition": definition,
        "overrides": overrides or {},
        "executionRoleCredentials": role_credentials("exec", "AKIDEXEC") if execution_role else None,
        "taskRoleCredentials": role_credentials("app", "AKIDTASK") if task_role else None,
    }


async def until(condition: Callable[[], object], what: str = "the condition") -> None:
    """Wait (yielding to the event loop) until ``condition()`` is true."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)
