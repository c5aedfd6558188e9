"""``idle``: what a registry costs while nobody talks to it (background jobs, pollers, keepalives).

CPU is read from each thread's ``/proc/<pid>/task/<tid>/schedstat`` (nanoseconds), not from the
10-ms ticks of ``/proc/<pid>/stat`` that the per-scenario rows use: over a window with no requests the
ticks are too coarse to tell 0.5 from 1.5 ms a second. A thread that exits within the window loses its
share; an idle server starts none.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

from bench.model import Measurement, Payloads, Target
from bench.rss import process_tree
from bench.s3pg import cpu_since

PROC = Path("/proc")


def _thread_nanoseconds(pids: list[int]) -> dict[tuple[int, int], int]:
    found: dict[tuple[int, int], int] = {}
    for pid in pids:
        with contextlib.suppress(OSError):
            for task in (PROC / str(pid) / "task").iterdir():
                with contextlib.suppress(OSError, ValueError):
                    found[(pid, int(task.name))] = int((task / "schedstat").read_text().split()[0])
    return found


def _since(before: dict[tuple[int, int], int], after: dict[tuple[int, int], int]) -> float:
    """Seconds of CPU the threads alive at ``after`` used since ``before`` (new ones: all of theirs)."""
    return sum(max(ns - before.get(key, 0), 0) for key, ns in after.items()) / 1e9


async def idle(target: Target, payloads: Payloads) -> list[Measurement]:
    seconds = payloads.sizes.idle_seconds
    await asyncio.sleep(1.0)  # let the previous scenario's last responses settle
    pids = process_tree(target.server.pid)
    before, db_before = _thread_nanoseconds(pids), await _db(target)
    started = time.monotonic()
    await asyncio.sleep(seconds)
    elapsed = time.monotonic() - started
    server = _since(before, _thread_nanoseconds(process_tree(target.server.pid)))
    detail = {"server_ms_per_s": 1000 * server / elapsed}
    total = server
    if target.db is not None:
        database = cpu_since(db_before, await _db(target))
        detail["db_ms_per_s"] = 1000 * database / elapsed
        total += database
    label = f"idle: server CPU per second, {seconds:.0f} s without requests"
    return [Measurement("idle.cpu", label, "ms/s", False, 1000 * total / elapsed, detail)]


async def _db(target: Target) -> dict[int, float]:
    return {} if target.db is None else await target.db.backend_cpu_seconds()
