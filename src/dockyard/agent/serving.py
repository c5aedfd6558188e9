"""Serving the agent's two loopback endpoints with uvicorn inside the agent's own event loop.

uvicorn's ``Server.serve`` normally takes over SIGINT and SIGTERM; here the agent owns the signals (it
stops both servers itself), so that is switched off. Its access log is off too: the agent logs no request
lines, and nothing of a credentials request (the role name is in its path) reaches a log.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator

import uvicorn
from starlette.types import ASGIApp


class _QuietServer(uvicorn.Server):
    """No signal handlers; and a stop takes effect at once rather than at uvicorn's next 0.1 s tick."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.stopping = asyncio.Event()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def main_loop(self) -> None:
        counter = 0
        while not await self.on_tick(counter):
            counter = (counter + 1) % 864000
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), 0.1)


class LoopbackServer:
    """One ASGI app on ``127.0.0.1:<port>`` (``port`` 0: a free one, see ``.port`` once started)."""

    def __init__(self, app: ASGIApp, port: int, host: str = "127.0.0.1") -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((host, port))
        self.host = host
        self.port: int = self._socket.getsockname()[1]
        config = uvicorn.Config(
            app, log_config=None, access_log=False, lifespan="off", log_level="warning", server_header=False
        )
        self._server = _QuietServer(config)
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        """Serve in the background; returns once the socket accepts connections."""
        self._task = asyncio.create_task(self._server.serve(sockets=[self._socket]))
        while not self._server.started:
            if self._task.done():
                self._task.result()  # raises what stopped it
                raise RuntimeError("the server exited during startup")
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        if self._task is None:
            self._socket.close()
            return
        self._server.should_exit = True
        self._server.force_exit = True  # requests here are short: do not wait for idle keep-alives
        self._server.stopping.set()
        await self._task
        self._socket.close()
