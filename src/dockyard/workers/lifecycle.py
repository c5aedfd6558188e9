"""The scheduled lifecycle run: every repository's policy, on one replica at a time (under a lease)."""

from __future__ import annotations

import logging
from datetime import timedelta

from dockyard.services.lifecycle import Lifecycle
from dockyard.workers.scheduler import Job

log = logging.getLogger("dockyard.jobs")


def lifecycle_policies(lifecycle: Lifecycle, interval: timedelta) -> Job:
    """Run each repository's lifecycle policy (idempotent: a repeated run finds nothing more to expire)."""

    async def run() -> int:
        expired = await lifecycle.run_all()
        if expired:
            log.info("lifecycle run", extra={"count": expired})
        return expired

    return Job("lifecycle-policies", interval, run)
