"""CloudWatch Logs' rules, free of I/O: errors, names and ARNs, PutLogEvents' batch limits, paging tokens and
filter patterns.

**Batch limits** are the ones AWS documents for PutLogEvents (the model's own documentation in botocore):
at most 10,000 events and 1,048,576 bytes (each message in UTF-8 plus 26 bytes), each event at most 1 MB,
events in chronological order, accepted events spanning at most 24 hours. Events more than 14 days old
(or older than the group's retention) or more than 2 hours in the future are not errors: they are left out
and reported in ``rejectedLogEventsInfo`` (``tooOldLogEventEndIndex`` and ``expiredLogEventEndIndex``
exclusive, ``tooNewLogEventStartIndex`` inclusive, as the model documents them).

**GetLogEvents tokens** name a place between two events of the stream's order (timestamp, then ingestion
order): ``f/<position>/s`` reads forward from after it, ``b/<position>/s`` backward from before it. A read
that finds nothing hands back the token it was given, so polling with the same token returns no events
and the same token until new events arrive, as AWS does.

**Filter patterns** (FilterLogEvents), matched case-sensitively as substrings of the message:

* empty: every event;
* ``ERROR Exception``: every term must occur; ``"Failed to process"``: a quoted phrase is one term
  (``\\"`` and ``\\\\`` inside quotes stand for ``"`` and ``\\``);
* ``?ERROR ?WARN``: at least one ``?`` term must occur (combined with plain terms: all plain terms *and*
  one of the ``?`` terms);
* ``-DEBUG`` / ``-"health check"``: the term must not occur;
* ``%regex%`` (the whole pattern): a search with AWS's regex subset (letters, digits, ``:_#=@/;,-`` and the
  operators ``^$?[]{}|\\*+.``; no parentheses).

JSON (``{ $.field = ... }``) and space-delimited (``[ip, user, ...]``) patterns are refused with
InvalidParameterException rather than matched wrongly. The tokenizer is hand-written: shlex loses whether
a ``-`` or ``?`` stood inside quotes, which decides what it means here.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any, Literal, TypeGuard

MAX_BATCH_EVENTS = 10_000
MAX_BATCH_BYTES = 1_048_576
MAX_EVENT_BYTES = 1_048_576
EVENT_OVERHEAD = 26
MAX_PAGE_BYTES = 1_048_576  # a GetLogEvents/FilterLogEvents page: "up to 1 MB of log events"
DAY_MS = 86_400_000
MAX_AGE_MS = 14 * DAY_MS
MAX_FUTURE_MS = 2 * 3_600_000
MAX_SPAN_MS = DAY_MS
RETENTION_DAYS = (
    *(1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731),
    *(1096, 1827, 2192, 2557, 2922, 3288, 3653),
)
GROUP_NOT_FOUND = "The specified log group does not exist."
STREAM_NOT_FOUND = "The specified log stream does not exist."
BAD_TOKEN = "The specified nextToken is invalid."  # noqa: S105 (a message)


class LogsError(Exception):
    """A CloudWatch Logs error; ``message`` is AWS's text."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ResourceNotFound(LogsError):
    pass


class ResourceAlreadyExists(LogsError):
    pass


class InvalidParameter(LogsError):
    pass


# -- names and ARNs -----------------------------------------------------------------------------------------

_IDENTIFIER_ARN = re.compile(
    r"arn:aws[a-z-]*:logs:[a-z0-9-]*:(?P<account>\d{12}):log-group:(?P<name>[^:]+)(:\*)?"
)


def group_arn(region: str, account: str, name: str) -> str:
    """``logGroupArn``: the group's ARN without the trailing ``:*``."""
    return f"arn:aws:logs:{region}:{account}:log-group:{name}"


def stream_arn(region: str, account: str, group: str, stream: str) -> str:
    return f"{group_arn(region, account, group)}:log-stream:{stream}"


def resource_arn(region: str, account: str, group: str, stream: str = "") -> str:
    """What IAM evaluates an action on, as AWS's denials show it: the stream's ARN for stream operations
    and, for group operations, the same with an empty stream (``...:log-group:<name>:log-stream:``), so a
    policy naming ``log-group:<name>:*`` covers both."""
    return stream_arn(region, account, group, stream)


def group_reference(name: str | None, identifier: str | None) -> tuple[str | None, str]:
    """(account named by an ARN identifier or None, group name) from ``logGroupName`` or
    ``logGroupIdentifier``: exactly one must be given."""
    if (name is None) == (identifier is None):
        raise InvalidParameter("Should provide either logGroupName or logGroupIdentifier, but not both.")
    if name is not None:
        return None, name
    assert identifier is not None
    match = _IDENTIFIER_ARN.fullmatch(identifier)
    if match is not None:
        return match["account"], match["name"]
    if identifier.startswith("arn:"):
        raise InvalidParameter(f"Invalid logGroupIdentifier: {identifier}")
    return None, identifier


def check_group_name(name: str) -> None:
    """CreateLogGroup's rule beyond the model's pattern: names may not start with ``aws/``."""
    if name.startswith("aws/"):
        raise InvalidParameter("Log group names can't start with the string aws/.")


def check_retention(days: int) -> None:
    if days not in RETENTION_DAYS:
        allowed = ", ".join(str(d) for d in RETENTION_DAYS)
        raise InvalidParameter(
            f"1 validation error detected: Value '{days}' at 'retentionInDays' failed to satisfy "
            f"constraint: Member must satisfy enum value set: [{allowed}]"
        )


# -- PutLogEvents batches -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InputEvent:
    timestamp: int  # milliseconds since the epoch
    message: str


@dataclass(frozen=True, slots=True)
class Rejected:
    too_new_start: int | None = None
    too_old_end: int | None = None
    expired_end: int | None = None

    def __bool__(self) -> bool:
        return any(v is not None for v in (self.too_new_start, self.too_old_end, self.expired_end))


@dataclass(frozen=True, slots=True)
class Batch:
    accepted: Sequence[InputEvent]
    rejected: Rejected


def message_bytes(message: str) -> bytes:
    """A message as stored: UTF-8, lone surrogates (legal in JSON) kept rather than refused."""
    return message.encode("utf-8", "surrogatepass")


def prepare_batch(events: Sequence[InputEvent], now_ms: int, retention_days: int | None) -> Batch:
    """The events PutLogEvents stores and those it rejects, or :class:`InvalidParameter` for a batch AWS
    refuses whole (see the module docstring)."""
    _check_sizes(events)
    for earlier, later in pairwise(events):
        if later.timestamp < earlier.timestamp:
            raise InvalidParameter(
                "Log events in a single PutLogEvents request must be in chronological order."
            )
    too_old = sum(1 for e in events if e.timestamp < now_ms - MAX_AGE_MS)
    expired = 0
    if retention_days is not None:
        expired = sum(1 for e in events if e.timestamp < now_ms - retention_days * DAY_MS)
    too_new = next((i for i, e in enumerate(events) if e.timestamp > now_ms + MAX_FUTURE_MS), None)
    start = max(too_old, expired)
    accepted = events[start:too_new]  # too old or expired come first, too new last: the events are sorted
    if accepted and accepted[-1].timestamp - accepted[0].timestamp > MAX_SPAN_MS:
        raise InvalidParameter(
            "The batch of log events in a single PutLogEvents request cannot span more than 24 hours."
        )
    rejected = Rejected(too_new, too_old or None, expired if expired > too_old else None)
    return Batch(accepted, rejected)


def _check_sizes(events: Sequence[InputEvent]) -> None:
    total = 0
    for event in events:
        size = len(message_bytes(event.message)) + EVENT_OVERHEAD
        if size > MAX_EVENT_BYTES:
            raise InvalidParameter(f"Log event too large: {size} bytes exceeds limit of {MAX_EVENT_BYTES}")
        total += size
    if total > MAX_BATCH_BYTES:
        raise InvalidParameter(f"Upload too large: {total} bytes exceeds limit of {MAX_BATCH_BYTES}")


# -- positions and tokens -----------------------------------------------------------------------------------

Direction = Literal["f", "b"]


@dataclass(frozen=True, order=True, slots=True)
class Position:
    """A place in a stream's (or group's) event order: ``event_id`` breaks timestamp ties by ingestion."""

    timestamp: int
    event_id: int


MAX_INT64 = 2**63 - 1  # the stores' BIGINT: no position or timestamp goes beyond it
HEAD = Position(0, 0)  # before every event (event ids start at 1)
TAIL = Position(MAX_INT64, MAX_INT64)  # after every event
_STREAM_TOKEN = re.compile(r"([fb])/(\d{20})(\d{36})/s")


def stream_token(direction: Direction, at: Position) -> str:
    """GetLogEvents' ``nextForwardToken``/``nextBackwardToken``: 56 digits, as AWS's tokens have."""
    return f"{direction}/{at.timestamp:020d}{at.event_id:036d}/s"


def read_stream_token(token: str) -> tuple[Direction, Position]:
    match = _STREAM_TOKEN.fullmatch(token)
    if match is None:
        raise InvalidParameter(BAD_TOKEN)
    direction: Direction = "f" if match[1] == "f" else "b"
    return direction, position_of(int(match[2]), int(match[3]))


def position_of(timestamp: object, number: object) -> Position:
    """A position read from a token, or :class:`InvalidParameter` when it cannot be one."""
    if not (_bounded(timestamp) and _bounded(number)):
        raise InvalidParameter(BAD_TOKEN)
    return Position(timestamp, number)


def _bounded(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_INT64


def event_id(at: Position) -> str:
    """FilterLogEvents' ``eventId``: unique per event, 56 digits like AWS's."""
    return f"{at.timestamp:020d}{at.event_id:036d}"


def page_token(*values: str | int | bool | None) -> str:
    """An opaque ``nextToken`` holding where a listing stopped."""
    raw = json.dumps(list(values), separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def read_page_token(token: str, size: int) -> list[Any]:
    """The values of a :func:`page_token` with ``size`` values, or :class:`InvalidParameter`."""
    try:
        values = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidParameter(BAD_TOKEN) from None
    if not isinstance(values, list) or len(values) != size:
        raise InvalidParameter(BAD_TOKEN)
    return values


# -- filter patterns ----------------------------------------------------------------------------------------

_TERM = re.compile(r'\s*(?P<op>[?-]?)(?:"(?P<quoted>(?:[^"\\]|\\.)*)"|(?P<word>[^\s"]+))\s*')
_REGEX_ALLOWED = re.compile(r"[A-Za-z0-9:_#=@/;,\-^$?\[\]{}|\\*+. ]*")


@dataclass(frozen=True, slots=True)
class FilterPattern:
    required: tuple[str, ...] = ()
    any_of: tuple[str, ...] = ()
    excluded: tuple[str, ...] = ()
    regex: re.Pattern[str] | None = None

    @classmethod
    def parse(cls, text: str | None) -> FilterPattern:
        """The pattern ``text`` (see the module docstring), or :class:`InvalidParameter`."""
        text = (text or "").strip()
        if not text:
            return cls()
        if text.startswith(("{", "[")):
            raise InvalidParameter(
                "JSON and space-delimited filter patterns are not supported by this server."
            )
        if len(text) >= 2 and text.startswith("%") and text.endswith("%"):
            return cls(regex=_regex(text[1:-1]))
        return _terms(text)

    def matches(self, message: str) -> bool:
        if self.regex is not None:
            return self.regex.search(message) is not None
        if any(term in message for term in self.excluded):
            return False
        if not all(term in message for term in self.required):
            return False
        return not self.any_of or any(term in message for term in self.any_of)


def _regex(body: str) -> re.Pattern[str]:
    if not body or _REGEX_ALLOWED.fullmatch(body) is None:
        raise InvalidParameter(f"Invalid regex in filter pattern: %{body}%")
    try:
        return re.compile(body)
    except re.error as exc:
        raise InvalidParameter(f"Invalid regex in filter pattern: {exc}") from None


def _terms(text: str) -> FilterPattern:
    groups: dict[str, list[str]] = {"": [], "?": [], "-": []}
    position = 0
    while position < len(text):
        match = _TERM.match(text, position)
        if match is None or match.end() == position:
            raise InvalidParameter(f"Invalid character(s) in term '{text[position:]}'")
        quoted = match["quoted"]
        term = re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else match["word"]
        if term:
            groups[match["op"]].append(term)
        position = match.end()
    return FilterPattern(tuple(groups[""]), tuple(groups["?"]), tuple(groups["-"]))
