"""``idle``: what a registry costs while nobody talks to it (background jobs, pollers, keepalives).

The server's CPU comes from its meter (``bench/cpu.py``: its own control group where the bench may make
one, nanoseconds; otherwise clock ticks, too coarse for this figure over a short window), its database
backends' from ``/proc`` as in the other scenarios.
"""

from __future__ import annotations

import asyncio
import time

from bench.model import Measurement, Payloads, Target
from bench.s3pg import cpu_since


async def idle(target: Target, payloads: Payloads) -> list[Measurement]:
    seconds = payloads.sizes.idle_seconds
    await asyncio.sleep(1.0)  # let the previous scenario's last responses settle
    before, db_before = target.server.cpu.seconds(), await target.db_cpu()
    started = time.monotonic()
    await asyncio.sleep(seconds)
    elapsed = time.monotonic() - started
    server = target.server.cpu.seconds() - before
    detail = {"server_ms_per_s": 1000 * server / elapsed}
    total = server
    if target.db is not None:
        database = cpu_since(db_before, await target.db_cpu())
        detail["db_ms_per_s"] = 1000 * database / elapsed
        total += database
    label = f"idle: server CPU per second, {seconds:.0f} s without requests"
    return [Measurement("idle.cpu", label, "ms/s", False, 1000 * total / elapsed, detail)]
