"""Job leases in the ``jobs`` table (:class:`dockyard.ports.JobLeases`).

Every transition is one conditional ``UPDATE``: two replicas claiming the same due job both run it, the
database settles it (on PostgreSQL the second waits for the first's row lock, then re-checks its
``WHERE`` against the committed row and changes nothing; on SQLite writers are serialised), and exactly
one sees a changed row. Nothing is read first and written later.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import or_, select, update

from dockyard.domain.jobs import JobSchedule, job_schedule
from dockyard.metadata.base import SqlStore
from dockyard.metadata.cluster_tables import jobs
from dockyard.metadata.notify import changed_and_wake
from dockyard.metadata.unit_sql import all_rows, changed

WAKE = "jobs"  # a new job, or a lease handed back before its end: other replicas' schedulers look at once


class SqlJobLeases(SqlStore):
    async def ensure(self, name: str, due_at: datetime) -> None:
        statement = self._insert(jobs).values(name=name, due_at=due_at)
        statement = statement.on_conflict_do_nothing(index_elements=["name"])
        await self._write_unit(changed_and_wake, statement, WAKE)

    async def claimable(self, now: datetime) -> JobSchedule:
        query = select(jobs.c.name, jobs.c.due_at, jobs.c.lease_until)
        rows = await self._read_unit(all_rows, query)
        return job_schedule(((r.name, r.due_at, r.lease_until) for r in rows), now)

    async def claim(self, name: str, owner: str, now: datetime, until: datetime) -> bool:
        statement = (
            update(jobs)
            .where(
                jobs.c.name == name,
                jobs.c.due_at <= now,
                or_(jobs.c.lease_until.is_(None), jobs.c.lease_until < now),
            )
            .values(lease_owner=owner, lease_until=until)
        )
        return await self._write_unit(changed, statement)

    async def renew(self, name: str, owner: str, until: datetime) -> bool:
        statement = (
            update(jobs).where(jobs.c.name == name, jobs.c.lease_owner == owner).values(lease_until=until)
        )
        return await self._write_unit(changed, statement)

    async def finish(self, name: str, owner: str, now: datetime, due_at: datetime) -> None:
        statement = (
            update(jobs)
            .where(jobs.c.name == name, jobs.c.lease_owner == owner)
            .values(
                due_at=due_at,
                lease_owner=None,
                lease_until=None,
                runs=jobs.c.runs + 1,
                last_finished_at=now,
                last_owner=owner,
            )
        )
        await self._write_unit(changed, statement)

    async def release(self, name: str, owner: str) -> None:
        statement = (
            update(jobs)
            .where(jobs.c.name == name, jobs.c.lease_owner == owner)
            .values(lease_owner=None, lease_until=None)
        )
        await self._write_unit(changed_and_wake, statement, WAKE)
