"""Whether an installed version is affected by an advisory's ``affected`` entries: OSV range evaluation.

Each entry is stored in the affected index under its match ecosystem and name
(:mod:`~dockyard.domain.vulns.ecosystems`) with a small JSON payload (its ranges and explicit versions).
Evaluation follows the OSV schema's algorithm: a range's events are sorted in the range's order
(``SEMVER`` ranges in semver, ``ECOSYSTEM`` ranges in the ecosystem's own order, ``introduced: "0"``
first); walking them, ``introduced`` at or below the version opens, ``fixed`` at or below it closes,
``last_affected`` below it closes; ``limit`` events, when present, bound the whole range from above. A
version listed in ``versions`` is affected whatever the ranges say. ``fixed_in`` is the first ``fixed``
above the version in the range that affects it. A range whose version strings do not parse in its order
(or an ecosystem this module has no order for) affects nothing, so bad data never invents findings.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from univers.versions import Version

from dockyard.domain.vulns.ecosystems import match_ecosystem, match_name
from dockyard.domain.vulns.osv import SEMVER, Advisory, Affected, Event, Range
from dockyard.domain.vulns.versions import CACHE_SIZE, base_ecosystem, order_of, parse_version
from dockyard.domain.vulns.versions import SEMVER as SEMVER_ORDER

_CLOSES = {"fixed": operator.ge, "last_affected": operator.gt}  # at or above a fix, above the last affected
Sorted = tuple[tuple[Version | None, str, str], ...]  # (parsed or None for "0", kind, text), in order


@dataclass(frozen=True, slots=True)
class Match:
    advisory_id: str
    fixed_in: str | None


@dataclass(frozen=True, slots=True)
class AffectedEntry:
    """One ``affected`` entry of one advisory, as matching reads it back from the index."""

    advisory_id: str
    ecosystem: str  # as the record names it: it decides the ECOSYSTEM ranges' order
    ranges: tuple[Range, ...]
    versions: frozenset[str]


def index_rows(advisory: Advisory) -> list[tuple[str, str, dict[str, Any]]]:
    """``(match ecosystem, match name, payload)`` for each of the advisory's affected entries."""
    return [
        (
            match_ecosystem(entry.ecosystem),
            match_name(base_ecosystem(entry.ecosystem), entry.name),
            payload(entry),
        )
        for entry in advisory.affected
    ]


def payload(entry: Affected) -> dict[str, Any]:
    return {
        "ecosystem": entry.ecosystem,
        "ranges": [{"type": r.type, "events": [[e.kind, e.version] for e in r.events]} for r in entry.ranges],
        "versions": list(entry.versions),
    }


def entry_from_payload(advisory_id: str, data: Mapping[str, Any]) -> AffectedEntry:
    ranges = tuple(
        Range(r["type"], tuple(Event(kind, version) for kind, version in r["events"])) for r in data["ranges"]
    )
    return AffectedEntry(advisory_id, data["ecosystem"], ranges, frozenset(data["versions"]))


def matches(version: str, entries: Iterable[AffectedEntry]) -> list[Match]:
    """The advisories among ``entries`` that affect ``version``, one :class:`Match` each, in first-seen
    order; an advisory with several affecting entries takes the first known ``fixed_in``."""
    found: dict[str, str | None] = {}
    for entry in entries:
        affected, fixed_in = affects(entry, version)
        if affected and found.get(entry.advisory_id) is None:
            found[entry.advisory_id] = fixed_in
    return [Match(advisory_id, fixed_in) for advisory_id, fixed_in in found.items()]


def affects(entry: AffectedEntry, version: str) -> tuple[bool, str | None]:
    """Whether ``version`` is affected by ``entry``, and the fix above it when one is known."""
    listed = version in entry.versions
    ecosystem_order = order_of(entry.ecosystem)
    for range_ in entry.ranges:
        order = SEMVER_ORDER if range_.type == SEMVER else ecosystem_order
        if order is None:
            continue
        affected, fixed_in = in_range(order, range_, version)
        if affected:
            return True, fixed_in
    return listed, None


def in_range(order: str, range_: Range, version: str) -> tuple[bool, str | None]:
    parsed = parse_version(order, version)
    events = sorted_events(order, range_)
    if parsed is None or events is None:
        return False, None
    limits = [value for value, kind, _ in events if kind == "limit" and value is not None]
    if limits and not any(parsed < limit for limit in limits):
        return False, None
    vulnerable = False
    for value, kind, _ in events:
        if value is None:  # introduced: "0"
            vulnerable = True
        elif kind == "introduced":
            vulnerable = vulnerable or parsed >= value
        elif kind in _CLOSES and _CLOSES[kind](parsed, value):
            vulnerable = False
    if not vulnerable:
        return False, None
    fixes = (text for value, kind, text in events if kind == "fixed" and value is not None and value > parsed)
    return True, next(fixes, None)


@lru_cache(maxsize=CACHE_SIZE)
def sorted_events(order: str, range_: Range) -> Sorted | None:
    """The range's events parsed in ``order`` and sorted (``introduced: "0"`` first, ties kept in record
    order); ``None`` when a version does not parse. ``limit: "*"`` (no limit) is dropped."""
    parsed: list[tuple[Version | None, str, str]] = []
    for event in range_.events:
        if event.kind == "limit" and event.version == "*":
            continue
        if event.kind == "introduced" and event.version == "0":
            parsed.append((None, event.kind, event.version))
            continue
        value = parse_version(order, event.version)
        if value is None:
            return None
        parsed.append((value, event.kind, event.version))
    return tuple(sorted(parsed, key=_event_key))


def _event_key(event: tuple[Version | None, str, str]) -> tuple[Any, ...]:
    return (0,) if event[0] is None else (1, event[0])


def group_by_key(
    rows: Iterable[tuple[str, str, str, Mapping[str, Any]]],
) -> dict[tuple[str, str], list[AffectedEntry]]:
    """Index rows ``(advisory id, match ecosystem, match name, payload)`` grouped by (ecosystem, name)."""
    grouped: dict[tuple[str, str], list[AffectedEntry]] = {}
    for advisory_id, ecosystem, name, data in rows:
        grouped.setdefault((ecosystem, name), []).append(entry_from_payload(advisory_id, data))
    return grouped
