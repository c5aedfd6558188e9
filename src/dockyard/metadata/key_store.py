"""Server key rings in the database (``server_keys``), one sealed value per purpose.

Values are opaque here (the service seals them); what this store guarantees is the concurrency: the
first ring is created by whichever replica gets there first and every other reads that one
(``ON CONFLICT DO NOTHING``, then a read), and a rotation reads and rewrites the row under a row lock.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select, update
from sqlalchemy.engine import Connection

from dockyard.metadata.base import SqlStore
from dockyard.metadata.cluster_tables import server_keys


class SqlKeyStore(SqlStore):
    async def load(self, purpose: str) -> bytes | None:
        return await self._read_unit(_sealed, purpose, False)

    async def create(self, purpose: str, sealed: bytes) -> bytes:
        """Store ``sealed`` unless a value is there already; the value that is stored now."""
        return await self._write_unit(self._create, purpose, sealed)

    def _create(self, conn: Connection, purpose: str, sealed: bytes) -> bytes:
        conn.execute(
            self._insert(server_keys)
            .values(purpose=purpose, sealed=sealed, updated_at=self._clock.now())
            .on_conflict_do_nothing(index_elements=["purpose"])
        )
        found = _sealed(conn, purpose, False)
        assert found is not None
        return found

    async def replace(self, purpose: str, change: Callable[[bytes | None], bytes]) -> bytes:
        """``change(current)`` stored in place of the current value, atomically; the new value."""
        return await self._write_unit(self._replace, purpose, change)

    def _replace(self, conn: Connection, purpose: str, change: Callable[[bytes | None], bytes]) -> bytes:
        current = _sealed(conn, purpose, True)
        new = change(current)
        if current is None:
            conn.execute(
                server_keys.insert().values(purpose=purpose, sealed=new, updated_at=self._clock.now())
            )
        else:
            conn.execute(
                update(server_keys)
                .where(server_keys.c.purpose == purpose)
                .values(sealed=new, updated_at=self._clock.now())
            )
        return new


def _sealed(conn: Connection, purpose: str, lock: bool) -> bytes | None:
    query = select(server_keys.c.sealed).where(server_keys.c.purpose == purpose)
    if lock:
        query = query.with_for_update()
    value = conn.execute(query).scalar()
    return None if value is None else bytes(value)
