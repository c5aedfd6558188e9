"""``dockyard agent``: run this node as a container instance of a Dockyard ECS cluster.

Heavy imports (boto3, uvicorn) wait until the command runs, so the rest of the CLI stays quick.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import os
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from dockyard.cli_options import err_console

if TYPE_CHECKING:
    from dockyard.agent.loop import AgentConfig

DEFAULT_REGION = "us-east-1"
QUIET_LOGGERS = ("botocore", "boto3", "urllib3", "uvicorn", "httpx", "httpcore")


class Capacity(enum.StrEnum):
    EC2 = "EC2"
    FARGATE = "FARGATE"


def machine_cpu() -> int:
    """CPU units of this machine: 1024 per core ECS counts."""
    return (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1) * 1024


def machine_memory() -> int:
    """This machine's memory in MiB."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // (1024 * 1024)


def agent_command(
    endpoint: Annotated[str, typer.Option(help="Dockyard's base URL (its ECS, ECR and Logs APIs).")],
    instance_role: Annotated[str, typer.Option("--instance-role", help="ARN of this node's instance role.")],
    cluster: Annotated[str, typer.Option(help="The cluster to join.")] = "default",
    capacity: Annotated[Capacity, typer.Option(help="Which tasks this node runs.")] = Capacity.EC2,
    cpu: Annotated[int | None, typer.Option(help="CPU units offered (default: 1024 per core).")] = None,
    memory: Annotated[int | None, typer.Option(help="MiB offered (default: the machine's).")] = None,
    docker_host: Annotated[str, typer.Option(help="Docker Engine API.")] = "unix:///var/run/docker.sock",
    imds_port: Annotated[int, typer.Option(help="Loopback port of the IMDSv2 endpoint.")] = 51680,
    credentials_port: Annotated[int, typer.Option(help="Loopback port of task credentials.")] = 51679,
    state_dir: Annotated[Path, typer.Option(help="Where the instance id is kept.")] = Path(
        "/var/lib/dockyard-agent"
    ),
    region: Annotated[str | None, typer.Option(help="(default: the AWS config's, else us-east-1)")] = None,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
) -> None:
    """Run tasks of a Dockyard ECS cluster on this node's Docker Engine.

    Calls are signed with the usual AWS credential chain (environment, profile, ...): an identity allowed
    the ECS agent actions and iam:PassRole on the instance role. Stopping the agent leaves its containers
    running; the next start adopts them."""
    from dockyard.agent.loop import AgentConfig

    _configure_logging(log_level)
    session = _bootstrap_session(region)
    config = AgentConfig(
        cluster=cluster,
        endpoint=endpoint.rstrip("/"),
        region=region or session.region_name or DEFAULT_REGION,
        instance_role_arn=instance_role,
        capacity=capacity.value,
        cpu=cpu if cpu is not None else machine_cpu(),
        memory=memory if memory is not None else machine_memory(),
        state_dir=state_dir,
        docker_host=docker_host,
        imds_port=imds_port,
        credentials_port=credentials_port,
    )
    asyncio.run(_run(config, session))


def _configure_logging(level: str) -> None:
    """JSON lines on stderr; the HTTP and AWS libraries at warning at most (their debug lines carry
    request headers: session tokens)."""
    from dockyard import logs

    logs.configure(level)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLogger().level))


def _bootstrap_session(region: str | None) -> Any:
    """The AWS chain's session (environment, profile, ...); exits when it has no credentials."""
    import boto3  # type: ignore[import-untyped]

    session = boto3.session.Session(region_name=region)
    if session.get_credentials() is None:
        err_console.print("error: no AWS credentials for the agent (environment, profile, ...)", style="red")
        raise typer.Exit(1)
    return session


async def _run(config: AgentConfig, session: object) -> None:
    """Serve until SIGTERM or SIGINT; a refused registration ends the command with its message."""
    from botocore.exceptions import ClientError  # type: ignore[import-untyped]

    from dockyard.agent.aws import error_text
    from dockyard.agent.loop import serve

    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, task.cancel)
    try:
        await serve(config, session)
    except asyncio.CancelledError:
        err_console.print("agent stopped; its containers keep running")
    except ClientError as exc:
        err_console.print(f"error: {error_text(exc)}", style="red")
        raise typer.Exit(1) from None
