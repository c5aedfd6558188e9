"""OSV range evaluation, pure: each event kind, explicit versions, orders per range type, and bad data."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from dockyard.domain.vulns.matching import AffectedEntry, Match, affects, entry_from_payload, matches, payload
from dockyard.domain.vulns.osv import Affected, Event, Range


def entry(
    ecosystem: str, *ranges: tuple[str, list[tuple[str, str]]], versions: tuple[str, ...] = ()
) -> AffectedEntry:
    built = tuple(Range(kind, tuple(Event(k, v) for k, v in events)) for kind, events in ranges)
    return AffectedEntry("ADV-1", ecosystem, built, frozenset(versions))


def test_introduced_zero_and_fixed() -> None:
    e = entry("PyPI", ("ECOSYSTEM", [("introduced", "0"), ("fixed", "2.7.2")]))
    assert affects(e, "0.1") == (True, "2.7.2")
    assert affects(e, "2.7.2rc1") == (True, "2.7.2")
    assert affects(e, "2.7.2") == (False, None)
    assert affects(e, "3.0") == (False, None)


def test_two_intervals_in_one_range_unsorted_in_the_record() -> None:
    e = entry(
        "PyPI",
        ("ECOSYSTEM", [("introduced", "3.0.0"), ("fixed", "3.0.1"), ("introduced", "0"), ("fixed", "2.3.8")]),
    )
    assert affects(e, "2.3.7") == (True, "2.3.8")
    assert affects(e, "2.3.8") == (False, None)
    assert affects(e, "2.9") == (False, None)
    assert affects(e, "3.0.0") == (True, "3.0.1")
    assert affects(e, "3.0.1") == (False, None)


def test_last_affected_is_inclusive() -> None:
    e = entry("PyPI", ("ECOSYSTEM", [("introduced", "1.0"), ("last_affected", "1.11.0")]))
    assert affects(e, "0.9") == (False, None)
    assert affects(e, "1.0") == (True, None)
    assert affects(e, "1.11.0") == (True, None)
    assert affects(e, "1.11.1") == (False, None)


def test_limit_bounds_the_range_from_above() -> None:
    e = entry("PyPI", ("ECOSYSTEM", [("introduced", "0"), ("limit", "2.0")]))
    assert affects(e, "1.9") == (True, None)
    assert affects(e, "2.0") == (False, None)
    unlimited = entry("PyPI", ("ECOSYSTEM", [("introduced", "0"), ("limit", "*")]))
    assert affects(unlimited, "99") == (True, None)


def test_an_open_range_affects_everything_from_introduced() -> None:
    e = entry("Debian:12", ("ECOSYSTEM", [("introduced", "1.2-1")]))
    assert affects(e, "1.1-9") == (False, None)
    assert affects(e, "1:0.1-1") == (True, None)  # the epoch puts it above


def test_explicit_versions_affect_whatever_the_ranges_say() -> None:
    e = entry("PyPI", ("ECOSYSTEM", [("introduced", "0"), ("fixed", "1.0")]), versions=("1.5",))
    assert affects(e, "1.5") == (True, None)
    assert affects(e, "1.6") == (False, None)
    only_listed = entry("OSS-Fuzz", versions=("abc",))  # no order known: the list alone decides
    assert affects(only_listed, "abc") == (True, None)


def test_semver_ranges_use_semver_whatever_the_ecosystem() -> None:
    e = entry("Go", ("SEMVER", [("introduced", "1.16.0-0"), ("fixed", "1.16.1")]))
    assert affects(e, "1.16.0") == (True, "1.16.1")
    assert affects(e, "1.16.0-rc.1") == (True, "1.16.1")
    assert affects(e, "1.15.15") == (False, None)


def test_ecosystem_ranges_use_the_ecosystem_order() -> None:
    e = entry("Ubuntu:18.04:LTS", ("ECOSYSTEM", [("introduced", "0"), ("fixed", "1.6.6ubuntu0.1")]))
    assert affects(e, "1.6.3ubuntu0.1") == (True, "1.6.6ubuntu0.1")
    assert affects(e, "1.6.6") == (True, "1.6.6ubuntu0.1")  # dpkg order, not string or semver order
    assert affects(e, "1.6.6ubuntu0.1") == (False, None)


def test_unparseable_data_matches_nothing() -> None:
    bad_event = entry("PyPI", ("ECOSYSTEM", [("introduced", "0"), ("fixed", "not a version")]))
    assert affects(bad_event, "1.0") == (False, None)
    good = entry("PyPI", ("ECOSYSTEM", [("introduced", "0"), ("fixed", "2.0")]))
    assert affects(good, "not-a-version") == (False, None)
    unknown_order = entry("Hackage", ("ECOSYSTEM", [("introduced", "0")]))
    assert affects(unknown_order, "1.0") == (False, None)


def test_one_match_per_advisory_with_the_first_known_fix() -> None:
    pro = AffectedEntry(
        "USN-1", "Ubuntu:Pro:18.04:LTS", (Range("ECOSYSTEM", (Event("introduced", "0"),)),), frozenset()
    )
    lts = AffectedEntry(
        "USN-1",
        "Ubuntu:18.04:LTS",
        (Range("ECOSYSTEM", (Event("introduced", "0"), Event("fixed", "2.0-1"))),),
        frozenset(),
    )
    other = AffectedEntry(
        "USN-2", "Ubuntu:18.04:LTS", (Range("ECOSYSTEM", (Event("introduced", "3.0"),)),), frozenset()
    )
    assert matches("1.0-1", [pro, lts, other]) == [Match("USN-1", "2.0-1")]


def test_payload_round_trip() -> None:
    affected = Affected(
        "Alpine:v3.18",
        "openssl",
        (Range("ECOSYSTEM", (Event("introduced", "0"), Event("fixed", "3.1.4-r0"))),),
        ("3.1.0-r0",),
    )
    back = entry_from_payload("ALPINE-1", payload(affected))
    assert back == AffectedEntry("ALPINE-1", "Alpine:v3.18", affected.ranges, frozenset({"3.1.0-r0"}))


@given(
    st.lists(st.integers(0, 30), min_size=1, max_size=6, unique=True).map(sorted),
    st.integers(0, 31),
    st.booleans(),
)
def test_interval_semantics(bounds: list[int], probe: int, from_zero: bool) -> None:
    """Bounds b0 < b1 < ... alternate introduced/fixed (b0 may be "0"); a version is affected exactly when it
    lies in some [introduced, fixed) interval, and its fix is that interval's end."""
    events = [("introduced" if i % 2 == 0 else "fixed", f"1.{b}") for i, b in enumerate(bounds)]
    if from_zero:
        events[0] = ("introduced", "0")
    lows = [-1 if (from_zero and i == 0) else b for i, b in enumerate(bounds)]
    intervals = [(lows[i], bounds[i + 1] if i + 1 < len(bounds) else None) for i in range(0, len(bounds), 2)]
    expected = next(
        (
            (True, None if end is None else f"1.{end}")
            for start, end in intervals
            if start <= probe and (end is None or probe < end)
        ),
        (False, None),
    )
    assert affects(entry("PyPI", ("ECOSYSTEM", events)), f"1.{probe}") == expected
