"""``Range`` header parsing for blob downloads (single byte ranges only)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dockyard.domain.errors import ByteRangeInvalid
from dockyard.http.oci.streaming import parse_range


@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [
        ("bytes=0-9", 100, (0, 9)),
        ("bytes=10-", 100, (10, 99)),
        ("bytes=-10", 100, (90, 99)),
        ("bytes=-1000", 100, (0, 99)),
        ("bytes=0-1000", 100, (0, 99)),
        ("bytes=99-99", 100, (99, 99)),
        ("bytes=0-0", 1, (0, 0)),
        (" bytes=1-2 ", 10, (1, 2)),
    ],
)
def test_satisfiable_ranges(header: str, size: int, expected: tuple[int, int]) -> None:
    assert parse_range(header, size) == expected


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "bytes=",
        "bytes=-",
        "bytes=a-b",
        "items=0-1",
        "bytes=0-1,3-4",
        "0-1",
        "bytes 0-1",
        "bytes=1-2-3",
    ],
)
def test_absent_or_malformed_ranges_mean_the_whole_blob(header: str | None) -> None:
    assert parse_range(header, 100) is None


@pytest.mark.parametrize(
    ("header", "size"),
    [("bytes=100-", 100), ("bytes=100-200", 100), ("bytes=5-3", 100), ("bytes=-0", 100), ("bytes=0-", 0)],
)
def test_unsatisfiable_ranges_are_refused_with_the_size(header: str, size: int) -> None:
    with pytest.raises(ByteRangeInvalid) as caught:
        parse_range(header, size)
    assert caught.value.size == size


@given(
    st.integers(0, 10_000),
    st.one_of(st.none(), st.integers(0, 20_000)),
    st.one_of(st.none(), st.integers(0, 20_000)),
)
def test_any_answer_lies_inside_the_blob(size: int, first: int | None, last: int | None) -> None:
    header = f"bytes={'' if first is None else first}-{'' if last is None else last}"
    try:
        answer = parse_range(header, size)
    except ByteRangeInvalid:
        return
    if answer is not None:
        start, end = answer
        assert 0 <= start <= end < size


def test_suffix_range_of_an_empty_blob_is_the_whole_blob() -> None:
    assert parse_range("bytes=-5", 0) is None
