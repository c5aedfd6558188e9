"""The service models' ``pattern`` constraints (Java regular expressions) as Python ones.

AWS validates with ``java.util.regex`` and ``Matcher.matches()`` (the whole value must match). The models
use Java syntax that Python's ``re`` lacks or reads differently; :func:`translate` rewrites:

* Unicode properties ``\\p{L}``, ``\\p{Zs}``, ``\\P{C}`` (inside or outside a class) and Java's POSIX
  classes ``\\p{Alpha}``, ``\\p{Print}``… (ASCII-only, as in Java) into explicit code-point ranges, built
  once from :mod:`unicodedata` (code points above U+3FFFF count as unassigned);
* UTF-16 surrogate pairs ``\\uD800\\uDC00`` into the one code point Java reads them as;
* ``\\x{HHHH}`` into ``\\UXXXXXXXX``, ``\\z`` into ``\\Z``;
* a ``-`` right after a class escape inside a class (``[\\w-_]``), and ``|`` inside a class, into literals.

What remains untranslatable (nested classes and ``&&`` intersections, inline flags mid-pattern, malformed
patterns) is not checked at all, and logged once, rather than guessed at: 0.2 % of all botocore
patterns (18 of 10093 in botocore 1.44), none in ECR, IAM, STS, ECS or Logs.
"""

from __future__ import annotations

import itertools
import logging
import re
import unicodedata
import warnings
from functools import cache

log = logging.getLogger("dockyard.aws")

_SCANNED = 0x40000
_MAX = 0x10FFFF
_SURROGATES = re.compile(r"\\u(d[89ab][0-9a-f]{2})\\u(d[c-f][0-9a-f]{2})", re.IGNORECASE)
Ranges = list[tuple[int, int]]

_POSIX: dict[str, Ranges] = {
    "Lower": [(0x61, 0x7A)],
    "Upper": [(0x41, 0x5A)],
    "ASCII": [(0x00, 0x7F)],
    "Alpha": [(0x41, 0x5A), (0x61, 0x7A)],
    "Digit": [(0x30, 0x39)],
    "Alnum": [(0x30, 0x39), (0x41, 0x5A), (0x61, 0x7A)],
    "Punct": [(0x21, 0x2F), (0x3A, 0x40), (0x5B, 0x60), (0x7B, 0x7E)],
    "Graph": [(0x21, 0x7E)],
    "Print": [(0x20, 0x7E)],
    "Blank": [(0x09, 0x09), (0x20, 0x20)],
    "Cntrl": [(0x00, 0x1F), (0x7F, 0x7F)],
    "XDigit": [(0x30, 0x39), (0x41, 0x46), (0x61, 0x66)],
    "Space": [(0x09, 0x0D), (0x20, 0x20)],
    "IsWhitespace": [
        (0x09, 0x0D),
        (0x20, 0x20),
        (0x85, 0x85),
        (0xA0, 0xA0),
        (0x1680, 0x1680),
        (0x2000, 0x200A),
        (0x2028, 0x2029),
        (0x202F, 0x202F),
        (0x205F, 0x205F),
        (0x3000, 0x3000),
    ],
}


@cache
def _category_ranges() -> dict[str, Ranges]:
    """Every two-letter Unicode general category as code-point ranges (about 0.2 s, once).

    Planes 4 to 16 hold only tags, variation selectors and private use, so everything the models ask
    for lies below U+40000; the rest is counted as unassigned (``Cn``).
    """
    ranges: dict[str, Ranges] = {}
    first = 0
    categories = map(unicodedata.category, map(chr, range(_SCANNED)))
    for cat, run in itertools.groupby(categories):
        size = sum(1 for _ in run)
        ranges.setdefault(cat, []).append((first, first + size - 1))
        first += size
    ranges.setdefault("Cn", []).append((_SCANNED, _MAX))
    return ranges


def _property(name: str) -> Ranges | None:
    """The code points of Java property ``name`` (``L``, ``Lu``, ``IsL``, ``Alpha``…), or None."""
    if name in _POSIX:
        return _POSIX[name]
    name = name.removeprefix("Is").removeprefix("gc=").removeprefix("General_Category=")
    table = _category_ranges()
    cats = [c for c in table if c == name or (len(name) == 1 and c[0] == name)]
    if not cats:
        return None
    return sorted(span for c in cats for span in table[c])


def _complement(ranges: Ranges) -> Ranges:
    result: Ranges = []
    start = 0
    for lo, hi in sorted(ranges):
        if lo > start:
            result.append((start, lo - 1))
        start = max(start, hi + 1)
    if start <= _MAX:
        result.append((start, _MAX))
    return result


def _class_body(ranges: Ranges) -> str:
    return "".join(f"\\U{lo:08x}" if lo == hi else f"\\U{lo:08x}-\\U{hi:08x}" for lo, hi in ranges)


def _escape(pattern: str, i: int, in_class: bool) -> tuple[str, int]:
    """The translation of the escape at ``pattern[i]`` and the index just past it."""
    nxt = pattern[i + 1 : i + 2]
    if nxt in ("p", "P") and pattern[i + 2 : i + 3] == "{":
        end = pattern.find("}", i)
        ranges = _property(pattern[i + 3 : end]) if end > 0 else None
        if ranges is None:
            return pattern[i : i + 2], i + 2  # left as is: the compile fails and the pattern is skipped
        body = _class_body(_complement(ranges) if nxt == "P" else ranges)
        text, i = (body if in_class else f"[{body}]"), end + 1
    elif nxt == "x" and pattern[i + 2 : i + 3] == "{":
        end = pattern.find("}", i)
        text, i = f"\\U{int(pattern[i + 3 : end], 16):08x}", end + 1
    elif nxt == "z":
        text, i = "\\Z", i + 2
    else:
        text, i = pattern[i : i + 2], i + 2
        if not (in_class and nxt in "wWdDsS"):
            return text, i
    if in_class and pattern[i : i + 1] == "-" and pattern[i + 1 : i + 2] not in ("]", ""):
        text, i = text + "\\-", i + 1  # Java reads a '-' after a class escape as a literal
    return text, i


def translate(pattern: str) -> str:
    """``pattern`` (Java syntax) in Python ``re`` syntax, as far as the rewrites above go."""
    pattern = _SURROGATES.sub(_join_surrogates, pattern)
    out: list[str] = []
    i = 0
    in_class = False
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            text, i = _escape(pattern, i, in_class)
            out.append(text)
            continue
        if ch == "[" and not in_class:
            in_class = True
            out.append(ch + pattern[i + 1 : i + 2] if pattern[i + 1 : i + 2] in ("^", "]") else ch)
            i += len(out[-1])
            continue
        if ch == "]" and in_class:
            in_class = False
        out.append("\\|" if ch == "|" and in_class else ch)
        i += 1
    return "".join(out)


def _join_surrogates(match: re.Match[str]) -> str:
    high, low = int(match.group(1), 16), int(match.group(2), 16)
    return f"\\U{0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00):08x}"


@cache
def compiled(pattern: str) -> re.Pattern[str] | None:
    """The compiled form of a model ``pattern``, or None when it cannot be expressed in ``re``."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", FutureWarning)  # nested sets, && and the like: Java differs
            return re.compile(translate(pattern))
    except (re.error, FutureWarning, ValueError, OverflowError):
        log.warning("aws model pattern not checked", extra={"pattern": pattern})
        return None


def matches(pattern: str, value: str) -> bool:
    """Java ``Matcher.matches()``: the whole of ``value`` matches ``pattern`` (unknown patterns pass)."""
    regex = compiled(pattern)
    return regex is None or regex.fullmatch(value) is not None
