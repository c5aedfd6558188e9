"""The CloudWatch Logs use cases on SQLite with a clock the test moves: GetLogEvents' tokens, the 1 MB page,
FilterLogEvents' partial pages, retention, rejected batches."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from dockyard.domain.logs import (
    DAY_MS,
    InputEvent,
    InvalidParameter,
    Rejected,
    ResourceNotFound,
    page_token,
)
from dockyard.metadata.engine import create_engine, database_url
from dockyard.metadata.logs_store import GroupQuery, LogsStore, StreamQuery, StreamSelection
from dockyard.services import logs as logs_module
from dockyard.services.logs import EventQuery, FilterQuery, Logs

ACCOUNT = "111122223333"
T0 = 1_800_000_000_000


class StepClock:
    def __init__(self) -> None:
        self.ms = T0

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.ms / 1000, UTC)


@pytest.fixture
def url(tmp_path: Path, migrated_sqlite: Callable[[Path], Path]) -> str:
    migrated_sqlite(tmp_path)
    return database_url(None, tmp_path)


@pytest.fixture
async def logs(url: str) -> AsyncIterator[Logs]:
    engine = create_engine(url)
    try:
        service = Logs(LogsStore(engine, StepClock()), StepClock())
        await service.create_group(ACCOUNT, "g")
        await service.create_stream(ACCOUNT, "g", "s")
        yield service
    finally:
        await engine.dispose()


async def put(logs: Logs, *messages: str, stream: str = "s", at: int = T0) -> None:
    done = await logs.put_events(
        ACCOUNT, "g", stream, [InputEvent(at + i, m) for i, m in enumerate(messages)]
    )
    assert not done.rejected


async def read(logs: Logs, **query: object) -> tuple[list[str], str, str]:
    page = await logs.get_events(ACCOUNT, "g", "s", EventQuery(**query))  # type: ignore[arg-type]
    return [e.message for e in page.events], page.forward, page.backward


async def test_reading_backward_from_the_tail(logs: Logs) -> None:
    await put(logs, "m0", "m1", "m2", "m3", "m4")
    messages, forward, backward = await read(logs, limit=2)
    assert messages == ["m3", "m4"]
    messages, same, _ = await read(logs, token=forward)  # nothing newer: the same token back
    assert (messages, same) == ([], forward)
    messages, _, backward = await read(logs, limit=2, token=backward)
    assert messages == ["m1", "m2"]
    messages, _, backward = await read(logs, limit=2, token=backward)
    assert messages == ["m0"]
    messages, _, again = await read(logs, limit=2, token=backward)
    assert (messages, again) == ([], backward)


async def test_polling_forward_returns_the_same_token_until_new_events_arrive(logs: Logs) -> None:
    await put(logs, "m0", "m1", "m2")
    messages, forward, _ = await read(logs, start_from_head=True, limit=2)
    assert messages == ["m0", "m1"]
    messages, forward, _ = await read(logs, token=forward)
    assert messages == ["m2"]
    for _ in range(3):
        messages, same, backward = await read(logs, token=forward)
        assert (messages, same) == ([], forward)
    assert (await read(logs, token=backward, limit=1))[0] == ["m2"]  # the way back starts at the last seen
    await put(logs, "m3", at=T0 + 10)
    messages, newer, _ = await read(logs, token=forward)
    assert messages == ["m3"]
    assert newer != forward


async def test_a_page_holds_at_most_one_megabyte(logs: Logs) -> None:
    big = "x" * 500_000
    for i in range(3):
        await put(logs, f"{i}{big}", at=T0 + i)
    messages, forward, _ = await read(logs, start_from_head=True)
    assert [m[0] for m in messages] == ["0", "1"]
    assert [m[0] for m in (await read(logs, token=forward))[0]] == ["2"]


async def test_time_bounds_of_get_are_half_open_and_of_filter_inclusive(logs: Logs) -> None:
    await put(logs, "a", "b", "c")
    assert (await read(logs, start_ms=T0 + 1, end_ms=T0 + 2, start_from_head=True))[0] == ["b"]
    page = await logs.filter_events(ACCOUNT, "g", FilterQuery(start_ms=T0 + 1, end_ms=T0 + 2))
    assert [e.message for e in page.items] == ["b", "c"]


async def test_filter_answers_partial_pages_until_it_has_searched_everything(
    logs: Logs, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(logs_module, "FILTER_SCAN_BUDGET", 3)
    await put(logs, *[("ERROR " if i in (1, 8) else "INFO ") + str(i) for i in range(10)])
    found, pages, token = [], 0, None
    while True:
        page = await logs.filter_events(ACCOUNT, "g", FilterQuery(pattern="ERROR", token=token))
        found += [e.message for e in page.items]
        pages += 1
        if page.next_token is None:
            break
        token = page.next_token
    assert found == ["ERROR 1", "ERROR 8"]
    assert pages == 4  # ten events, three examined per call


async def test_filter_pages_by_limit_in_either_direction(logs: Logs) -> None:
    await put(logs, "a", "b", "c", stream="s")
    await logs.create_stream(ACCOUNT, "g", "t")
    await put(logs, "x", stream="t", at=T0 + 1)
    first = await logs.filter_events(ACCOUNT, "g", FilterQuery(limit=2))
    assert [(e.stream, e.message) for e in first.items] == [("s", "a"), ("s", "b")]
    rest = await logs.filter_events(ACCOUNT, "g", FilterQuery(limit=2, token=first.next_token))
    assert [e.message for e in rest.items] == ["x", "c"]
    newest = await logs.filter_events(ACCOUNT, "g", FilterQuery(start_from_head=False, limit=3))
    assert [e.message for e in newest.items] == ["c", "x", "b"]
    older = await logs.filter_events(ACCOUNT, "g", FilterQuery(limit=3, token=newest.next_token))
    assert [e.message for e in older.items] == ["a"]
    only_t = await logs.filter_events(ACCOUNT, "g", FilterQuery(streams=StreamSelection(names=("t",))))
    assert [e.message for e in only_t.items] == ["x"]
    with pytest.raises(InvalidParameter):
        await logs.filter_events(ACCOUNT, "g", FilterQuery(streams=StreamSelection(("t",), "s")))
    with pytest.raises(InvalidParameter):
        await logs.filter_events(ACCOUNT, "g", FilterQuery(start_from_head=False, start_ms=1_600_000_000_000))


async def test_retention_hides_older_events_at_once(logs: Logs) -> None:
    old = T0 - 3 * DAY_MS
    await put(logs, "old", at=old)
    await put(logs, "new")
    await logs.set_retention(ACCOUNT, "g", 1)
    assert (await read(logs, start_from_head=True))[0] == ["new"]
    assert [e.message for e in (await logs.filter_events(ACCOUNT, "g", FilterQuery())).items] == ["new"]
    done = await logs.put_events(ACCOUNT, "g", "s", [InputEvent(old, "late")])
    assert done.rejected == Rejected(expired_end=1)
    assert await logs.expire() == 1
    with pytest.raises(InvalidParameter):
        await logs.set_retention(ACCOUNT, "g", 2)


async def test_a_batch_rejected_whole_stores_nothing_and_keeps_the_sequence(logs: Logs) -> None:
    await put(logs, "kept")
    stream = await logs.stream(await logs.group(ACCOUNT, "g"), "s")
    done = await logs.put_events(ACCOUNT, "g", "s", [InputEvent(T0 + 3 * 3_600_000, "future")])
    assert done.rejected == Rejected(too_new_start=0)
    assert int(done.next_sequence_token) == stream.upload_sequence == 1
    assert (await read(logs))[0] == ["kept"]
    with pytest.raises(ResourceNotFound, match="log stream"):
        await logs.put_events(ACCOUNT, "g", "missing", [InputEvent(T0, "x")])
    with pytest.raises(ResourceNotFound, match="log group"):
        await logs.put_events(ACCOUNT, "missing", "s", [InputEvent(T0, "x")])


async def test_listing_tokens_page_through_and_belong_to_their_query(logs: Logs) -> None:
    for name in ("b", "c", "d"):
        await logs.create_group(ACCOUNT, name)
        await logs.create_stream(ACCOUNT, "g", name)
    first = await logs.describe_groups(ACCOUNT, GroupQuery(limit=3), None)
    second = await logs.describe_groups(ACCOUNT, GroupQuery(limit=3), first.next_token)
    assert [g.name for g in first.items + second.items] == ["b", "c", "d", "g"]
    assert second.next_token is None
    streams = await logs.describe_streams(ACCOUNT, "g", StreamQuery(limit=2), None)
    assert [s.name for s in streams.items] == ["b", "c"]
    with pytest.raises(InvalidParameter):
        await logs.describe_streams(ACCOUNT, "g", StreamQuery(by_last_event=True), streams.next_token)
    with pytest.raises(InvalidParameter):
        await logs.describe_streams(ACCOUNT, "g", StreamQuery(by_last_event=True, prefix="b"), None)
    forged = page_token("streams", False, False, 2**70, "b")  # beyond any stored value
    with pytest.raises(InvalidParameter):
        await logs.describe_streams(ACCOUNT, "g", StreamQuery(), forged)
    with pytest.raises(InvalidParameter):
        await logs.filter_events(ACCOUNT, "g", FilterQuery(token=page_token("filter", "f", -1, 0)))
