"""A round-robin HTTP/1.1 load balancer for tests, on asyncio streams (standard library only).

Every *request* (not every connection) goes to the next upstream in turn, so one client connection's
requests — a blob upload's POST, PATCHes and PUT — land on different replicas, as behind a balancer without
stickiness. Bodies are streamed both ways (``Content-Length`` or chunked, never buffered whole); the
``Host`` header is passed through; each upstream request uses a new connection (``Connection: close``)
while the client's connection is kept alive. An upstream that refuses the connection is skipped (passive
health check), so a killed replica does not fail the requests that follow.

    python tests/replicas/proxy.py --port 5000 http://127.0.0.1:5001 http://127.0.0.1:5002 ...

In tests: ``with RoundRobinProxy(urls).running() as url: ...``; ``proxy.log`` lists
``(upstream index, method, path)`` per request forwarded.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import threading
from collections.abc import Iterator
from urllib.parse import urlsplit

HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "te", "trailer", "upgrade"}
COPY_SIZE = 256 * 1024
READ_LIMIT = 1 << 20


class Upstreams:
    """The ``host:port`` pairs to balance over, handed out in turn."""

    def __init__(self, urls: list[str]) -> None:
        self.addresses: list[tuple[str, int]] = []
        for url in urls:
            parts = urlsplit(url)
            if not parts.hostname or not parts.port:
                raise ValueError(f"an upstream needs a host and a port: {url}")
            self.addresses.append((parts.hostname, parts.port))
        self._turn = itertools.count()

    async def connect(self) -> tuple[int, asyncio.StreamReader, asyncio.StreamWriter]:
        """A connection to the next upstream that accepts one."""
        error: OSError | None = None
        for _ in range(len(self.addresses)):
            index = next(self._turn) % len(self.addresses)
            host, port = self.addresses[index]
            try:
                reader, writer = await asyncio.open_connection(host, port, limit=READ_LIMIT)
            except OSError as exc:
                error = exc
                continue
            return index, reader, writer
        raise ConnectionError(f"no upstream accepted a connection: {error}")


def _parse_head(raw: bytes) -> tuple[str, list[tuple[str, str]]]:
    first, *lines = raw.decode("latin-1").split("\r\n")
    headers = []
    for line in lines:
        if line:
            name, _, value = line.partition(":")
            headers.append((name.strip(), value.strip()))
    return first, headers


def _get(headers: list[tuple[str, str]], name: str) -> str | None:
    for key, value in headers:
        if key.lower() == name:
            return value
    return None


def _head(first: str, headers: list[tuple[str, str]], extra: list[str]) -> bytes:
    kept = [f"{k}: {v}" for k, v in headers if k.lower() not in HOP_BY_HOP]
    return ("\r\n".join([first, *kept, *extra]) + "\r\n\r\n").encode("latin-1")


async def _read_head(reader: asyncio.StreamReader) -> bytes | None:
    try:
        return await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if exc.partial.strip():
            raise ConnectionResetError("connection closed inside a message head") from exc
        return None


async def _copy_exactly(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, length: int) -> None:
    remaining = length
    while remaining > 0:
        data = await reader.read(min(remaining, COPY_SIZE))
        if not data:
            raise ConnectionResetError(f"body ended {remaining} bytes early")
        remaining -= len(data)
        writer.write(data)
        await writer.drain()


async def _copy_chunked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy a chunked body as is, framing included, up to and including its trailer."""
    while True:
        size_line = await reader.readuntil(b"\r\n")
        writer.write(size_line)
        size = int(size_line.split(b";", 1)[0].strip(), 16)
        if size == 0:
            while (line := await reader.readuntil(b"\r\n")) != b"\r\n":
                writer.write(line)
            writer.write(b"\r\n")
            await writer.drain()
            return
        await _copy_exactly(reader, writer, size + 2)


async def _copy_body(
    headers: list[tuple[str, str]], reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> bool:
    """Copy the body the headers announce; ``False`` when it had no framing (then it is not copied)."""
    if "chunked" in (_get(headers, "transfer-encoding") or "").lower():
        await _copy_chunked(reader, writer)
    elif (length := _get(headers, "content-length")) is not None:
        await _copy_exactly(reader, writer, int(length))
    else:
        return False
    return True


class RoundRobinProxy:
    def __init__(self, urls: list[str]) -> None:
        self.upstreams = Upstreams(urls)
        self.log: list[tuple[int, str, str]] = []

    async def handle(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            while await self._one(client_reader, client_writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            client_writer.close()
            with contextlib.suppress(ConnectionError):
                await client_writer.wait_closed()

    async def _one(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> bool:
        """Forward one request and its response; whether the client connection stays open."""
        raw = await _read_head(client_reader)
        if raw is None:
            return False
        request_line, headers = _parse_head(raw)
        method, target, _version = request_line.split(" ", 2)
        index, up_reader, up_writer = await self.upstreams.connect()
        self.log.append((index, method, target))
        try:
            up_writer.write(_head(request_line, headers, ["Connection: close"]))
            try:
                await _copy_body(headers, client_reader, up_writer)  # a request without framing has no body
            except (BrokenPipeError, ConnectionResetError):
                client_reading_done = False  # the upstream answered early and closed: relay it, then close
            else:
                client_reading_done = True
            response = await _read_head(up_reader)
            while response is not None and response.startswith(b"HTTP/1.1 1"):  # interim answers
                response = await _read_head(up_reader)
            if response is None:
                raise ConnectionResetError("the upstream closed without answering")
            status_line, response_headers = _parse_head(response)
            status = int(status_line.split(" ", 2)[1])
            keep_alive = client_reading_done and (_get(headers, "connection") or "").lower() != "close"
            no_body = method == "HEAD" or status in (204, 304)
            delimited = no_body or any(
                _get(response_headers, name) is not None for name in ("content-length", "transfer-encoding")
            )
            keep_alive = keep_alive and delimited
            extra = [] if keep_alive else ["Connection: close"]
            client_writer.write(_head(status_line, response_headers, extra))
            if not no_body and not await _copy_body(response_headers, up_reader, client_writer):
                while data := await up_reader.read(COPY_SIZE):  # delimited by the upstream closing
                    client_writer.write(data)
                    await client_writer.drain()
            await client_writer.drain()
            return keep_alive
        finally:
            up_writer.close()

    async def serve(self, host: str, port: int) -> asyncio.Server:
        return await asyncio.start_server(self.handle, host, port, limit=READ_LIMIT)

    @contextlib.contextmanager
    def running(self, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
        """Serve on ``host:port`` (0: a free port) from a thread with its own event loop; the proxy's URL."""
        loop = asyncio.new_event_loop()
        server = loop.run_until_complete(self.serve(host, port))
        thread = threading.Thread(target=loop.run_forever, daemon=True)
        thread.start()
        try:
            yield f"http://{host}:{server.sockets[0].getsockname()[1]}"
        finally:

            async def shut() -> None:
                server.close()
                for task in asyncio.all_tasks():
                    if task is not asyncio.current_task():
                        task.cancel()

            asyncio.run_coroutine_threadsafe(shut(), loop).result(10)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(10)
            loop.close()


async def _main(args: argparse.Namespace) -> None:
    proxy = RoundRobinProxy(args.upstream)
    server = await proxy.serve(args.host, args.port)
    print(f"round-robin proxy on http://{args.host}:{args.port} -> {', '.join(args.upstream)}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("upstream", nargs="+", help="http://host:port of each replica")
    asyncio.run(_main(parser.parse_args()))
