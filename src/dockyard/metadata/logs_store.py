"""SQL for CloudWatch Logs: groups, streams and events (schema: :mod:`dockyard.metadata.logs_tables`).

Each PutLogEvents call is one unit of work: the stream row's aggregates move and the events are inserted
together, or neither. Names sort byte-wise on every backend (``COLLATE "C"`` on PostgreSQL), as AWS sorts
them ("ASCII-sorted"). Nothing here is cached, so no write bumps the change signal.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Select,
    and_,
    case,
    cast,
    delete,
    func,
    select,
    tuple_,
    update,
)
from sqlalchemy.engine import Connection

from dockyard.domain.logs import DAY_MS, InputEvent, Position, message_bytes
from dockyard.metadata.base import SqlStore
from dockyard.metadata.logs_tables import log_events, log_groups, log_streams
from dockyard.metadata.unit_sql import all_rows, changed, first

EXPIRE_BATCH = 5000  # events deleted per transaction by retention


@dataclass(frozen=True, slots=True)
class LogGroupRow:
    id: int
    account_id: str
    name: str
    created_ms: int
    retention_days: int | None
    log_group_class: str
    stored_bytes: int = 0


@dataclass(frozen=True, slots=True)
class LogStreamRow:
    id: int
    name: str
    created_ms: int
    first_event_ms: int | None
    last_event_ms: int | None
    last_ingestion_ms: int | None
    upload_sequence: int


@dataclass(frozen=True, slots=True)
class StoredEvent:
    position: Position
    ingestion_ms: int
    message: str
    stream: str


@dataclass(frozen=True, slots=True)
class GroupQuery:
    names: tuple[str, ...] | None = None
    prefix: str | None = None
    pattern: str | None = None  # case-sensitive substring
    classes: tuple[str, ...] = ()
    after: str | None = None
    limit: int = 50


@dataclass(frozen=True, slots=True)
class StreamQuery:
    prefix: str | None = None
    by_last_event: bool = False
    descending: bool = False
    after: tuple[int, str] | None = None  # (last event or -1, name) when by_last_event, else (0, name)
    limit: int = 50


@dataclass(frozen=True, slots=True)
class StreamSelection:
    """Which streams of a group an event read covers: all, some by name, or by name prefix."""

    names: tuple[str, ...] | None = None
    prefix: str | None = None


@dataclass(frozen=True, slots=True)
class EventWindow:
    """Timestamps in [start, end), strictly between ``after`` and ``before``, read in one direction."""

    start_ms: int | None
    end_ms: int | None
    after: Position
    before: Position
    ascending: bool
    limit: int


class LogsStore(SqlStore):
    # -- groups ---------------------------------------------------------------------------------------

    async def create_group(
        self, account: str, name: str, created_ms: int, group_class: str, tags: dict[str, str]
    ) -> bool:
        """Whether the group was created (``False``: the name is taken, settled by the unique constraint)."""
        values = {"account_id": account, "name": name, "created_ms": created_ms, "tags": tags}
        statement = (
            self._insert(log_groups)
            .values(**values, log_group_class=group_class, retention_days=None)
            .on_conflict_do_nothing(index_elements=["account_id", "name"])
            .returning(log_groups.c.id)
        )
        return await self._write_unit(first, statement) is not None

    async def group(self, account: str, name: str) -> LogGroupRow | None:
        c = log_groups.c
        row = await self._read_unit(first, _GROUPS.where(c.account_id == account, c.name == name))
        return None if row is None else _group(row)

    async def groups(self, account: str, query: GroupQuery) -> list[LogGroupRow]:
        """A page of the account's groups in name order, with the bytes their streams store."""
        return await self._read_unit(_groups, self._groups_select(account, query))

    def _groups_select(self, account: str, query: GroupQuery) -> Select[Any]:
        name = self._lexical(log_groups.c.name)
        statement = _GROUPS.where(log_groups.c.account_id == account).order_by(name).limit(query.limit)
        if query.names is not None:
            statement = statement.where(log_groups.c.name.in_(query.names))
        if query.prefix:
            statement = statement.where(*self._prefixed(log_groups.c.name, query.prefix))
        if query.pattern:
            found = func.strpos if self._dialect == "postgresql" else func.instr
            statement = statement.where(found(log_groups.c.name, query.pattern) > 0)
        if query.classes:
            statement = statement.where(log_groups.c.log_group_class.in_(query.classes))
        if query.after is not None:
            statement = statement.where(name > query.after)
        return statement

    async def set_retention(self, account: str, name: str, days: int | None) -> bool:
        c = log_groups.c
        statement = update(log_groups).where(c.account_id == account, c.name == name)
        return await self._write_unit(changed, statement.values(retention_days=days))

    async def delete_group(self, account: str, name: str) -> bool:
        """Delete the group, its streams and their events in one transaction; whether it existed."""
        return await self._write_unit(_delete_group, account, name)

    # -- streams --------------------------------------------------------------------------------------

    async def create_stream(self, group_id: int, name: str, created_ms: int) -> bool:
        statement = (
            self._insert(log_streams)
            .values(group_id=group_id, name=name, created_ms=created_ms, stored_bytes=0, upload_sequence=0)
            .on_conflict_do_nothing(index_elements=["group_id", "name"])
            .returning(log_streams.c.id)
        )
        return await self._write_unit(first, statement) is not None

    async def stream(self, group_id: int, name: str) -> LogStreamRow | None:
        c = log_streams.c
        row = await self._read_unit(first, _STREAMS.where(c.group_id == group_id, c.name == name))
        return None if row is None else LogStreamRow(**row._mapping)

    async def streams(self, group_id: int, query: StreamQuery) -> list[LogStreamRow]:
        c = log_streams.c
        keys: list[ColumnElement[Any]] = [self._lexical(c.name)]
        if query.by_last_event:
            keys.insert(0, func.coalesce(c.last_event_ms, -1))
        statement = _STREAMS.where(c.group_id == group_id).limit(query.limit)
        statement = statement.order_by(*(k.desc() if query.descending else k for k in keys))
        if query.prefix:
            statement = statement.where(*self._prefixed(c.name, query.prefix))
        if query.after is not None:
            after = list(query.after) if query.by_last_event else [query.after[1]]
            row, bound = tuple_(*keys), tuple_(*after)
            statement = statement.where(row < bound if query.descending else row > bound)
        return [LogStreamRow(**row._mapping) for row in await self._read_unit(all_rows, statement)]

    async def delete_stream(self, group_id: int, name: str) -> bool:
        return await self._write_unit(_delete_stream, group_id, name)

    # -- events ---------------------------------------------------------------------------------------

    async def append(
        self, group_id: int, stream_id: int, events: Sequence[InputEvent], ingestion_ms: int
    ) -> int | None:
        """Store ``events`` (sorted, not empty) and move the stream's aggregates, in one transaction; the
        stream's new upload sequence, or ``None`` when the stream is gone."""
        rows = [
            {
                "group_id": group_id,
                "stream_id": stream_id,
                "timestamp_ms": event.timestamp,
                "ingestion_ms": ingestion_ms,
                "message": message_bytes(event.message),
            }
            for event in events
        ]
        return await self._write_unit(_append, stream_id, rows, ingestion_ms)

    async def events(self, group_id: int, streams: StreamSelection, window: EventWindow) -> list[StoredEvent]:
        """Events of the group's selected streams in ``window``, in its direction, with stream names."""
        return await self._read_unit(_events, self._events_select(group_id, streams, window))

    async def stream_events(self, group_id: int, stream_id: int, window: EventWindow) -> list[StoredEvent]:
        statement = self._events_select(group_id, StreamSelection(), window)
        return await self._read_unit(_events, statement.where(log_events.c.stream_id == stream_id))

    def _events_select(self, group_id: int, streams: StreamSelection, window: EventWindow) -> Select[Any]:
        e, s = log_events.c, log_streams.c
        key = tuple_(e.timestamp_ms, e.id)
        statement = (
            select(e.id, e.timestamp_ms, e.ingestion_ms, e.message, s.name)
            .join(log_streams, s.id == e.stream_id)
            .where(e.group_id == group_id)
            .where(key > tuple_(*_bound(window.after)), key < tuple_(*_bound(window.before)))
            .order_by(*((e.timestamp_ms, e.id) if window.ascending else (e.timestamp_ms.desc(), e.id.desc())))
            .limit(window.limit)
        )
        if window.start_ms is not None:
            statement = statement.where(e.timestamp_ms >= window.start_ms)
        if window.end_ms is not None:
            statement = statement.where(e.timestamp_ms < window.end_ms)
        if streams.names is not None:
            statement = statement.where(s.name.in_(streams.names))
        if streams.prefix:
            statement = statement.where(*self._prefixed(s.name, streams.prefix))
        return statement

    async def expire(self, now_ms: int) -> int:
        """Delete events older than their group's retention, a batch per transaction; how many."""
        total = 0
        while True:
            removed = await self._write_unit(_expire, now_ms, EXPIRE_BATCH)
            total += removed
            if removed < EXPIRE_BATCH:
                return total

    def _prefixed(self, column: ColumnElement[str], prefix: str) -> list[ColumnElement[bool]]:
        """``column`` starts with ``prefix``, case-sensitively on every backend (SQLite's LIKE is not);
        the range bound lets an index help."""
        return [self._lexical(column) >= prefix, func.substr(column, 1, len(prefix)) == prefix]


_GROUPS = select(
    log_groups.c.id,
    log_groups.c.account_id,
    log_groups.c.name,
    log_groups.c.created_ms,
    log_groups.c.retention_days,
    log_groups.c.log_group_class,
)
_STREAMS = select(
    log_streams.c.id,
    log_streams.c.name,
    log_streams.c.created_ms,
    log_streams.c.first_event_ms,
    log_streams.c.last_event_ms,
    log_streams.c.last_ingestion_ms,
    log_streams.c.upload_sequence,
)


def _bound(at: Position) -> tuple[Any, Any]:
    return at.timestamp, at.event_id


def _group(row: Any, stored_bytes: int = 0) -> LogGroupRow:
    return LogGroupRow(**row._mapping, stored_bytes=stored_bytes)


def _groups(conn: Connection, statement: Select[Any]) -> list[LogGroupRow]:
    rows = conn.execute(statement).all()
    ids = [row.id for row in rows]
    sizes: dict[int, int] = {}
    if ids:
        s = log_streams.c
        totals = select(s.group_id, func.sum(s.stored_bytes)).where(s.group_id.in_(ids)).group_by(s.group_id)
        sizes = {group_id: int(total or 0) for group_id, total in conn.execute(totals)}
    return [_group(row, sizes.get(row.id, 0)) for row in rows]


def _delete_group(conn: Connection, account: str, name: str) -> bool:
    c = log_groups.c
    group_id = conn.execute(select(c.id).where(c.account_id == account, c.name == name)).scalar()
    if group_id is None:
        return False
    conn.execute(delete(log_events).where(log_events.c.group_id == group_id))
    conn.execute(delete(log_streams).where(log_streams.c.group_id == group_id))
    conn.execute(delete(log_groups).where(c.id == group_id))
    return True


def _delete_stream(conn: Connection, group_id: int, name: str) -> bool:
    s = log_streams.c
    stream_id = conn.execute(select(s.id).where(s.group_id == group_id, s.name == name)).scalar()
    if stream_id is None:
        return False
    conn.execute(delete(log_events).where(log_events.c.stream_id == stream_id))
    conn.execute(delete(log_streams).where(s.id == stream_id))
    return True


def _append(conn: Connection, stream_id: int, rows: list[dict[str, Any]], ingestion_ms: int) -> int | None:
    s = log_streams.c
    oldest, newest = rows[0]["timestamp_ms"], rows[-1]["timestamp_ms"]
    size = sum(len(row["message"]) for row in rows)
    moved = conn.execute(
        update(log_streams)
        .where(s.id == stream_id)
        .values(
            first_event_ms=_earlier(s.first_event_ms, oldest),
            last_event_ms=_later(s.last_event_ms, newest),
            last_ingestion_ms=ingestion_ms,
            stored_bytes=s.stored_bytes + size,
            upload_sequence=s.upload_sequence + 1,
        )
        .returning(s.upload_sequence)
    ).scalar()
    if moved is None:
        return None
    conn.execute(log_events.insert(), rows)
    return int(moved)


def _earlier(column: ColumnElement[Any], value: int) -> ColumnElement[Any]:
    """The smaller of ``column`` (NULL: none yet) and ``value``, portably (SQLite has no LEAST)."""
    return case((and_(column.is_not(None), column < value), column), else_=value)


def _later(column: ColumnElement[Any], value: int) -> ColumnElement[Any]:
    return case((and_(column.is_not(None), column > value), column), else_=value)


def _events(conn: Connection, statement: Select[Any]) -> list[StoredEvent]:
    return [
        StoredEvent(
            Position(row.timestamp_ms, row.id),
            row.ingestion_ms,
            bytes(row.message).decode("utf-8", "surrogatepass"),
            row.name,
        )
        for row in conn.execute(statement)
    ]


def _expire(conn: Connection, now_ms: int, batch: int) -> int:
    e, g = log_events.c, log_groups.c
    expired = (
        select(e.id)
        .join(log_groups, g.id == e.group_id)
        .where(
            g.retention_days.is_not(None),
            e.timestamp_ms < now_ms - cast(g.retention_days, BigInteger) * DAY_MS,
        )
        .limit(batch)
    )
    return int(conn.execute(delete(log_events).where(e.id.in_(expired.scalar_subquery()))).rowcount or 0)
