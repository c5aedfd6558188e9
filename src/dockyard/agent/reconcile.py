"""What a starting agent finds on the node: the containers it (or its previous run) made for this
cluster, found by their ``com.amazonaws.ecs.*`` labels and grouped by task.

Each task found becomes a ``TaskRunner`` that adopts its containers: one still running is waited for and
its exit reported later; a task whose containers all exited meanwhile is reported STOPPED with their exit
codes at once. A task role's token is read back from the container's environment, so its credentials
endpoint keeps answering the same token once the server re-sends the role's credentials.
"""

from __future__ import annotations

import logging

from dockyard.agent.docker import ContainerInfo, DockerError
from dockyard.agent.model import CLUSTER_LABEL, TASK_ARN_LABEL
from dockyard.agent.tasks import TaskContext, TaskRunner

log = logging.getLogger("dockyard.agent")


async def found_tasks(context: TaskContext) -> dict[str, list[ContainerInfo]]:
    """This cluster's labelled containers on the node, by task ARN."""
    docker = context.docker
    tasks: dict[str, list[ContainerInfo]] = {}
    for container in await docker.list_containers({CLUSTER_LABEL: context.cluster}):
        try:
            info = await docker.inspect(container)
        except DockerError as exc:  # removed between the listing and now
            log.warning("container vanished during reconcile", extra={"error": exc.message})
            continue
        arn = info.labels.get(TASK_ARN_LABEL)
        if arn:
            tasks.setdefault(arn, []).append(info)
    return tasks


async def reconcile(context: TaskContext) -> list[tuple[TaskRunner, list[ContainerInfo]]]:
    """A runner for each task found, with the containers it must adopt (``runner.adopt(found)``)."""
    found = await found_tasks(context)
    running = sum(1 for infos in found.values() if any(info.running for info in infos))
    log.info("reconciled containers", extra={"tasks": len(found), "running": running})
    return [(TaskRunner(context, arn), infos) for arn, infos in found.items()]
