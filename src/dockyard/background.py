"""What a server process runs besides answering requests: the job scheduler and the scan worker, wired from
the settings and the services of the composition root (:mod:`dockyard.app`), and its heap settled once
they have started. On PostgreSQL the change listener wakes both when another replica hands work over."""

from __future__ import annotations

import gc
from datetime import timedelta
from typing import TYPE_CHECKING

from dockyard.config import Settings
from dockyard.metadata.job_store import SqlJobLeases
from dockyard.scanner.builder import LayerInventoryBuilder, scanner_pool
from dockyard.services.logs import Logs
from dockyard.services.scan_runner import RunnerConfig, ScanRunner
from dockyard.services.vuln_matching import VulnMatcher
from dockyard.workers import gc as gc_job
from dockyard.workers import housekeeping
from dockyard.workers.lifecycle import lifecycle_policies
from dockyard.workers.scans import ScanWorker, vulnerability_reevaluation
from dockyard.workers.scheduler import Scheduler

# The longest an idle scheduler or scan worker sleeps: with a listener (PostgreSQL) other replicas' work
# wakes them, so they poll only as a safety net; without one (SQLite) they poll to find it.
LISTENING_POLL_SECONDS = 300.0
SCAN_POLL_SECONDS = 30.0

if TYPE_CHECKING:
    from dockyard.app import Services
    from dockyard.http.ecr.api import EcrApi


def scheduler(settings: Settings, services: Services, ecr: EcrApi, logs: Logs) -> Scheduler:
    """Background jobs, each run by one replica at a time (leases in the database)."""
    interval = timedelta(seconds=settings.housekeeping_interval_seconds)
    matcher = VulnMatcher(services.vulnerabilities, ecr.scanning.inventories)
    jobs = [
        housekeeping.upload_expiry(services.registry, interval),
        housekeeping.session_expiry(services.identity, interval),
        lifecycle_policies(ecr.lifecycle, timedelta(seconds=settings.lifecycle_interval_seconds)),
        gc_job.garbage_collection(services.gc, timedelta(seconds=settings.gc_interval_seconds)),
        vulnerability_reevaluation(matcher, timedelta(seconds=settings.scan_reevaluate_interval_seconds)),
        housekeeping.log_retention(logs, interval),
    ]
    leases = SqlJobLeases(services.engine, services.clock)
    lease = timedelta(seconds=settings.job_lease_seconds)
    listener = services.keys.listener
    # SQLite: processes sharing the file learn of each other's leases by polling, every lease (the default)
    poll = None if listener is None else _listening_poll(lease)
    jobs_scheduler = Scheduler(leases, services.clock, jobs, lease=lease, poll=poll)
    if listener is not None:
        listener.on_change("jobs", jobs_scheduler.wake)
    return jobs_scheduler


def _listening_poll(lease: timedelta) -> float:
    """How long an idle scheduler or scan worker with a listener sleeps at most: woken by notifications,
    it polls only as a safety net."""
    return max(lease.total_seconds(), LISTENING_POLL_SECONDS)


def scan_runner(settings: Settings, services: Services, ecr: EcrApi, *, processes: bool = True) -> ScanRunner:
    """Runs one scan; with ``processes`` the layers are read in a pool of scanner processes."""
    scanning = ecr.scanning
    matcher = VulnMatcher(services.vulnerabilities, scanning.inventories)
    memory = settings.scan_memory_limit_mib * 1024 * 1024
    return ScanRunner(
        services.registry,
        scanning.store,
        scanning.inventories,
        matcher,
        LayerInventoryBuilder(),
        services.clock,
        RunnerConfig(settings.data_dir / "scan-scratch"),
        pool=(lambda: scanner_pool(settings.scan_concurrency, memory)) if processes else None,
    )


def scan_worker(settings: Settings, services: Services, ecr: EcrApi) -> ScanWorker:
    """The scan worker of this process: its scans run in a pool of scanner processes."""
    scanning = ecr.scanning
    runner = scan_runner(settings, services, ecr)
    lease = timedelta(seconds=max(settings.job_lease_seconds, 60))
    listener = services.keys.listener
    poll = SCAN_POLL_SECONDS if listener is None else _listening_poll(lease)
    worker = ScanWorker(
        scanning.store, runner, services.clock, concurrency=settings.scan_concurrency, lease=lease, poll=poll
    )
    scanning.wake = worker.wake
    if listener is not None and settings.scan_concurrency:
        listener.on_change("image_scans", worker.wake)
    return worker


def settle_heap() -> None:
    """Collect once, then move every object alive after start-up (modules, botocore's service models, the
    SQLAlchemy tables: about 200,000) out of the collector's reach, so a full collection scans only what
    came since. Measured on the 2-core test machine: a full collection of the started app took 93 to 99 ms
    of CPU, and 0.002 ms after the freeze."""
    gc.collect()
    gc.freeze()
