"""A small HTTP/1.1 client on asyncio streams: keep-alive connections, a bounded pool, streamed bodies.

httpx spends more CPU per request than the registries under test do on a 2-core machine, so the client
would be the bottleneck; this one does the minimum (no cookies, no HTTP/2; redirects only where asked, see
:meth:`Connection.follow`). Every request and the body bytes both ways are counted per server port
(:data:`TRAFFIC`), so that a run can give the server's CPU time per request.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from urllib.parse import urlsplit

READ_LIMIT = 4 << 20
WRITE_SLICE = 1 << 20
Sink = Callable[[bytes], Awaitable[None]]


@dataclass
class Traffic:
    """Requests sent to one port, and body bytes sent and received on them."""

    requests: int = 0
    body_bytes: int = 0

    def add(self, requests: int, body_bytes: int = 0) -> None:
        self.requests += requests
        self.body_bytes += body_bytes


@dataclass
class TrafficCounter:
    ports: dict[int, Traffic] = field(default_factory=dict)

    def __call__(self, port: int) -> Traffic:
        return self.ports.setdefault(port, Traffic())


TRAFFIC = TrafficCounter()
REDIRECTS = (301, 302, 303, 307, 308)


class HttpError(Exception):
    """A response that was not what the benchmark expected, or a broken connection."""


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def header(self, name: str) -> str:
        value = self.headers.get(name.lower())
        if value is None:
            raise HttpError(f"response {self.status} lacks header {name}")
        return value

    def expect(self, *statuses: int) -> Response:
        if self.status not in statuses:
            raise HttpError(f"expected {statuses}, got {self.status}: {self.body[:300]!r}")
        return self


def request_target(location: str) -> str:
    """Path and query of a ``Location`` header, absolute (Distribution) or relative (Dockyard)."""
    parts = urlsplit(location)
    return parts.path + (f"?{parts.query}" if parts.query else "")


class Connection:
    """One keep-alive TCP connection; requests on it run one at a time."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self.reused = False
        self._elsewhere: dict[tuple[str, int], Connection] = {}
        self._received = 0  # body bytes of the current response that went to a sink

    async def _open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self._reader is None or self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port, limit=READ_LIMIT)
            self.reused = False
        return self._reader, self._writer

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None
        for other in self._elsewhere.values():
            other.close()
        self._elsewhere.clear()

    async def follow(self, response: Response, sink: Sink | None = None, method: str = "GET") -> Response:
        """Request the ``Location`` of a redirect (a presigned storage URL: no headers of ours go along),
        on a keep-alive connection to that host kept with this one."""
        parts = urlsplit(response.header("location"))
        if not parts.hostname:
            return await self.request(method, request_target(parts.geturl()), sink=sink)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        if parts.scheme != "http":
            raise HttpError(f"cannot follow a redirect to {parts.scheme}: {response.header('location')}")
        key = (parts.hostname, port)
        if key not in self._elsewhere:
            self._elsewhere[key] = Connection(*key)
        return await self._elsewhere[key].request(method, request_target(parts.geturl()), sink=sink)

    async def request(
        self,
        method: str,
        target: str,
        headers: Mapping[str, str] | None = None,
        body: bytes | memoryview | None = None,
        sink: Sink | None = None,
    ) -> Response:
        """Send one request; the response body goes to ``sink`` when given, else into ``Response.body``."""
        reader, writer = await self._open()
        try:
            await self._send(writer, method, target, headers or {}, body)
            response = await self._receive(reader, method, sink)
        except BaseException:
            self.close()
            raise
        sent = 0 if body is None else len(body)
        TRAFFIC(self.port).add(1, sent + self._received + len(response.body))
        self.reused = True
        if response.headers.get("connection", "").lower() == "close":
            self.close()
        return response

    async def _send(
        self,
        writer: asyncio.StreamWriter,
        method: str,
        target: str,
        headers: Mapping[str, str],
        body: bytes | memoryview | None,
    ) -> None:
        lines = [f"{method} {target} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        if body is not None or method in ("POST", "PUT", "PATCH"):
            lines.append(f"Content-Length: {0 if body is None else len(body)}")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        if body is None or len(body) <= 64 * 1024:
            writer.write(head + bytes(body or b""))
            await writer.drain()
            return
        writer.write(head)
        view = memoryview(body)
        for start in range(0, len(view), WRITE_SLICE):
            writer.write(view[start : start + WRITE_SLICE])
            await writer.drain()

    async def _receive(self, reader: asyncio.StreamReader, method: str, sink: Sink | None) -> Response:
        try:
            raw = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as exc:
            raise ConnectionResetError("connection closed before a response") from exc
        status_line, *header_lines = raw.decode("latin-1").split("\r\n")
        status = int(status_line.split(" ", 2)[1])
        headers: dict[str, str] = {}
        for line in header_lines:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        self._received = 0
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            return Response(status, headers, b"")
        collected: list[bytes] = []

        async def keep(chunk: bytes) -> None:
            collected.append(chunk)

        async def counted(chunk: bytes) -> None:
            self._received += len(chunk)
            await (sink or keep)(chunk)

        # only a success's body goes to the sink; an error's or a redirect's is kept in Response.body
        out = counted if sink is not None and 200 <= status < 300 else keep
        if "content-length" in headers:
            await _read_exactly(reader, int(headers["content-length"]), out)
        elif "chunked" in headers.get("transfer-encoding", "").lower():
            await _read_chunked(reader, out)
        else:
            headers["connection"] = "close"
            while chunk := await reader.read(READ_LIMIT):
                await out(chunk)
        return Response(status, headers, b"".join(collected))


async def _read_exactly(reader: asyncio.StreamReader, length: int, out: Sink) -> None:
    remaining = length
    while remaining > 0:
        chunk = await reader.read(min(remaining, READ_LIMIT))
        if not chunk:
            raise ConnectionResetError(f"body ended {remaining} bytes early")
        remaining -= len(chunk)
        await out(chunk)


async def _read_chunked(reader: asyncio.StreamReader, out: Sink) -> None:
    while True:
        size_line = await reader.readuntil(b"\r\n")
        size = int(size_line.split(b";", 1)[0].strip(), 16)
        if size == 0:
            while (await reader.readuntil(b"\r\n")) != b"\r\n":
                pass
            return
        await _read_exactly(reader, size, out)
        await reader.readexactly(2)


class Pool:
    """At most ``size`` connections to one server; a request on a stale kept-alive connection is retried."""

    def __init__(self, host: str, port: int, size: int) -> None:
        self.host, self.port = host, port
        self._idle: list[Connection] = []
        self._slots = asyncio.Semaphore(size)

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Connection]:
        async with self._slots:
            conn = self._idle.pop() if self._idle else Connection(self.host, self.port)
            try:
                yield conn
            finally:
                self._idle.append(conn)

    async def request(
        self,
        method: str,
        target: str,
        headers: Mapping[str, str] | None = None,
        body: bytes | memoryview | None = None,
        sink: Sink | None = None,
    ) -> Response:
        async with self.connection() as conn:
            try:
                return await conn.request(method, target, headers, body, sink)
            except (ConnectionResetError, BrokenPipeError):
                if not conn.reused or sink is not None:
                    raise
            return await conn.request(method, target, headers, body, sink)

    def close(self) -> None:
        for conn in self._idle:
            conn.close()
        self._idle.clear()
