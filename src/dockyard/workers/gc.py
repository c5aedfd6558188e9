"""The garbage collection job: one run every ``gc_interval_seconds``, on one replica at a time."""

from __future__ import annotations

from datetime import timedelta

from dockyard.services.gc import GarbageCollector
from dockyard.workers.scheduler import Job


def garbage_collection(collector: GarbageCollector, interval: timedelta) -> Job:
    """Reclaim what nothing references (``docs/gc.md``); an interrupted run is finished by the next."""

    async def run() -> None:
        await collector.collect()

    return Job("gc", interval, run)
