"""The CloudWatch Logs store on SQLite and PostgreSQL: groups, streams, one-transaction ingestion, event
windows in both directions, byte-wise name order, retention."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from dockyard.domain.logs import DAY_MS, HEAD, TAIL, InputEvent, Position
from dockyard.metadata.engine import create_engine
from dockyard.metadata.logs_store import (
    EventWindow,
    GroupQuery,
    LogsStore,
    StreamQuery,
    StreamSelection,
)

ACCOUNT = "111122223333"
OTHER = "444455556666"
T0 = 1_800_000_000_000


class FixedClock:
    def now(self) -> datetime:
        return datetime.fromtimestamp(T0 / 1000, UTC)


@pytest.fixture
async def store(db_url: str) -> AsyncIterator[LogsStore]:
    engine = create_engine(db_url)
    try:
        yield LogsStore(engine, FixedClock())
    finally:
        await engine.dispose()


def window(
    ascending: bool = True,
    after: Position = HEAD,
    before: Position = TAIL,
    start: int | None = None,
    end: int | None = None,
    limit: int = 100,
) -> EventWindow:
    return EventWindow(start, end, after, before, ascending, limit)


async def new_group(store: LogsStore, name: str, account: str = ACCOUNT) -> int:
    assert await store.create_group(account, name, T0, "STANDARD", {"team": "a"})
    found = await store.group(account, name)
    assert found is not None
    return found.id


async def new_stream(store: LogsStore, group_id: int, name: str) -> int:
    assert await store.create_stream(group_id, name, T0)
    found = await store.stream(group_id, name)
    assert found is not None
    return found.id


async def test_group_names_are_unique_per_account_and_sorted_bytewise(store: LogsStore) -> None:
    for name in ("b", "a_x", "B", "app", "App", "a%x", "/ecs/web"):
        await new_group(store, name)
    assert not await store.create_group(ACCOUNT, "app", T0, "STANDARD", {})
    await new_group(store, "app", OTHER)

    async def names(**query: object) -> list[str]:
        return [g.name for g in await store.groups(ACCOUNT, GroupQuery(**query))]  # type: ignore[arg-type]

    assert await names() == ["/ecs/web", "App", "B", "a%x", "a_x", "app", "b"]
    assert await names(prefix="a") == ["a%x", "a_x", "app"]  # case-sensitive, % and _ literal
    assert await names(prefix="a_") == ["a_x"]
    assert await names(pattern="p") == ["App", "app"]
    assert await names(pattern="P") == []
    assert await names(after="B", limit=2) == ["a%x", "a_x"]
    assert await names(names=("b", "B", "missing")) == ["B", "b"]
    assert await names(classes=("INFREQUENT_ACCESS",)) == []
    assert [g.name for g in await store.groups(OTHER, GroupQuery())] == ["app"]


async def test_retention_and_deletion_of_a_group(store: LogsStore) -> None:
    group_id = await new_group(store, "doomed")
    stream_id = await new_stream(store, group_id, "s")
    assert await store.append(group_id, stream_id, [InputEvent(T0, "x")], T0) == 1
    assert await store.set_retention(ACCOUNT, "doomed", 7)
    found = await store.group(ACCOUNT, "doomed")
    assert found is not None
    assert (found.retention_days, found.log_group_class) == (7, "STANDARD")
    assert not await store.set_retention(ACCOUNT, "missing", 7)
    assert await store.delete_group(ACCOUNT, "doomed")
    assert not await store.delete_group(ACCOUNT, "doomed")
    assert await store.group(ACCOUNT, "doomed") is None
    assert await store.stream(group_id, "s") is None
    assert await store.events(group_id, StreamSelection(), window()) == []


async def test_one_append_moves_the_stream_and_stores_the_events(store: LogsStore) -> None:
    group_id = await new_group(store, "g")
    stream_id = await new_stream(store, group_id, "s")
    assert not await store.create_stream(group_id, "s", T0)
    first = [InputEvent(T0 - 10, "née"), InputEvent(T0 - 5, "b")]
    assert await store.append(group_id, stream_id, first, T0) == 1
    assert await store.append(group_id, stream_id, [InputEvent(T0 - 20, "c")], T0 + 1) == 2
    row = await store.stream(group_id, "s")
    assert row is not None
    assert (row.first_event_ms, row.last_event_ms, row.last_ingestion_ms) == (T0 - 20, T0 - 5, T0 + 1)
    assert row.upload_sequence == 2
    [found] = await store.groups(ACCOUNT, GroupQuery(prefix="g"))
    assert found.stored_bytes == len("née".encode()) + 2
    events = await store.stream_events(group_id, stream_id, window())
    assert [(e.position.timestamp, e.message, e.ingestion_ms, e.stream) for e in events] == [
        (T0 - 20, "c", T0 + 1, "s"),
        (T0 - 10, "née", T0, "s"),
        (T0 - 5, "b", T0, "s"),
    ]


async def test_an_append_to_a_deleted_stream_stores_nothing(store: LogsStore) -> None:
    group_id = await new_group(store, "g")
    stream_id = await new_stream(store, group_id, "s")
    assert await store.delete_stream(group_id, "s")
    assert await store.append(group_id, stream_id, [InputEvent(T0, "lost")], T0) is None
    assert await store.events(group_id, StreamSelection(), window()) == []


async def test_messages_keep_nul_characters_and_lone_surrogates(store: LogsStore) -> None:
    group_id = await new_group(store, "g")
    stream_id = await new_stream(store, group_id, "s")
    odd = ["a\x00b", "\ud800 alone", "emoji 🐳", "\r\n\t"]
    await store.append(group_id, stream_id, [InputEvent(T0, m) for m in odd], T0)
    assert [e.message for e in await store.stream_events(group_id, stream_id, window())] == odd


async def test_event_windows_in_both_directions(store: LogsStore) -> None:
    group_id = await new_group(store, "g")
    stream_id = await new_stream(store, group_id, "s")
    await store.append(group_id, stream_id, [InputEvent(T0 + i // 2, f"m{i}") for i in range(6)], T0)
    every = await store.stream_events(group_id, stream_id, window())
    assert [e.message for e in every] == [f"m{i}" for i in range(6)]
    assert [e.position.timestamp for e in every] == [T0, T0, T0 + 1, T0 + 1, T0 + 2, T0 + 2]
    newest = await store.stream_events(group_id, stream_id, window(ascending=False, limit=2))
    assert [e.message for e in newest] == ["m5", "m4"]
    after = await store.stream_events(group_id, stream_id, window(after=every[1].position, limit=2))
    assert [e.message for e in after] == ["m2", "m3"]
    before = await store.stream_events(group_id, stream_id, window(ascending=False, before=every[3].position))
    assert [e.message for e in before] == ["m2", "m1", "m0"]
    timed = await store.stream_events(group_id, stream_id, window(start=T0 + 1, end=T0 + 2))
    assert [e.message for e in timed] == ["m2", "m3"]


async def test_group_reads_interleave_the_selected_streams(store: LogsStore) -> None:
    group_id = await new_group(store, "g")
    for name, offset in (("web/1", 0), ("web/2", 1), ("db/1", 2)):
        stream_id = await new_stream(store, group_id, name)
        await store.append(
            group_id, stream_id, [InputEvent(T0 + offset + 3 * i, f"{name}#{i}") for i in range(2)], T0
        )

    async def streams_of(selection: StreamSelection) -> list[str]:
        return [e.message for e in await store.events(group_id, selection, window())]

    assert await streams_of(StreamSelection()) == [
        "web/1#0",
        "web/2#0",
        "db/1#0",
        "web/1#1",
        "web/2#1",
        "db/1#1",
    ]
    assert await streams_of(StreamSelection(prefix="web/")) == ["web/1#0", "web/2#0", "web/1#1", "web/2#1"]
    assert await streams_of(StreamSelection(names=("db/1", "nope"))) == ["db/1#0", "db/1#1"]


async def test_streams_are_listed_by_name_or_by_last_event(store: LogsStore) -> None:
    group_id = await new_group(store, "g")
    for name, last in (("c", T0 - 1), ("a", T0 - 3), ("b", None), ("B", T0 - 2)):
        stream_id = await new_stream(store, group_id, name)
        if last is not None:
            await store.append(group_id, stream_id, [InputEvent(last, "x")], T0)

    async def names(**query: object) -> list[str]:
        return [s.name for s in await store.streams(group_id, StreamQuery(**query))]  # type: ignore[arg-type]

    assert await names() == ["B", "a", "b", "c"]
    assert await names(descending=True) == ["c", "b", "a", "B"]
    assert await names(prefix="b") == ["b"]
    assert await names(after=(0, "a"), limit=1) == ["b"]
    assert await names(by_last_event=True) == ["b", "a", "B", "c"]
    assert await names(by_last_event=True, descending=True) == ["c", "B", "a", "b"]
    assert await names(by_last_event=True, descending=True, after=(T0 - 2, "B")) == ["a", "b"]
    assert await names(by_last_event=True, after=(-1, "b"), limit=2) == ["a", "B"]


async def test_retention_deletes_only_what_it_no_longer_keeps(store: LogsStore) -> None:
    kept_id = await new_group(store, "forever")
    short_id = await new_group(store, "short")
    await store.set_retention(ACCOUNT, "short", 1)
    for group_id in (kept_id, short_id):
        stream_id = await new_stream(store, group_id, "s")
        old = [InputEvent(T0 - 3 * DAY_MS, "old"), InputEvent(T0 - 2 * DAY_MS, "old too")]
        await store.append(group_id, stream_id, [*old, InputEvent(T0, "new")], T0)
    assert await store.expire(T0) == 2
    assert [e.message for e in await store.events(short_id, StreamSelection(), window())] == ["new"]
    assert len(await store.events(kept_id, StreamSelection(), window())) == 3
    assert await store.expire(T0) == 0
