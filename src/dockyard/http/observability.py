"""Access log, Prometheus metrics, request ids: one pure ASGI middleware, cheap on the hot path.

Access-log lines are JSON built here in one ``json.dumps`` and written by a plain handler (``logs``):
on a cached manifest GET the generic structured formatter cost a third of the request.

Routes are labelled by template (``/v2/{name}/blobs/{digest}``), never by raw path, so metric cardinality
stays bounded. Query strings are never logged: later features put signatures in them.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

ACCESS_LOGGER = "dockyard.access"
log = logging.getLogger(ACCESS_LOGGER)

_ROUTES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^/v2/?$"), "/v2/"),
    (re.compile(r"^/v2/_catalog$"), "/v2/_catalog"),
    (re.compile(r"^/v2/.+/blobs/uploads/?$"), "/v2/{name}/blobs/uploads/"),
    (re.compile(r"^/v2/.+/blobs/uploads/[^/]+$"), "/v2/{name}/blobs/uploads/{id}"),
    (re.compile(r"^/v2/.+/blobs/[^/]+$"), "/v2/{name}/blobs/{digest}"),
    (re.compile(r"^/v2/.+/manifests/[^/]+$"), "/v2/{name}/manifests/{reference}"),
    (re.compile(r"^/v2/.+/tags/list$"), "/v2/{name}/tags/list"),
    (re.compile(r"^/v2/.+/referrers/[^/]+$"), "/v2/{name}/referrers/{digest}"),
    (re.compile(r"^/(metrics|healthz|readyz)$"), "/{ops}"),
)


def route_of(path: str) -> str:
    for pattern, template in _ROUTES:
        if pattern.match(path):
            return template if template != "/{ops}" else path
    return "other"


def _content_length(headers: list[tuple[bytes, bytes]]) -> int:
    for key, value in headers:
        if key.lower() == b"content-length":
            return int(value)
    return 0


class Metrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        labels = ("route", "method", "status")
        self.requests = Counter("dockyard_http_requests", "HTTP requests", labels, registry=registry)
        self.latency = Histogram(
            "dockyard_http_request_duration_seconds",
            "Time to the last byte of the response",
            ("route", "method"),
            registry=registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
        )
        self.sent = Counter("dockyard_http_response_bytes", "Response body bytes", labels, registry=registry)
        self.received = Counter(
            "dockyard_http_request_bytes", "Request body bytes", labels, registry=registry
        )
        self._children: dict[tuple[str, str, str], tuple[Any, Any, Any, Any]] = {}

    def observe(self, route: str, method: str, status: str, elapsed: float, sent: int, received: int) -> None:
        key = (route, method, status)
        children = self._children.get(key)
        if children is None:
            children = (
                self.requests.labels(*key),
                self.latency.labels(route, method),
                self.sent.labels(*key),
                self.received.labels(*key),
            )
            self._children[key] = children
        requests, latency, sent_bytes, received_bytes = children
        requests.inc()
        latency.observe(elapsed)
        if sent:
            sent_bytes.inc(sent)
        if received:
            received_bytes.inc(received)


class ObservabilityMiddleware:
    def __init__(self, app: ASGIApp, metrics: Metrics, access_log: bool = True) -> None:
        self.app = app
        self.metrics = metrics
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = os.urandom(8).hex()
        state = {"status": 500, "sent": 0, "received": 0, "length": 0}

        async def counting_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                state["received"] += len(message.get("body", b""))
            return message

        async def tracking_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                state["status"] = message["status"]
                state["length"] = _content_length(message.get("headers", []))
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            elif message["type"] == "http.response.body":
                state["sent"] += len(message.get("body", b""))
            elif message["type"] == "http.response.pathsend":
                state["sent"] += state["length"]
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        finally:
            self._record(scope, state, time.perf_counter() - started, request_id)

    def _record(self, scope: Scope, state: dict[str, int], elapsed: float, request_id: str) -> None:
        route, method, status = route_of(scope["path"]), scope["method"], str(state["status"])
        self.metrics.observe(route, method, status, elapsed, state["sent"], state["received"])
        if self.access_log and log.isEnabledFor(logging.INFO):
            client = scope.get("client")
            entry = {
                "time": _timestamp(time.time()),
                "level": "info",
                "logger": ACCESS_LOGGER,
                "message": "request",
                "request_id": request_id,
                "remote": client[0] if client else None,
                "method": method,
                "path": scope["path"],
                "status": state["status"],
                "duration_ms": round(elapsed * 1000, 3),
                "bytes_in": state["received"],
                "bytes_out": state["sent"],
            }
            log.info(json.dumps(entry))


_clock = {"second": -1, "text": ""}


def _timestamp(now: float) -> str:
    """ISO 8601 UTC with milliseconds; the seconds part is formatted once per second."""
    second = int(now)
    if second != _clock["second"]:
        _clock["second"], _clock["text"] = second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
    return f"{_clock['text']}.{int((now - second) * 1000):03d}+00:00"
