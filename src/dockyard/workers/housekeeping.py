"""The jobs every registry runs: expiry of abandoned uploads, of long-expired STS sessions and of log
events past their group's retention."""

from __future__ import annotations

import logging
from datetime import timedelta

from dockyard.services.identity import IdentityService
from dockyard.services.logs import Logs
from dockyard.services.registry import RegistryService
from dockyard.workers.scheduler import Job

log = logging.getLogger("dockyard.jobs")

SESSION_GRACE = timedelta(days=1)  # expired sessions are kept a day, so their keys answer ExpiredToken


def upload_expiry(registry: RegistryService, interval: timedelta) -> Job:
    """Remove upload sessions (and their bytes) idle past ``upload_expiry_hours``."""

    async def run() -> int:
        removed = await registry.expire_uploads()
        if removed:
            log.info("expired uploads", extra={"count": removed})
        return removed

    return Job("expire-uploads", interval, run)


def session_expiry(identity: IdentityService, interval: timedelta) -> Job:
    """Delete STS sessions that expired more than a day ago."""

    async def run() -> None:
        await identity.store.delete_expired_sessions(identity.clock.now() - SESSION_GRACE)

    return Job("expire-sessions", interval, run)


def log_retention(logs: Logs, interval: timedelta) -> Job:
    """Delete log events their group's retention no longer keeps (reads hide them already)."""

    async def run() -> int:
        deleted = await logs.expire()
        if deleted:
            log.info("expired log events", extra={"count": deleted})
        return deleted

    return Job("expire-log-events", interval, run)
