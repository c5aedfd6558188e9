"""What a run is given (sizes, the server under test) and what a scenario gives back (measurements)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from bench.http import Pool
from bench.payload import Blob
from bench.registry import RegistryClient
from bench.servers import HOST, Server

if TYPE_CHECKING:
    from bench.s3pg import Database

MIB = 1 << 20


@dataclass(frozen=True)
class Sizes:
    big_blob: int = 512 * MIB
    chunk: int = 8 * MIB
    pull_clients: int = 8
    pull_rounds: int = 5
    small_count: int = 2000
    small_size: int = 4096
    concurrency: int = 16
    manifest_count: int = 2000
    wrk_seconds: int = 5
    wrk_connections: tuple[int, ...] = (1, 16, 64)
    tag_count: int = 10_000
    repo_count: int = 1000
    image_clients: int = 200
    image_layers: tuple[int, ...] = (8 * MIB, 4 * MIB, 2 * MIB, 1 * MIB, 1 * MIB)
    inline_verify: bool = False
    idle_seconds: float = 30.0


QUICK = Sizes(
    big_blob=32 * MIB,
    pull_clients=4,
    pull_rounds=1,
    small_count=200,
    manifest_count=200,
    wrk_seconds=1,
    tag_count=500,
    repo_count=100,
    image_clients=20,
    image_layers=(MIB, MIB // 2, MIB // 4, 64 * 1024, 4096),
    idle_seconds=5.0,
)


@dataclass(frozen=True, slots=True)
class Measurement:
    key: str
    label: str
    unit: str
    higher_is_better: bool
    value: float | None
    detail: dict[str, float] = field(default_factory=dict)


class Payloads:
    """Random content made once per run and pushed, byte for byte the same, to every registry."""

    def __init__(self, sizes: Sizes) -> None:
        self.sizes = sizes

    @cached_property
    def big(self) -> Blob:
        return Blob.random(self.sizes.big_blob)

    @cached_property
    def big_chunked(self) -> Blob:
        """A second large blob (so the chunked push never finds the monolithic one already stored)."""
        return Blob.of(bytes(32) + self.big.data[32:])

    @cached_property
    def small(self) -> list[Blob]:
        return [Blob.random(self.sizes.small_size) for _ in range(self.sizes.small_count)]

    @cached_property
    def small_single(self) -> list[Blob]:
        return [Blob.random(self.sizes.small_size) for _ in range(self.sizes.small_count)]

    @cached_property
    def layers(self) -> list[Blob]:
        return [Blob.random(size) for size in self.sizes.image_layers]


@dataclass
class Target:
    """One registry under test, with a connection pool sized for the scenarios' concurrency."""

    server: Server
    workdir: Path
    db: Database | None = None  # the server's PostgreSQL database (``--storage s3pg``, Dockyard)
    pool: Pool = field(init=False)

    def __post_init__(self) -> None:
        self.pool = Pool(HOST, self.server.port, 64)

    @property
    def client(self) -> RegistryClient:
        return RegistryClient(self.pool)

    def url(self, path: str) -> str:
        return f"http://{HOST}:{self.server.port}{path}"

    async def settle(self, *, quiet_ms: float = 1.0, step: float = 0.25, at_most: float = 10.0) -> None:
        """Wait until the server spends under ``quiet_ms`` of CPU in ``step`` seconds (at most ``at_most``
        seconds), so that the tail of a set-up request (buffers freed, connections returned after the
        response went out) is not counted in the phase measured next. Both registries wait alike."""
        deadline = time.perf_counter() + at_most
        before = self.server.cpu.seconds()
        while time.perf_counter() < deadline:
            await asyncio.sleep(step)
            now = self.server.cpu.seconds()
            if (now - before) * 1000 < quiet_ms:
                return
            before = now

    async def db_cpu(self) -> dict[int, float]:
        """CPU seconds of the server's database backends, by pid (none: no database of its own)."""
        return {} if self.db is None else await self.db.backend_cpu_seconds()


async def timed(action: Awaitable[object]) -> float:
    started = time.perf_counter()
    await action
    return time.perf_counter() - started


async def run_concurrently(count: int, concurrency: int, op: Callable[[int], Awaitable[None]]) -> float:
    """Run ``op(0) … op(count - 1)`` on ``concurrency`` workers; return the wall time in seconds."""
    indexes = iter(range(count))

    async def worker() -> None:
        for index in indexes:
            await op(index)

    return await timed(asyncio.gather(*(worker() for _ in range(concurrency))))
