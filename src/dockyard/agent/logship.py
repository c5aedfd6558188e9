"""``awslogs`` for task containers: the agent follows each container's Docker log stream and ships it
with CloudWatch Logs' ``PutLogEvents`` to the server, with the task execution role's credentials.

Options as ECS reads them: ``awslogs-group``, ``awslogs-stream-prefix`` (stream
``<prefix>/<container name>/<task id>``; without a prefix the stream is the Docker container id, as
Docker's awslogs driver names it) and ``awslogs-create-group`` (``true``: CreateLogGroup first).
Batches respect PutLogEvents' limits (10,000 events, 1 MiB counting 26 bytes per event, chronological
order) and are sent at least every ``flush_seconds`` while lines arrive.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError  # type: ignore[import-untyped]

from dockyard.agent.aws import error_text
from dockyard.agent.docker_frames import LogLine

log = logging.getLogger("dockyard.agent")
MAX_EVENTS = 10_000
MAX_BYTES = 1_048_576
EVENT_OVERHEAD = 26
EXISTS = "ResourceAlreadyExistsException"


@dataclass(frozen=True)
class AwsLogsTarget:
    group: str
    stream: str
    create_group: bool

    @classmethod
    def of(
        cls, options: Mapping[str, str], container: str, task_id: str, container_id: str
    ) -> AwsLogsTarget | None:
        group = options.get("awslogs-group")
        if not group:
            return None
        prefix = options.get("awslogs-stream-prefix")
        stream = f"{prefix}/{container}/{task_id}" if prefix else container_id
        return cls(group, stream, options.get("awslogs-create-group", "").lower() == "true")


@dataclass
class _Batch:
    events: list[dict[str, Any]] = field(default_factory=list)
    size: int = 0

    def fits(self, event: dict[str, Any]) -> bool:
        extra = len(event["message"].encode()) + EVENT_OVERHEAD
        return len(self.events) < MAX_EVENTS and self.size + extra <= MAX_BYTES

    def add(self, event: dict[str, Any]) -> None:
        self.events.append(event)
        self.size += len(event["message"].encode()) + EVENT_OVERHEAD


def _event(line: LogLine, now: Callable[[], float]) -> dict[str, Any] | None:
    if not line.text:
        return None  # CloudWatch Logs takes no empty message
    stamp = line.time.timestamp() if line.time is not None else now()
    message = line.text.encode()[: MAX_BYTES - EVENT_OVERHEAD].decode("utf-8", "ignore")
    return {"timestamp": int(stamp * 1000), "message": message}


class LogShipper:
    """Ships one container's lines to one stream; ``client`` gives a logs client for the current
    execution role credentials (``None`` when there are none: lines are then dropped)."""

    def __init__(
        self,
        target: AwsLogsTarget,
        client: Callable[[], Any | None],
        *,
        flush_seconds: float = 1.0,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.target = target
        self._client = client
        self._flush_seconds = flush_seconds
        self._now = now
        self._ready = False
        self.shipped = 0

    async def ship(self, lines: AsyncIterator[LogLine]) -> int:
        """Ship until ``lines`` ends; the number of events accepted."""
        queue: asyncio.Queue[LogLine | None] = asyncio.Queue()
        pump = asyncio.create_task(_pump(lines, queue))
        batch = _Batch()
        try:
            while (item := await self._next(queue, batch)) is not None:
                if isinstance(item, _Flush):
                    batch = await self._flush(batch)
                    continue
                event = _event(item, self._now)
                if event is None:
                    continue
                if not batch.fits(event):
                    batch = await self._flush(batch)
                batch.add(event)
            await self._flush(batch)
        finally:
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pump
        return self.shipped

    async def _next(self, queue: asyncio.Queue[LogLine | None], batch: _Batch) -> LogLine | _Flush | None:
        if not batch.events:
            return await queue.get()
        try:
            return await asyncio.wait_for(queue.get(), self._flush_seconds)
        except TimeoutError:
            return _Flush()

    async def _flush(self, batch: _Batch) -> _Batch:
        if batch.events:
            await self._put(sorted(batch.events, key=lambda e: e["timestamp"]))
        return _Batch()

    async def _put(self, events: list[dict[str, Any]]) -> None:
        client = self._client()
        if client is None:
            log.warning("no credentials to ship logs with", extra={"group": self.target.group})
            return
        try:
            if not self._ready:
                await asyncio.to_thread(self._prepare, client)
                self._ready = True
            await asyncio.to_thread(
                client.put_log_events,
                logGroupName=self.target.group,
                logStreamName=self.target.stream,
                logEvents=events,
            )
        except (ClientError, BotoCoreError) as exc:
            fields = {"group": self.target.group, "stream": self.target.stream, "error": error_text(exc)}
            log.warning("log events not shipped", extra={**fields, "events": len(events)})
            return
        self.shipped += len(events)

    def _prepare(self, client: Any) -> None:
        if self.target.create_group:
            _create(client.create_log_group, logGroupName=self.target.group)
        _create(client.create_log_stream, logGroupName=self.target.group, logStreamName=self.target.stream)


class _Flush:
    """The batch waited ``flush_seconds``: send it."""


def _create(operation: Any, **request: str) -> None:
    try:
        operation(**request)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != EXISTS:
            raise


async def _pump(lines: AsyncIterator[LogLine], queue: asyncio.Queue[LogLine | None]) -> None:
    try:
        async for line in lines:
            await queue.put(line)
    except Exception as exc:  # the stream broke (the daemon went away): ship what came
        log.warning("container log stream ended early", extra={"error": str(exc)})
    finally:
        await queue.put(None)
