"""CloudWatch Logs' rules without I/O: PutLogEvents' batch limits and rejections, tokens, filter patterns."""

from __future__ import annotations

import pytest

from dockyard.domain.logs import (
    DAY_MS,
    HEAD,
    MAX_BATCH_BYTES,
    MAX_EVENT_BYTES,
    MAX_INT64,
    TAIL,
    FilterPattern,
    InputEvent,
    InvalidParameter,
    Position,
    Rejected,
    group_reference,
    page_token,
    prepare_batch,
    read_page_token,
    read_stream_token,
    resource_arn,
    stream_token,
)

NOW = 1_800_000_000_000
HOUR = 3_600_000


def events(*timestamps: int) -> list[InputEvent]:
    return [InputEvent(t, f"event {i}") for i, t in enumerate(timestamps)]


def test_a_batch_within_the_limits_is_taken_whole() -> None:
    batch = prepare_batch(events(NOW - 13 * DAY_MS, NOW - 13 * DAY_MS + 1, NOW - 13 * DAY_MS + 1), NOW, None)
    assert len(batch.accepted) == 3
    assert not batch.rejected


def test_too_old_and_too_new_events_are_left_out_and_reported_by_index() -> None:
    batch = prepare_batch(events(NOW - 15 * DAY_MS, NOW - 15 * DAY_MS + 5, NOW, NOW + 3 * HOUR), NOW, None)
    assert [e.timestamp for e in batch.accepted] == [NOW]
    assert batch.rejected == Rejected(too_new_start=3, too_old_end=2, expired_end=None)


def test_the_boundaries_are_fourteen_days_back_and_two_hours_ahead_inclusive() -> None:
    for timestamp in (NOW - 14 * DAY_MS, NOW + 2 * HOUR):
        batch = prepare_batch(events(timestamp), NOW, None)
        assert len(batch.accepted) == 1
        assert not batch.rejected
    assert prepare_batch(events(NOW - 14 * DAY_MS - 1), NOW, None).rejected == Rejected(too_old_end=1)
    assert prepare_batch(events(NOW + 2 * HOUR + 1), NOW, None).rejected == Rejected(too_new_start=0)


def test_events_older_than_the_retention_are_expired() -> None:
    batch = prepare_batch(events(NOW - 2 * DAY_MS, NOW), NOW, retention_days=1)
    assert [e.timestamp for e in batch.accepted] == [NOW]
    assert batch.rejected == Rejected(expired_end=1)
    batch = prepare_batch(events(NOW - 20 * DAY_MS, NOW - 2 * DAY_MS, NOW), NOW, retention_days=1)
    assert batch.rejected == Rejected(too_old_end=1, expired_end=2)
    assert len(prepare_batch(events(NOW - 20 * DAY_MS), NOW, retention_days=30).accepted) == 0


def test_events_out_of_order_refuse_the_batch() -> None:
    with pytest.raises(InvalidParameter) as caught:
        prepare_batch(events(NOW, NOW - 1), NOW, None)
    assert (
        caught.value.message == "Log events in a single PutLogEvents request must be in chronological order."
    )


def test_accepted_events_may_span_at_most_a_day() -> None:
    assert len(prepare_batch(events(NOW - DAY_MS, NOW), NOW, None).accepted) == 2
    with pytest.raises(InvalidParameter, match="cannot span more than 24 hours"):
        prepare_batch(events(NOW - DAY_MS - 1, NOW), NOW, None)
    # the span counts accepted events only
    assert len(prepare_batch(events(NOW - 20 * DAY_MS, NOW), NOW, None).accepted) == 1


def test_event_and_batch_sizes_count_utf8_bytes_plus_26() -> None:
    largest = "x" * (MAX_EVENT_BYTES - 26)
    assert len(prepare_batch([InputEvent(NOW, largest)], NOW, None).accepted) == 1
    with pytest.raises(InvalidParameter) as caught:
        prepare_batch([InputEvent(NOW, largest + "x")], NOW, None)
    assert caught.value.message == (
        f"Log event too large: {MAX_EVENT_BYTES + 1} bytes exceeds limit of {MAX_EVENT_BYTES}"
    )
    half = "é" * 300_000  # two bytes each in UTF-8
    with pytest.raises(InvalidParameter) as caught:
        prepare_batch([InputEvent(NOW, half), InputEvent(NOW, half)], NOW, None)
    assert caught.value.message == f"Upload too large: 1200052 bytes exceeds limit of {MAX_BATCH_BYTES}"


def test_stream_tokens_round_trip_and_refuse_anything_else() -> None:
    at = Position(1_800_000_000_123, 42)
    token = stream_token("f", at)
    assert token == "f/00000001800000000123" + "42".rjust(36, "0") + "/s"
    assert read_stream_token(token) == ("f", at)
    assert read_stream_token(stream_token("b", TAIL)) == ("b", TAIL)
    assert read_stream_token(stream_token("f", HEAD)) == ("f", HEAD)
    too_big = "b/" + str(MAX_INT64 + 1).rjust(20, "0") + "1".rjust(36, "0") + "/s"
    for bad in ("", "x/1/s", token[:-2], token.replace("f/", "g/"), too_big):
        with pytest.raises(InvalidParameter):
            read_stream_token(bad)


def test_page_tokens_round_trip_and_are_checked() -> None:
    token = page_token("groups", "/a/b")
    assert read_page_token(token, 2) == ["groups", "/a/b"]
    for bad, size in ((token, 3), ("not base64!", 2), (page_token("x"), 2)):
        with pytest.raises(InvalidParameter):
            read_page_token(bad, size)


def test_a_group_is_named_by_name_or_identifier_but_not_both() -> None:
    assert group_reference("app", None) == (None, "app")
    assert group_reference(None, "app") == (None, "app")
    arn = "arn:aws:logs:eu-west-2:111122223333:log-group:/ecs/app"
    assert group_reference(None, arn) == ("111122223333", "/ecs/app")
    assert group_reference(None, arn + ":*") == ("111122223333", "/ecs/app")
    for name, identifier in ((None, None), ("a", "a"), (None, "arn:aws:s3:::bucket")):
        with pytest.raises(InvalidParameter):
            group_reference(name, identifier)


def test_resources_are_what_aws_evaluates() -> None:
    assert resource_arn("eu-west-2", "111122223333", "/ecs/app", "web/1") == (
        "arn:aws:logs:eu-west-2:111122223333:log-group:/ecs/app:log-stream:web/1"
    )
    assert resource_arn("eu-west-2", "111122223333", "/ecs/app") == (
        "arn:aws:logs:eu-west-2:111122223333:log-group:/ecs/app:log-stream:"
    )


@pytest.mark.parametrize(
    ("pattern", "matched"),
    [
        ("", {"ERROR disk full", "WARN slow", "INFO ok", 'say "hi"'}),
        ("ERROR", {"ERROR disk full"}),
        ("error", set()),  # case-sensitive
        ("ERROR full", {"ERROR disk full"}),
        ("ERROR slow", set()),
        ('"disk full"', {"ERROR disk full"}),
        ("?ERROR ?WARN", {"ERROR disk full", "WARN slow"}),
        ("-ERROR", {"WARN slow", "INFO ok", 'say "hi"'}),
        ('-"disk full" -INFO', {"WARN slow", 'say "hi"'}),
        ('"say \\"hi\\""', {'say "hi"'}),
        ("%^[A-Z]+ %", {"ERROR disk full", "WARN slow", "INFO ok"}),
        ("%[EW][RA][RN]%", {"ERROR disk full", "WARN slow"}),
        ("%full$%", {"ERROR disk full"}),
        ("ERR", {"ERROR disk full"}),  # terms match as substrings
    ],
)
def test_filter_patterns(pattern: str, matched: set[str]) -> None:
    messages = {"ERROR disk full", "WARN slow", "INFO ok", 'say "hi"'}
    parsed = FilterPattern.parse(pattern)
    assert {m for m in messages if parsed.matches(m)} == matched


@pytest.mark.parametrize("pattern", ['{ $.level = "ERROR" }', "[ip, user]", '"unterminated', "%(a)%", "%a!%"])
def test_unsupported_or_malformed_patterns_are_refused(pattern: str) -> None:
    with pytest.raises(InvalidParameter):
        FilterPattern.parse(pattern)
