"""SQL for image scanning: registry scanning configurations, the scan queue and scan states.

``image_scans`` is also the queue. A scan is queued as ``IN_PROGRESS`` with no lease; a worker claims it with
one conditional ``UPDATE`` (the job-lease pattern of :mod:`dockyard.metadata.job_store`), so across replicas
each queued scan runs once at a time; a worker that dies holds it until its lease lapses, then another one
takes it. Inventories and matches are in :mod:`dockyard.metadata.scan_inventory`. Schema:
:mod:`dockyard.metadata.scan_tables`.
"""

from __future__ import annotations

import random
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, or_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from dockyard.metadata.base import SqlStore
from dockyard.metadata.notify import changed_and_wake
from dockyard.metadata.scan_tables import image_scans, scan_registry_configs
from dockyard.metadata.tables import manifests, repositories
from dockyard.metadata.unit_sql import all_rows, changed, first
from dockyard.ports import ChangeSignal, Clock

IN_PROGRESS = "IN_PROGRESS"
# a scan queued, retried or handed back: every replica's scan worker looks at once (PostgreSQL delivers
# a transaction's identical notifications once)
WAKE = "image_scans"


@dataclass(frozen=True, slots=True)
class RegistryScanConfig:
    scan_type: str
    rules: list[dict[str, Any]]
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class ScanState:
    manifest_id: int
    status: str
    description: str | None
    requested_at: datetime
    completed_at: datetime | None
    os_id: str | None = None
    os_version: str | None = None
    os_name: str | None = None
    os_codename: str | None = None


@dataclass(frozen=True, slots=True)
class ClaimedScan:
    """A queued scan this worker holds: which image, and how many attempts came before."""

    manifest_id: int
    account_id: str
    repository: str
    digest: str
    attempts: int


class QuotaExceeded(Exception):
    """An on-demand scan of the image was started less than the quota interval ago."""


class ScanStore(SqlStore):
    def __init__(self, engine: AsyncEngine, clock: Clock, settings_signal: ChangeSignal) -> None:
        """``settings_signal`` is bumped when a registry scanning configuration changes (it is cached)."""
        super().__init__(engine, clock)
        self._settings_signal = settings_signal

    # -- registry configuration -----------------------------------------------------------------------

    async def registry_config(self, account: str) -> RegistryScanConfig | None:
        query = select(scan_registry_configs).where(scan_registry_configs.c.account_id == account)
        row = await self._read_unit(first, query)
        return None if row is None else RegistryScanConfig(row.scan_type, list(row.rules), row.updated_at)

    async def put_registry_config(self, account: str, scan_type: str, rules: list[dict[str, Any]]) -> None:
        values = {"scan_type": scan_type, "rules": rules, "updated_at": self._clock.now()}
        statement = self._insert(scan_registry_configs).values(account_id=account, **values)
        statement = statement.on_conflict_do_update(index_elements=["account_id"], set_=values)
        try:
            await self._write_unit(changed, statement)
        finally:
            self._settings_signal.bump()

    # -- requests -------------------------------------------------------------------------------------

    async def request(self, manifest_ids: Collection[int], now: datetime) -> None:
        """Queue a scan of each image (push-triggered: no quota); a queued one stays queued."""
        if manifest_ids:
            await self._write_unit(_request_many, self._insert(image_scans), list(manifest_ids), now)

    async def request_manual(self, manifest_id: int, now: datetime, quota_since: datetime | None) -> None:
        """Queue an on-demand scan; :class:`QuotaExceeded` when one was started after ``quota_since``."""
        if not await self._write_unit(
            _request_manual, self._insert(image_scans), manifest_id, now, quota_since
        ):
            raise QuotaExceeded()

    # -- the worker's side ----------------------------------------------------------------------------

    async def claim(self, owner: str, now: datetime, until: datetime, limit: int) -> list[ClaimedScan]:
        """Up to ``limit`` due scans, now leased to ``owner`` (each by a conditional ``UPDATE``)."""
        # More candidates than slots, in random order: replicas polling at once mostly try different rows,
        # and one that loses a race goes on to the next instead of coming back with nothing.
        candidates = await self._read_unit(all_rows, _due(now).limit(limit * 4))
        random.shuffle(candidates)
        claimed: list[ClaimedScan] = []
        for row in candidates:
            if len(claimed) == limit:
                break
            if await self._write_unit(changed, _claim(row.manifest_id, owner, now, until)):
                claimed.append(
                    ClaimedScan(row.manifest_id, row.account_id, row.name, row.digest, row.attempts)
                )
        return claimed

    async def claim_one(
        self, manifest_id: int, owner: str, now: datetime, until: datetime
    ) -> ClaimedScan | None:
        """The scan of ``manifest_id`` leased to ``owner``, if it is queued and nobody holds it."""
        rows = await self._read_unit(all_rows, _due(now).where(image_scans.c.manifest_id == manifest_id))
        if not rows or not await self._write_unit(changed, _claim(manifest_id, owner, now, until)):
            return None
        row = rows[0]
        return ClaimedScan(row.manifest_id, row.account_id, row.name, row.digest, row.attempts)

    async def next_due(self) -> datetime | None:
        """The soonest a queued scan may become claimable: an unheld one's ``not_before``, or a held one's
        lease end (``None``: the queue is empty)."""
        return await self._read_unit(_next_due)

    async def has_due(self, now: datetime) -> bool:
        return bool(await self._read_unit(all_rows, _due(now).limit(1)))

    async def renew(self, manifest_id: int, owner: str, until: datetime) -> bool:
        statement = _held(manifest_id, owner).values(lease_until=until)
        return await self._write_unit(changed, statement)

    async def retry(self, manifest_id: int, owner: str, at: datetime, reason: str) -> bool:
        """Give a failed attempt back to the queue, due again at ``at``."""
        statement = _held(manifest_id, owner).values(
            lease_owner=None,
            lease_until=None,
            not_before=at,
            attempts=image_scans.c.attempts + 1,
            description=reason,
        )
        return await self._write_unit(changed_and_wake, statement, WAKE)

    async def finish(self, manifest_id: int, owner: str, status: str, reason: str | None) -> bool:
        """End a scan that produced no inventory (``FAILED``, ``UNSUPPORTED_IMAGE``)."""
        statement = _held(manifest_id, owner).values(
            status=status,
            description=reason,
            completed_at=self._clock.now(),
            lease_owner=None,
            lease_until=None,
            attempts=image_scans.c.attempts + 1,
        )
        return await self._write_unit(changed, statement)

    async def release(self, manifest_id: int, owner: str) -> None:
        """Hand a scan back untouched (this worker is shutting down)."""
        statement = _held(manifest_id, owner).values(lease_owner=None, lease_until=None)
        await self._write_unit(changed_and_wake, statement, WAKE)

    # -- reads ----------------------------------------------------------------------------------------

    async def states(self, manifest_ids: Collection[int]) -> dict[int, ScanState]:
        if not manifest_ids:
            return {}
        query = select(image_scans).where(image_scans.c.manifest_id.in_(list(manifest_ids)))
        return {row.manifest_id: _state(row) for row in await self._read_unit(all_rows, query)}

    async def manifest_id(self, repository_id: int, digest: str) -> int | None:
        query = select(manifests.c.id).where(
            manifests.c.repository_id == repository_id, manifests.c.digest == digest
        )
        row = await self._read_unit(first, query)
        return None if row is None else int(row.id)

    async def queue_length(self) -> int:
        query = select(func.count()).select_from(image_scans).where(image_scans.c.status == IN_PROGRESS)
        row = await self._read_unit(first, query)
        return int(row[0])


def _state(row: Any) -> ScanState:
    return ScanState(
        row.manifest_id,
        row.status,
        row.description,
        row.requested_at,
        row.completed_at,
        row.os_id,
        row.os_version,
        row.os_name,
        row.os_codename,
    )


def _queued(manifest_id: int, now: datetime) -> dict[str, Any]:
    return {
        "manifest_id": manifest_id,
        "status": IN_PROGRESS,
        "description": None,
        "requested_at": now,
        "started_at": None,
        "attempts": 0,
        "not_before": now,
        "lease_owner": None,
        "lease_until": None,
    }


def _request_many(conn: Connection, insert: Any, manifest_ids: Sequence[int], now: datetime) -> None:
    for manifest_id in manifest_ids:
        values = _queued(manifest_id, now)
        requeue = {k: v for k, v in values.items() if k != "manifest_id"}
        statement = insert.values(**values).on_conflict_do_update(
            index_elements=["manifest_id"],
            set_=requeue,
            where=image_scans.c.status != IN_PROGRESS,
        )
        changed_and_wake(conn, statement, WAKE)


def _request_manual(
    conn: Connection, insert: Any, manifest_id: int, now: datetime, quota_since: datetime | None
) -> bool:
    values = {**_queued(manifest_id, now), "manual_at": now}
    requeue = {k: v for k, v in values.items() if k != "manifest_id"}
    where: ColumnElement[bool] | None = None  # no quota: always requeue
    if quota_since is not None:
        where = or_(image_scans.c.manual_at.is_(None), image_scans.c.manual_at <= quota_since)
    statement = insert.values(**values).on_conflict_do_update(
        index_elements=["manifest_id"], set_=requeue, where=where
    )
    return changed_and_wake(conn, statement, WAKE)


def _next_due(conn: Connection) -> datetime | None:
    queued = image_scans.c.status == IN_PROGRESS
    unheld = select(func.min(image_scans.c.not_before)).where(queued, image_scans.c.lease_until.is_(None))
    held = select(func.min(image_scans.c.lease_until)).where(queued, image_scans.c.lease_until.is_not(None))
    times = [conn.execute(unheld).scalar(), conn.execute(held).scalar()]
    found = [time for time in times if time is not None]
    return min(found, default=None)


def _due(now: datetime) -> Any:
    return (
        select(
            image_scans.c.manifest_id,
            image_scans.c.attempts,
            manifests.c.digest,
            repositories.c.account_id,
            repositories.c.name,
        )
        .select_from(
            image_scans.join(manifests, manifests.c.id == image_scans.c.manifest_id).join(
                repositories, repositories.c.id == manifests.c.repository_id
            )
        )
        .where(
            image_scans.c.status == IN_PROGRESS,
            image_scans.c.not_before <= now,
            or_(image_scans.c.lease_until.is_(None), image_scans.c.lease_until < now),
        )
        .order_by(image_scans.c.not_before, image_scans.c.manifest_id)
    )


def _claim(manifest_id: int, owner: str, now: datetime, until: datetime) -> Any:
    return (
        update(image_scans)
        .where(
            image_scans.c.manifest_id == manifest_id,
            image_scans.c.status == IN_PROGRESS,
            image_scans.c.not_before <= now,
            or_(image_scans.c.lease_until.is_(None), image_scans.c.lease_until < now),
        )
        .values(lease_owner=owner, lease_until=until, started_at=now)
    )


def _held(manifest_id: int, owner: str) -> Any:
    return update(image_scans).where(
        image_scans.c.manifest_id == manifest_id,
        image_scans.c.lease_owner == owner,
        image_scans.c.status == IN_PROGRESS,
    )
