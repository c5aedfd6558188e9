"""CloudWatch Logs' use cases: log groups, log streams, ingestion and reads, over
:class:`~dockyard.metadata.logs_store.LogsStore`.

The rules themselves (batch limits, tokens, filter patterns) are :mod:`dockyard.domain.logs`; here they are
applied to stored data. Reads page through the store in chunks so a page never holds more than AWS's
1 MB of events, whatever the limit asked for; FilterLogEvents examines at most :data:`FILTER_SCAN_BUDGET`
events per call and then answers with what it found and a ``nextToken``, the partial (even empty) pages
AWS documents. A group's retention hides older events from every read at once; deleting them is
:meth:`Logs.expire`, for a periodic job.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Generic, TypeVar

from dockyard.domain.logs import (
    BAD_TOKEN,
    DAY_MS,
    EVENT_OVERHEAD,
    GROUP_NOT_FOUND,
    HEAD,
    MAX_PAGE_BYTES,
    STREAM_NOT_FOUND,
    TAIL,
    Direction,
    FilterPattern,
    InputEvent,
    InvalidParameter,
    Position,
    Rejected,
    ResourceAlreadyExists,
    ResourceNotFound,
    check_group_name,
    check_retention,
    group_reference,
    message_bytes,
    page_token,
    position_of,
    prepare_batch,
    read_page_token,
    read_stream_token,
    stream_token,
)
from dockyard.metadata.logs_store import (
    EventWindow,
    GroupQuery,
    LogGroupRow,
    LogsStore,
    LogStreamRow,
    StoredEvent,
    StreamQuery,
    StreamSelection,
)
from dockyard.ports import Clock

T = TypeVar("T")
CHUNK = 1000  # events per store read
MAX_EVENTS = 10_000  # GetLogEvents' and FilterLogEvents' default (and largest) limit
FILTER_SCAN_BUDGET = 50_000  # events FilterLogEvents examines per call before answering with a nextToken
DESCENDING_FILTER_FROM = int(datetime(2024, 1, 1, tzinfo=UTC).timestamp() * 1000)
Fetch = Callable[[EventWindow], Awaitable[list[StoredEvent]]]


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    next_token: str | None


@dataclass(frozen=True, slots=True)
class PutResult:
    next_sequence_token: str
    rejected: Rejected


@dataclass(frozen=True, slots=True)
class EventsPage:
    """GetLogEvents' answer: events oldest first, and the tokens to read on in either direction."""

    events: list[StoredEvent]
    forward: str
    backward: str


@dataclass(frozen=True, slots=True)
class EventQuery:
    start_ms: int | None = None
    end_ms: int | None = None  # exclusive
    limit: int | None = None
    start_from_head: bool = False
    token: str | None = None


@dataclass(frozen=True, slots=True)
class FilterQuery:
    streams: StreamSelection = field(default_factory=StreamSelection)
    start_ms: int | None = None
    end_ms: int | None = None  # inclusive, as FilterLogEvents documents it
    pattern: str | None = None
    limit: int | None = None
    start_from_head: bool | None = None
    token: str | None = None


@dataclass(frozen=True, slots=True)
class _Scan:
    kept: list[StoredEvent]
    resume: Position | None  # the last event examined, when the scan stopped before the end
    exhausted: bool


def sequence_token(sequence: int) -> str:
    """PutLogEvents' ``nextSequenceToken`` (ignored on input, as AWS now ignores it)."""
    return f"{sequence:056d}"


def group_name(account: str, name: str | None, identifier: str | None) -> str:
    """The group ``logGroupName`` or ``logGroupIdentifier`` names in ``account``; an ARN of another account
    names nothing this caller can reach."""
    owner, found = group_reference(name, identifier)
    if owner is not None and owner != account:
        raise ResourceNotFound(GROUP_NOT_FOUND)
    return found


class Logs:
    def __init__(self, store: LogsStore, clock: Clock) -> None:
        self.store = store
        self.clock = clock

    def now_ms(self) -> int:
        return int(self.clock.now().timestamp() * 1000)

    # -- groups ---------------------------------------------------------------------------------------

    async def create_group(
        self, account: str, name: str, group_class: str = "STANDARD", tags: dict[str, str] | None = None
    ) -> None:
        check_group_name(name)
        if not await self.store.create_group(account, name, self.now_ms(), group_class, dict(tags or {})):
            raise ResourceAlreadyExists("The specified log group already exists")

    async def group(self, account: str, name: str) -> LogGroupRow:
        found = await self.store.group(account, name)
        if found is None:
            raise ResourceNotFound(GROUP_NOT_FOUND)
        return found

    async def delete_group(self, account: str, name: str) -> None:
        if not await self.store.delete_group(account, name):
            raise ResourceNotFound(GROUP_NOT_FOUND)

    async def describe_groups(self, account: str, query: GroupQuery, token: str | None) -> Page[LogGroupRow]:
        """A page of groups in name order; ``query.limit`` is the page size (AWS's default 50)."""
        if query.prefix and query.pattern:
            raise InvalidParameter("logGroupNamePrefix and logGroupNamePattern are mutually exclusive.")
        if token is not None:
            kind, after = read_page_token(token, 2)
            if kind != "groups" or not isinstance(after, str):
                raise InvalidParameter(BAD_TOKEN)
            query = replace(query, after=after)
        rows = await self.store.groups(account, replace(query, limit=query.limit + 1))
        more = len(rows) > query.limit
        rows = rows[: query.limit]
        return Page(rows, page_token("groups", rows[-1].name) if more else None)

    async def set_retention(self, account: str, name: str, days: int | None) -> None:
        if days is not None:
            check_retention(days)
        if not await self.store.set_retention(account, name, days):
            raise ResourceNotFound(GROUP_NOT_FOUND)

    async def expire(self) -> int:
        """Delete the events their groups' retention no longer keeps; how many."""
        return await self.store.expire(self.now_ms())

    # -- streams --------------------------------------------------------------------------------------

    async def create_stream(self, account: str, group: str, name: str) -> None:
        found = await self.group(account, group)
        if not await self.store.create_stream(found.id, name, self.now_ms()):
            raise ResourceAlreadyExists("The specified log stream already exists")

    async def delete_stream(self, account: str, group: str, name: str) -> None:
        found = await self.group(account, group)
        if not await self.store.delete_stream(found.id, name):
            raise ResourceNotFound(STREAM_NOT_FOUND)

    async def stream(self, group: LogGroupRow, name: str) -> LogStreamRow:
        found = await self.store.stream(group.id, name)
        if found is None:
            raise ResourceNotFound(STREAM_NOT_FOUND)
        return found

    async def describe_streams(
        self, account: str, group: str, query: StreamQuery, token: str | None
    ) -> Page[LogStreamRow]:
        if query.by_last_event and query.prefix:
            raise InvalidParameter("Cannot order by LastEventTime with a logStreamNamePrefix.")
        found = await self.group(account, group)
        if token is not None:
            query = replace(query, after=_stream_position(token, query))
        rows = await self.store.streams(found.id, replace(query, limit=query.limit + 1))
        if len(rows) <= query.limit:
            return Page(rows, None)
        rows = rows[: query.limit]
        last = rows[-1]
        key = last.last_event_ms if last.last_event_ms is not None else -1
        return Page(rows, page_token("streams", query.by_last_event, query.descending, key, last.name))

    # -- events ---------------------------------------------------------------------------------------

    async def put_events(self, account: str, group: str, stream: str, events: list[InputEvent]) -> PutResult:
        """Store a batch in one transaction; what AWS would reject is left out and reported."""
        found = await self.group(account, group)
        target = await self.stream(found, stream)
        now = self.now_ms()
        batch = prepare_batch(events, now, found.retention_days)
        sequence: int | None = target.upload_sequence
        if batch.accepted:
            sequence = await self.store.append(found.id, target.id, batch.accepted, now)
            if sequence is None:  # deleted meanwhile
                raise ResourceNotFound(STREAM_NOT_FOUND)
        return PutResult(sequence_token(sequence or 0), batch.rejected)

    async def get_events(self, account: str, group: str, stream: str, query: EventQuery) -> EventsPage:
        """GetLogEvents: a page of one stream's events and the tokens around it (module docstring of
        :mod:`dockyard.domain.logs`)."""
        found = await self.group(account, group)
        target = await self.stream(found, stream)
        direction: Direction
        if query.token is not None:
            direction, at = read_stream_token(query.token)
        else:
            direction, at = ("f", HEAD) if query.start_from_head else ("b", TAIL)
        limit = query.limit or MAX_EVENTS
        window = self._window(found, query.start_ms, query.end_ms, direction, at)

        async def fetch(part: EventWindow) -> list[StoredEvent]:
            return await self.store.stream_events(found.id, target.id, part)

        scan = await _scan(fetch, window, limit, lambda _event: True, limit)
        events = scan.kept if direction == "f" else scan.kept[::-1]
        return _events_page(events, direction, at)

    async def filter_events(self, account: str, group: str, query: FilterQuery) -> Page[StoredEvent]:
        """FilterLogEvents: matching events of the selected streams in time order, a page at a time."""
        if query.streams.names is not None and query.streams.prefix is not None:
            raise InvalidParameter("logStreamNames and logStreamNamePrefix are mutually exclusive.")
        pattern = FilterPattern.parse(query.pattern)
        direction, at = self._filter_start(query)
        end = None if query.end_ms is None else query.end_ms + 1
        found = await self.group(account, group)
        window = self._window(found, query.start_ms, end, direction, at)

        async def fetch(part: EventWindow) -> list[StoredEvent]:
            return await self.store.events(found.id, query.streams, part)

        limit = query.limit or MAX_EVENTS
        scan = await _scan(fetch, window, limit, lambda e: pattern.matches(e.message), FILTER_SCAN_BUDGET)
        if scan.exhausted or scan.resume is None:
            return Page(scan.kept, None)
        resume = scan.resume
        return Page(scan.kept, page_token("filter", direction, resume.timestamp, resume.event_id))

    def _filter_start(self, query: FilterQuery) -> tuple[Direction, Position]:
        if query.token is not None:
            kind, direction, timestamp, number = read_page_token(query.token, 4)
            if kind != "filter" or direction not in ("f", "b"):
                raise InvalidParameter(BAD_TOKEN)
            return ("f" if direction == "f" else "b"), position_of(timestamp, number)
        if query.start_from_head is False:
            if query.start_ms is not None and query.start_ms < DESCENDING_FILTER_FROM:
                raise InvalidParameter(
                    "startFromHead false is supported only when startTime is on or after Jan 1, 2024."
                )
            return "b", TAIL
        return "f", HEAD

    def _window(
        self, group: LogGroupRow, start: int | None, end: int | None, direction: Direction, at: Position
    ) -> EventWindow:
        """Events of [start, end) on the ``direction`` side of ``at``; retention hides older ones."""
        if group.retention_days is not None:
            kept_from = self.now_ms() - group.retention_days * DAY_MS
            start = kept_from if start is None else max(start, kept_from)
        forward = direction == "f"
        return EventWindow(start, end, at if forward else HEAD, TAIL if forward else at, forward, CHUNK)


def _stream_position(token: str, query: StreamQuery) -> tuple[int, str]:
    kind, by_last_event, descending, key, name = read_page_token(token, 5)
    same = kind == "streams" and by_last_event == query.by_last_event and descending == query.descending
    if not same or not isinstance(name, str):
        raise InvalidParameter(BAD_TOKEN)
    if key == -1:  # a stream without events sorts as if its last event were at -1
        return -1, name
    return position_of(key, 0).timestamp, name


async def _scan(
    fetch: Fetch, window: EventWindow, limit: int, keep: Callable[[StoredEvent], bool], budget: int
) -> _Scan:
    """Read ``window`` a chunk at a time until ``limit`` events are kept, the page holds 1 MB, ``budget``
    events were examined, or the window is exhausted."""
    kept: list[StoredEvent] = []
    size = scanned = 0
    resume: Position | None = None
    while True:
        want = min(CHUNK, budget - scanned)
        chunk = await fetch(replace(window, limit=want))
        for event in chunk:
            if keep(event):
                size += len(message_bytes(event.message)) + EVENT_OVERHEAD
                if kept and size > MAX_PAGE_BYTES:
                    return _Scan(kept, resume, False)
                kept.append(event)
            resume, scanned = event.position, scanned + 1
            if len(kept) >= limit or scanned >= budget:
                return _Scan(kept, resume, False)
        if len(chunk) < want:
            return _Scan(kept, resume, True)
        last = chunk[-1].position
        window = replace(window, after=last) if window.ascending else replace(window, before=last)


def _events_page(events: list[StoredEvent], direction: Direction, at: Position) -> EventsPage:
    """Tokens after the newest and before the oldest event returned; with none returned, the token that
    was given (so a poll at the end repeats it) and its counterpart at the same place."""
    if events:
        return EventsPage(
            events, stream_token("f", events[-1].position), stream_token("b", events[0].position)
        )
    if direction == "f":
        next_id = min(at.event_id + 1, TAIL.event_id)
        return EventsPage([], stream_token("f", at), stream_token("b", Position(at.timestamp, next_id)))
    previous = Position(at.timestamp, max(at.event_id - 1, 0))
    return EventsPage([], stream_token("f", previous), stream_token("b", at))
