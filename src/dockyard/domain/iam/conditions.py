"""Condition operators: parsing of operator names and evaluation against a request context.

Semantics, as AWS documents them:

- Keys in one operator block AND together, the values of one key OR together, operator blocks AND together.
- A key absent from the request makes a condition false, except that a negated operator (``StringNotEquals``,
  ``NotIpAddress``, ``ArnNotLike``...) is then true; ``...IfExists`` makes it true in every case.
- ``Null``: ``"true"`` matches when the key is absent, ``"false"`` when it is present.
- ``ForAnyValue:``: true when some request value matches some policy value; false for an absent key or an
  empty set. ``ForAllValues:``: true when every request value matches some policy value; true for an absent
  key or an empty set. With a negated operator the negation applies to each request value.
- Without a set qualifier a multivalued request key matches when any of its values does (a negated operator
  when none does).
- Policy variables are substituted in the values of String, Arn and Bool operators only.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from enum import StrEnum

from dockyard.domain.iam.context import RequestContext
from dockyard.domain.iam.patterns import Chunk, Resolver, chunks_match, chunks_match_arn, render

Comparator = Callable[[str, tuple[Chunk, ...]], bool]

_DATE = re.compile(
    r"^(?P<year>\d{4})(?:-(?P<month>\d{2})(?:-(?P<day>\d{2})"
    r"(?:[Tt](?P<hour>\d{1,2}):(?P<minute>\d{2})(?::(?P<second>\d{2})(?:\.(?P<fraction>\d{1,9}))?)?"
    r"(?P<tz>[Zz]|[+-]\d{2}(?::?\d{2})?)?)?)?)?\Z"
)
_EPOCH = re.compile(r"^\d{1,19}(?:\.\d+)?\Z")
MAX_EPOCH = 2**63 - 1


class Qualifier(StrEnum):
    ANY = "ForAnyValue"
    ALL = "ForAllValues"


@dataclass(frozen=True, slots=True)
class Condition:
    """One key tested by one operator, e.g. ``"ForAnyValue:StringLikeIfExists": {"aws:TagKeys": [...]}``."""

    operator: str
    base: str
    key: str
    values: tuple[str, ...]
    qualifier: Qualifier | None = None
    if_exists: bool = False

    @property
    def negated(self) -> bool:
        return self.base != "Null" and OPERATORS[self.base][1]


def _text(policy: tuple[Chunk, ...]) -> str:
    return "".join(chunk.text for chunk in policy)


def _string_equals(value: str, policy: tuple[Chunk, ...]) -> bool:
    return value == _text(policy)


def _string_equals_ic(value: str, policy: tuple[Chunk, ...]) -> bool:
    return value.casefold() == _text(policy).casefold()


def _string_like(value: str, policy: tuple[Chunk, ...]) -> bool:
    return chunks_match(policy, value)


def _arn_like(value: str, policy: tuple[Chunk, ...]) -> bool:
    return chunks_match_arn(policy, value)


def _bool(value: str, policy: tuple[Chunk, ...]) -> bool:
    return value.lower() == _text(policy).lower()


def _decimal(text: str) -> Decimal | None:
    try:
        number = Decimal(text.strip())
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _numeric(compare: Callable[[Decimal, Decimal], bool]) -> Comparator:
    def comparator(value: str, policy: tuple[Chunk, ...]) -> bool:
        left, right = _decimal(value), _decimal(_text(policy))
        return left is not None and right is not None and compare(left, right)

    return comparator


def parse_date(text: str) -> datetime | None:
    """Epoch seconds (digits alone) or a W3C ISO 8601 date (``2020-01``, ``2020-01-01T00:00:00Z``...); naive
    dates are UTC."""
    text = text.strip()
    if _EPOCH.match(text):
        seconds = Decimal(text)
        if seconds > MAX_EPOCH:
            return None
        try:
            return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=float(seconds))
        except OverflowError:
            return None
    match = _DATE.match(text)
    if match is None:
        return None
    return _from_parts(match)


def _from_parts(match: re.Match[str]) -> datetime | None:
    part = match.groupdict()
    fraction = (part["fraction"] or "").ljust(6, "0")[:6]
    try:
        moment = datetime(
            int(part["year"]),
            int(part["month"] or 1),
            int(part["day"] or 1),
            int(part["hour"] or 0),
            int(part["minute"] or 0),
            int(part["second"] or 0),
            int(fraction),
            tzinfo=UTC,
        )
    except ValueError:
        return None
    zone = part["tz"]
    if zone and zone not in "Zz":
        sign = -1 if zone[0] == "-" else 1
        digits = zone[1:].replace(":", "")
        offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:4] or 0))
        moment -= sign * offset
    return moment


def _date(compare: Callable[[datetime, datetime], bool]) -> Comparator:
    def comparator(value: str, policy: tuple[Chunk, ...]) -> bool:
        left, right = parse_date(value), parse_date(_text(policy))
        return left is not None and right is not None and compare(left, right)

    return comparator


def _binary(value: str, policy: tuple[Chunk, ...]) -> bool:
    expected = _text(policy)
    try:
        return base64.b64decode(value, validate=True) == base64.b64decode(expected, validate=True)
    except (binascii.Error, ValueError):
        return value == expected


def _ip(value: str, policy: tuple[Chunk, ...]) -> bool:
    try:
        address = ipaddress.ip_address(value.strip())
        network = ipaddress.ip_network(_text(policy).strip(), strict=False)
    except ValueError:
        return False
    return address.version == network.version and address in network


# base operator -> (comparator, negated, substitutes policy variables)
OPERATORS: dict[str, tuple[Comparator, bool, bool]] = {
    "StringEquals": (_string_equals, False, True),
    "StringNotEquals": (_string_equals, True, True),
    "StringEqualsIgnoreCase": (_string_equals_ic, False, True),
    "StringNotEqualsIgnoreCase": (_string_equals_ic, True, True),
    "StringLike": (_string_like, False, True),
    "StringNotLike": (_string_like, True, True),
    "NumericEquals": (_numeric(lambda a, b: a == b), False, False),
    "NumericNotEquals": (_numeric(lambda a, b: a == b), True, False),
    "NumericLessThan": (_numeric(lambda a, b: a < b), False, False),
    "NumericLessThanEquals": (_numeric(lambda a, b: a <= b), False, False),
    "NumericGreaterThan": (_numeric(lambda a, b: a > b), False, False),
    "NumericGreaterThanEquals": (_numeric(lambda a, b: a >= b), False, False),
    "DateEquals": (_date(lambda a, b: a == b), False, False),
    "DateNotEquals": (_date(lambda a, b: a == b), True, False),
    "DateLessThan": (_date(lambda a, b: a < b), False, False),
    "DateLessThanEquals": (_date(lambda a, b: a <= b), False, False),
    "DateGreaterThan": (_date(lambda a, b: a > b), False, False),
    "DateGreaterThanEquals": (_date(lambda a, b: a >= b), False, False),
    "Bool": (_bool, False, True),
    "BinaryEquals": (_binary, False, False),
    "IpAddress": (_ip, False, False),
    "NotIpAddress": (_ip, True, False),
    "ArnEquals": (_arn_like, False, True),
    "ArnLike": (_arn_like, False, True),
    "ArnNotEquals": (_arn_like, True, True),
    "ArnNotLike": (_arn_like, True, True),
}
BASE_OPERATORS = frozenset(OPERATORS) | {"Null"}


def split_operator(operator: str) -> tuple[Qualifier | None, str, bool]:
    """``"ForAnyValue:StringLikeIfExists"`` -> ``(Qualifier.ANY, "StringLike", True)``; base unchecked."""
    qualifier = None
    for candidate in Qualifier:
        if operator.startswith(candidate.value + ":"):
            qualifier, operator = candidate, operator[len(candidate.value) + 1 :]
            break
    if_exists = operator.endswith("IfExists")
    return qualifier, operator.removesuffix("IfExists"), if_exists


def condition_holds(condition: Condition, context: RequestContext, resolve: Resolver | None) -> bool:
    """Evaluate one condition; raises ``Unresolvable`` when a policy variable cannot be substituted."""
    request = context.get(condition.key)
    if condition.base == "Null":
        return _null(condition.values, request is None)
    if request is None and condition.if_exists:
        return True
    comparator, negated, variables = OPERATORS[condition.base]
    policy = [render(value, resolve if variables else None) for value in condition.values]

    def hits(value: str) -> bool:
        return any(comparator(value, chunks) for chunks in policy)

    if condition.qualifier is None:
        if request is None:
            return negated
        return any(hits(value) for value in request) != negated
    if request is None or request == ("",):
        return condition.qualifier is Qualifier.ALL
    results = (hits(value) != negated for value in request)
    return any(results) if condition.qualifier is Qualifier.ANY else all(results)


def _null(values: tuple[str, ...], absent: bool) -> bool:
    return any((value.lower() == "true") == absent and value.lower() in ("true", "false") for value in values)
