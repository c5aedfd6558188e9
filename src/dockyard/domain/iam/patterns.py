"""Wildcards (``*``, ``?``) and policy variables (``${aws:username}``) in policy strings.

A policy string is parsed once into a template: literal text and variables. Rendering a template against a
request yields chunks; the text of a chunk that came from a variable is matched literally, so a tag value
``a*b`` substituted into a resource pattern is not a wildcard. ``${*}``, ``${?}`` and ``${$}`` stand for
the literal characters.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

_VARIABLE = re.compile(r"\$\{([^}]*)\}")
_VARIABLE_BODY = re.compile(r"^\s*(?P<name>[^,']+?)\s*(?:,\s*'(?P<default>[^']*)'\s*)?$")
_SPECIALS = frozenset({"*", "?", "$"})
ARN_SEGMENTS = 6  # arn:partition:service:region:account:resource


class Unresolvable(Exception):
    """A policy variable names a key absent from the request and gives no default."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


@dataclass(frozen=True, slots=True)
class Variable:
    name: str
    default: str | None = None


@dataclass(frozen=True, slots=True)
class Chunk:
    """A piece of a rendered policy string; ``fixed`` text never acts as a wildcard."""

    text: str
    fixed: bool = False


Part = str | Variable
Resolver = Callable[[str], str | None]


@lru_cache(maxsize=4096)
def parse_template(text: str) -> tuple[Part, ...]:
    """Split ``text`` into literal text and ``${...}`` variables (a malformed ``${...}`` stays text)."""
    parts: list[Part] = []
    position = 0
    for match in _VARIABLE.finditer(text):
        body = _VARIABLE_BODY.match(match.group(1))
        if body is None:
            continue
        if match.start() > position:
            parts.append(text[position : match.start()])
        parts.append(Variable(body.group("name"), body.group("default")))
        position = match.end()
    if position < len(text):
        parts.append(text[position:])
    return tuple(parts)


def render(text: str, resolve: Resolver | None) -> tuple[Chunk, ...]:
    """Substitute the variables of ``text``; ``resolve=None`` means the policy language has none (2008)."""
    if resolve is None or "${" not in text:
        return (Chunk(text),)
    chunks: list[Chunk] = []
    for part in parse_template(text):
        if isinstance(part, str):
            chunks.append(Chunk(part))
        elif part.name in _SPECIALS:
            chunks.append(Chunk(part.name, fixed=True))
        else:
            value = resolve(part.name)
            if value is None:
                value = part.default
            if value is None:
                raise Unresolvable(part.name)
            chunks.append(Chunk(value, fixed=True))
    return tuple(chunks)


def render_text(text: str, resolve: Resolver | None) -> str:
    return "".join(chunk.text for chunk in render(text, resolve))


Token = tuple[str, bool]  # a character, and whether it is a wildcard (``*`` or ``?``)


def _tokens(chunks: tuple[Chunk, ...]) -> tuple[Token, ...]:
    return tuple((char, not chunk.fixed and char in "*?") for chunk in chunks for char in chunk.text)


@dataclass(frozen=True, slots=True)
class _Glob:
    """A glob as the fixed-length pieces between its stars, matched without backtracking.

    A regular expression such as ``.*a.*a.*a.*b`` backtracks exponentially on a long request value; here
    the first piece is anchored at the start, the last at the end, and each middle piece is found at its
    leftmost position, which is optimal when ``*`` is the only variable-length wildcard.
    """

    pieces: tuple[re.Pattern[str], ...]
    sizes: tuple[int, ...]

    def match(self, value: str) -> bool:
        if len(self.pieces) == 1:
            return self.pieces[0].fullmatch(value) is not None
        first, last = self.pieces[0], self.pieces[-1]
        end = len(value) - self.sizes[-1]
        if end < self.sizes[0] or first.match(value, 0, self.sizes[0]) is None:
            return False
        position = self.sizes[0]
        for piece in self.pieces[1:-1]:
            found = piece.search(value, position, end)
            if found is None:
                return False
            position = found.end()
        return last.fullmatch(value, end) is not None


def _piece(tokens: list[Token], flags: int) -> re.Pattern[str]:
    source = "".join("." if wild else re.escape(char) for char, wild in tokens)
    return re.compile(source, flags)


@lru_cache(maxsize=8192)
def _glob(tokens: tuple[Token, ...], ignore_case: bool) -> _Glob:
    flags = re.DOTALL | (re.IGNORECASE if ignore_case else 0)
    pieces: list[list[Token]] = [[]]
    for token in tokens:
        if token == ("*", True):
            pieces.append([])
        else:
            pieces[-1].append(token)
    return _Glob(tuple(_piece(piece, flags) for piece in pieces), tuple(len(piece) for piece in pieces))


def chunks_match(chunks: tuple[Chunk, ...], value: str, *, ignore_case: bool = False) -> bool:
    """Glob match: ``*`` is any run of characters (across ``:`` and ``/``), ``?`` any one character."""
    return _glob(_tokens(chunks), ignore_case).match(value)


def chunks_match_arn(chunks: tuple[Chunk, ...], value: str) -> bool:
    """ArnLike: each of the six colon-delimited components is matched separately, case-sensitively.

    Every colon of the pattern separates components (the sixth, the resource, keeps its own colons).
    """
    tokens = _tokens(chunks)
    if tokens == (("*", True),):
        return True
    groups: list[list[Token]] = [[]]
    for token in tokens:
        if token[0] == ":" and len(groups) < ARN_SEGMENTS:
            groups.append([])
        else:
            groups[-1].append(token)
    parts = value.split(":", ARN_SEGMENTS - 1)
    if len(parts) != len(groups):
        return False
    return all(_glob(tuple(group), False).match(part) for group, part in zip(groups, parts, strict=True))


def wildcard_match(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    """Match ``value`` against a pattern with ``*`` and ``?`` wildcards and no variables."""
    return chunks_match((Chunk(pattern),), value, ignore_case=ignore_case)


def arn_match(pattern: str, value: str) -> bool:
    """Match an ARN the way ``ArnLike`` does (no variables)."""
    return chunks_match_arn((Chunk(pattern),), value)
