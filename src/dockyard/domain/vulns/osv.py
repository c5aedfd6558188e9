"""One OSV record (https://ossf.github.io/osv-schema/) parsed into frozen values, or rejected with a reason.

Only what matching and ECR's findings need is modelled; the whole record is kept as ``raw`` for storage.
Parsing is strict about what matching relies on (an ``id``, a ``modified`` time, well-formed ``affected``
entries and events) and lenient about the rest: an unknown range type (``GIT``) is dropped, not rejected,
and a missing optional field is simply absent. Timestamps are RFC 3339; fractions finer than microseconds
(some feeds write nanoseconds) are truncated.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

EVENT_KINDS = ("introduced", "fixed", "last_affected", "limit")
ECOSYSTEM = "ECOSYSTEM"
SEMVER = "SEMVER"
RANGE_TYPES = (ECOSYSTEM, SEMVER)  # GIT ranges name commits, which an image's packages do not have
MAX_ID = 128
MAX_NAME = 512
MAX_ECOSYSTEM = 128

_FRACTION = re.compile(r"(\.\d{6})\d+")


class InvalidAdvisory(ValueError):
    """The record is not an OSV advisory this database can use; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Event:
    kind: str  # one of EVENT_KINDS
    version: str


@dataclass(frozen=True, slots=True)
class Range:
    type: str  # ECOSYSTEM or SEMVER
    events: tuple[Event, ...]


@dataclass(frozen=True, slots=True)
class Severity:
    type: str  # CVSS_V2, CVSS_V3, CVSS_V4, or a vendor's own ("Ubuntu")
    score: str


@dataclass(frozen=True, slots=True)
class Reference:
    type: str
    url: str


@dataclass(frozen=True, slots=True)
class Affected:
    """One ``affected`` entry: a package in one ecosystem (as the record names both) and its versions."""

    ecosystem: str
    name: str
    ranges: tuple[Range, ...] = ()
    versions: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Advisory:
    id: str
    modified: datetime
    published: datetime | None = None
    withdrawn: datetime | None = None
    summary: str = ""
    details: str = ""
    aliases: tuple[str, ...] = ()
    upstream: tuple[str, ...] = ()
    severity: tuple[Severity, ...] = ()  # the record's, then its affected entries' (schema 1.5+)
    severity_words: tuple[str, ...] = ()  # database_specific / vendor severities, most authoritative first
    database_url: str | None = None  # database_specific.url (Go's pkg.go.dev page)
    references: tuple[Reference, ...] = ()
    affected: tuple[Affected, ...] = ()
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)


def parse_time(text: str) -> datetime:
    """An RFC 3339 timestamp as an aware UTC datetime (``Z`` or an offset; no zone means UTC)."""
    value = _FRACTION.sub(r"\1", text.strip())
    if value[-1:] in ("Z", "z"):
        value = value[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidAdvisory(f"not an RFC 3339 time: {text[:40]!r}") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def parse_advisory(data: object) -> Advisory:
    """``data`` (a decoded JSON or YAML document) as an :class:`Advisory`; raises :class:`InvalidAdvisory`."""
    if not isinstance(data, dict):
        raise InvalidAdvisory("not an object")
    advisory_id = _text(data.get("id"), "id", MAX_ID)
    if not advisory_id:
        raise InvalidAdvisory("no id")
    modified = _required_time(data, "modified")
    return Advisory(
        id=advisory_id,
        modified=modified,
        published=_optional_time(data, "published"),
        withdrawn=_optional_time(data, "withdrawn"),
        summary=_text(data.get("summary"), "summary"),
        details=_text(data.get("details"), "details"),
        aliases=_strings(data.get("aliases"), "aliases"),
        upstream=_strings(data.get("upstream"), "upstream"),
        severity=_all_severities(data),
        severity_words=_severity_words(data),
        database_url=_database_url(data.get("database_specific")),
        references=_references(data.get("references")),
        affected=tuple(_affected_entries(data.get("affected"))),
        raw=data,
    )


def _text(value: object, what: str, limit: int | None = None) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidAdvisory(f"{what} is not a string")
    if limit is not None and len(value) > limit:
        raise InvalidAdvisory(f"{what} is longer than {limit} characters")
    return value


def _strings(value: object, what: str) -> tuple[str, ...]:
    if value is None or value == "":
        return ()
    if not isinstance(value, list | tuple):
        raise InvalidAdvisory(f"{what} is not a list")
    return tuple(_text(item, what) for item in value if item)


def _required_time(data: Mapping[str, Any], key: str) -> datetime:
    value = data.get(key)
    if not value or not isinstance(value, str):
        raise InvalidAdvisory(f"no {key} time")
    return parse_time(value)


def _optional_time(data: Mapping[str, Any], key: str) -> datetime | None:
    value = data.get(key)
    if not value:
        return None
    if not isinstance(value, str):
        raise InvalidAdvisory(f"{key} is not a string")
    return parse_time(value)


def _list_of_objects(value: object, what: str) -> list[Mapping[str, Any]]:
    if value is None or value == "":
        return []
    if not isinstance(value, list | tuple):
        raise InvalidAdvisory(f"{what} is not a list")
    if not all(isinstance(item, dict) for item in value):
        raise InvalidAdvisory(f"{what} holds something that is not an object")
    return list(value)


def _severities(value: object) -> list[Severity]:
    found = []
    for item in _list_of_objects(value, "severity"):
        kind, score = item.get("type"), item.get("score")
        if isinstance(kind, str) and isinstance(score, str) and score:
            found.append(Severity(kind, score))
    return found


def _all_severities(data: Mapping[str, Any]) -> tuple[Severity, ...]:
    found = _severities(data.get("severity"))
    for entry in _list_of_objects(data.get("affected"), "affected"):
        found.extend(_severities(entry.get("severity")))
    return tuple(dict.fromkeys(found))


def _word(specific: object) -> str | None:
    if isinstance(specific, dict):
        word = specific.get("severity")
        if isinstance(word, str) and word.strip():
            return word.strip()
    return None


def _severity_words(data: Mapping[str, Any]) -> tuple[str, ...]:
    """``database_specific.severity`` (GHSA's words), vendor-typed ``severity`` scores (Ubuntu's priority),
    then the affected entries' own ``database_specific``/``ecosystem_specific`` severity."""
    words = [_word(data.get("database_specific"))]
    words += [s.score for s in _severities(data.get("severity")) if not s.type.startswith("CVSS")]
    for entry in _list_of_objects(data.get("affected"), "affected"):
        words += [_word(entry.get("database_specific")), _word(entry.get("ecosystem_specific"))]
    return tuple(dict.fromkeys(word for word in words if word))


def _database_url(specific: object) -> str | None:
    url = specific.get("url") if isinstance(specific, dict) else None
    return url if isinstance(url, str) and url.startswith(("https://", "http://")) else None


def _references(value: object) -> tuple[Reference, ...]:
    found = []
    for item in _list_of_objects(value, "references"):
        kind, url = item.get("type"), item.get("url")
        if isinstance(kind, str) and isinstance(url, str) and url:
            found.append(Reference(kind, url))
    return tuple(found)


def _affected_entries(value: object) -> list[Affected]:
    entries = []
    for item in _list_of_objects(value, "affected"):
        package = item.get("package")
        if package is None:
            continue  # an entry of GIT ranges only (a project's repository, not a package)
        if not isinstance(package, dict):
            raise InvalidAdvisory("affected package is not an object")
        ecosystem = _text(package.get("ecosystem"), "package ecosystem", MAX_ECOSYSTEM)
        name = _text(package.get("name"), "package name", MAX_NAME)
        if not ecosystem or not name:
            raise InvalidAdvisory("affected package without ecosystem or name")
        ranges = tuple(_range(r) for r in _list_of_objects(item.get("ranges"), "ranges"))
        versions = _strings(item.get("versions"), "versions")
        entries.append(Affected(ecosystem, name, tuple(r for r in ranges if r is not None), versions))
    return entries


def _range(value: Mapping[str, Any]) -> Range | None:
    kind = value.get("type")
    if not isinstance(kind, str):
        raise InvalidAdvisory("range without a type")
    events = [_event(event) for event in _list_of_objects(value.get("events"), "events")]
    if not events:
        raise InvalidAdvisory("range without events")
    return Range(kind, tuple(events)) if kind in RANGE_TYPES else None


def _event(value: Mapping[str, Any]) -> Event:
    kinds = [kind for kind in EVENT_KINDS if kind in value]
    if len(kinds) != 1:
        raise InvalidAdvisory(f"an event must have exactly one of {', '.join(EVENT_KINDS)}")
    version = value[kinds[0]]
    if not isinstance(version, str) or not version:
        raise InvalidAdvisory(f"{kinds[0]} is not a version string")
    return Event(kinds[0], version)
