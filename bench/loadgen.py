"""Fixed-duration load: ``wrk`` (C) for GETs, a lean asyncio protocol loop for HEADs.

wrk 4.1 and h2load cannot do HEAD: their parsers wait for the ``Content-Length`` bytes a HEAD response
announces but never sends. ``ab -i`` can, but only over HTTP/1.0, whose keep-alive uvicorn ignores.
"""

from __future__ import annotations

import asyncio
import functools
import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import cast
from urllib.parse import urlsplit

from bench.http import TRAFFIC

MARK = "BENCH_JSON "
_WRK_SCRIPT = """
wrk.method = "GET"
wrk.headers["Accept"] = "%(accept)s"
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "%(mark)s{\\"requests\\": %%d, \\"duration_us\\": %%d, \\"connect\\": %%d, \\"read\\": %%d, "
    .. "\\"write\\": %%d, \\"status\\": %%d, \\"timeout\\": %%d, "
    .. "\\"mean_us\\": %%.1f, \\"p50_us\\": %%d, \\"p99_us\\": %%d}\\n",
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency:percentile(50), latency:percentile(99)))
end
"""


@dataclass(frozen=True, slots=True)
class LoadResult:
    tool: str
    requests: int
    seconds: float
    mean_ms: float
    p50_ms: float
    p99_ms: float

    @property
    def rate(self) -> float:
        return self.requests / self.seconds


def missing_tools() -> list[str]:
    return [tool for tool in ("wrk",) if shutil.which(tool) is None]


async def _output(*command: str, timeout: float) -> str:
    process = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    try:
        output, _ = await asyncio.wait_for(process.communicate(), timeout=timeout)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    text = output.decode(errors="replace")
    if process.returncode != 0:
        raise RuntimeError(f"{command[0]} failed ({process.returncode}): {text[-400:]}")
    return text


async def wrk_get(
    url: str,
    *,
    accept: str,
    connections: int,
    seconds: int,
    workdir: Path,
    authorization: str | None = None,
) -> LoadResult:
    """``connections`` keep-alive connections GETting ``url`` for ``seconds``; any error fails the run."""
    script = workdir / "wrk-get.lua"
    text = _WRK_SCRIPT % {"accept": accept, "mark": MARK}
    if authorization is not None:
        text = f'wrk.headers["Authorization"] = "{authorization}"\n' + text
    script.write_text(text)
    threads = str(min(connections, 2))
    text = await _output(
        "wrk", "-t", threads, "-c", str(connections), "-d", f"{seconds}s", "--timeout", "10s",
        "-s", str(script), url, timeout=seconds + 60,
    )  # fmt: skip
    line = next((ln for ln in text.splitlines() if ln.startswith(MARK)), None)
    if line is None:
        raise RuntimeError(f"wrk printed no summary: {text[-400:]}")
    data = json.loads(line.removeprefix(MARK))
    errors = sum(data[k] for k in ("connect", "read", "write", "status", "timeout"))
    if errors or data["requests"] == 0:
        raise RuntimeError(f"wrk saw {errors} errors on {url}: {data}")
    TRAFFIC(urlsplit(url).port or 80).add(data["requests"])
    return LoadResult(
        "wrk",
        data["requests"],
        data["duration_us"] / 1e6,
        data["mean_us"] / 1000,
        data["p50_us"] / 1000,
        data["p99_us"] / 1000,
    )


class _HeadLoop(asyncio.Protocol):
    """One keep-alive connection sending the same HEAD request back to back until the deadline."""

    def __init__(self, request: bytes, deadline: float, latencies: list[float], done: asyncio.Future[None]):
        self.request, self.deadline, self.latencies, self.done = request, deadline, latencies, done
        self.buffer = b""
        self.sent_at = 0.0
        self.transport: asyncio.WriteTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.WriteTransport, transport)  # uvloop's do not subclass asyncio's
        self._send()

    def _send(self) -> None:
        assert self.transport is not None
        self.sent_at = time.perf_counter()
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
            head, self.buffer = self.buffer[:end], self.buffer[end + 4 :]
            now = time.perf_counter()
            if not head.startswith((b"HTTP/1.1 200", b"HTTP/1.0 200")):
                self._finish(RuntimeError(f"HEAD answered {head[:40]!r}"))
                return
            self.latencies.append(now - self.sent_at)
            if now >= self.deadline:
                self._finish(None)
                return
            self._send()

    def connection_lost(self, exc: Exception | None) -> None:
        self._finish(ConnectionResetError(f"server closed a keep-alive connection: {exc}"))

    def _finish(self, error: Exception | None) -> None:
        if not self.done.done():
            if error is None:
                self.done.set_result(None)
            else:
                self.done.set_exception(error)
        if self.transport is not None:
            self.transport.close()


async def head_loop(
    host: str, port: int, path: str, *, accept: str, connections: int, seconds: int
) -> LoadResult:
    """``connections`` HTTP/1.1 keep-alive connections sending HEAD to ``path`` for ``seconds``.

    In Python because wrk, h2load and ab cannot keep HEAD going on HTTP/1.1 keep-alive; at one
    protocol callback per response it stays far below the servers' per-request cost.
    """
    request = f"HEAD {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAccept: {accept}\r\n\r\n".encode()
    loop = asyncio.get_running_loop()
    latencies: list[float] = []
    started = time.perf_counter()
    deadline = started + seconds
    done = [loop.create_future() for _ in range(connections)]
    for future in done:
        await loop.create_connection(
            functools.partial(_HeadLoop, request, deadline, latencies, future), host, port
        )
    await asyncio.wait_for(asyncio.gather(*done), timeout=seconds + 30)
    elapsed = time.perf_counter() - started
    if not latencies:
        raise RuntimeError("no HEAD request completed")
    TRAFFIC(port).add(len(latencies))
    ordered = sorted(latencies)
    return LoadResult(
        "python",
        len(ordered),
        elapsed,
        1000 * sum(ordered) / len(ordered),
        1000 * ordered[len(ordered) // 2],
        1000 * ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))],
    )
