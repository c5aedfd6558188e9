"""The scan worker: runs queued image scans, at most ``concurrency`` at a time on this replica.

Scans are queued in the database (:mod:`dockyard.metadata.scan_store`), so every replica's worker takes
from the same queue; a claim is one conditional ``UPDATE``, so each queued scan runs on one replica. The
worker renews its leases while a scan runs; a replica that dies leaves its scans to be claimed again when
their leases lapse. It is woken at once by a scan queued in this process (:meth:`wake`) and when one of its
scans ends, and on PostgreSQL by another replica's (a scan queued or handed back there notifies every
listener). Otherwise it looks again when the soonest queued scan may be claimed (a retry's time, a dead
replica's lease end), at most every ``poll`` seconds: how it finds, on SQLite, scans queued by another
process whose slots were full.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from dockyard.metadata.scan_store import ClaimedScan, ScanStore
from dockyard.ports import Clock
from dockyard.services.scan_runner import ScanRunner
from dockyard.services.vuln_matching import VulnMatcher
from dockyard.workers.scheduler import Job, doze, pause_until, replica_id, stop_tasks

log = logging.getLogger("dockyard.scanning")
MIN_PAUSE = 0.05  # seconds


class ScanWorker:
    def __init__(
        self,
        store: ScanStore,
        runner: ScanRunner,
        clock: Clock,
        *,
        concurrency: int = 2,
        lease: timedelta = timedelta(minutes=2),
        poll: float = 30.0,
        owner: str | None = None,
    ) -> None:
        self.store = store
        self.runner = runner
        self.clock = clock
        self.concurrency = concurrency
        self.lease = lease
        self.poll = poll
        self.owner = owner or replica_id()
        self._bell = asyncio.Event()
        self._running: dict[int, asyncio.Task[None]] = {}
        self._loop: asyncio.Task[None] | None = None

    def wake(self) -> None:
        self._bell.set()

    async def start(self) -> None:
        self._loop = asyncio.create_task(self._forever(), name="dockyard-scan-worker")

    async def stop(self) -> None:
        """Stop polling and cancel the scans in progress (each hands its scan back to the queue)."""
        await stop_tasks(self._loop, self._running.values())
        self._loop = None

    async def _forever(self) -> None:
        while True:
            pause = self.poll
            try:
                await self.fill()
                pause = await self.pause()
            except Exception:
                log.exception("scan scheduling failed")
            await doze(self._bell, pause)

    async def pause(self) -> float:
        """Seconds until the next look at the queue: until the soonest queued scan may be claimed (a retry's
        time, a lease's end), at most ``poll``; ``poll`` while every slot is busy (an ending scan rings)."""
        if len(self._running) >= self.concurrency:
            return self.poll
        soonest = await self.store.next_due()
        return pause_until(soonest, self.clock.now(), longest=self.poll, shortest=MIN_PAUSE)

    async def fill(self) -> int:
        """Claim queued scans up to the free slots and start them; how many started."""
        free = self.concurrency - len(self._running)
        if free <= 0:
            return 0
        now = self.clock.now()
        claimed = await self.store.claim(self.owner, now, now + self.lease, free)
        for scan in claimed:
            task = asyncio.create_task(self._run(scan), name=f"dockyard-scan-{scan.manifest_id}")
            self._running[scan.manifest_id] = task
        return len(claimed)

    async def _run(self, scan: ClaimedScan) -> None:
        heartbeat = asyncio.create_task(self._heartbeat(scan, asyncio.current_task()))
        try:
            outcome = await self.runner.run(scan, self.owner)
            log.info("scan finished", extra={"digest": scan.digest, "status": outcome})
        except asyncio.CancelledError:
            log.info("scan cancelled", extra={"digest": scan.digest})
        except Exception:
            log.exception("scan crashed", extra={"digest": scan.digest})
        finally:
            heartbeat.cancel()
            self._running.pop(scan.manifest_id, None)
            self._bell.set()  # a slot is free: look for more at once

    async def _heartbeat(self, scan: ClaimedScan, run: asyncio.Task[object] | None) -> None:
        while True:
            await asyncio.sleep(self.lease.total_seconds() / 3)
            try:
                held = await self.store.renew(scan.manifest_id, self.owner, self.clock.now() + self.lease)
            except Exception:
                log.exception("scan lease renewal failed", extra={"digest": scan.digest})
                continue
            if not held and run is not None:
                log.warning("scan lease lost", extra={"digest": scan.digest})
                run.cancel()
                return

    async def drain(self) -> None:
        """Run until no scan is queued or running (the CLI and tests)."""
        while True:
            await self.fill()
            if not self._running:
                if not await self.store.has_due(self.clock.now()):
                    return
                continue
            await asyncio.wait(list(self._running.values()), return_when=asyncio.FIRST_COMPLETED)


def vulnerability_reevaluation(matcher: VulnMatcher, interval: timedelta) -> Job:
    """Re-match stored packages after a database import (idempotent: a repeated run finds none stale), and
    drop packages no image links any more."""

    async def run() -> int:
        result = await matcher.reevaluate()
        await matcher.inventories.prune()
        return result.packages

    return Job("vulnerability-reevaluation", interval, run)
