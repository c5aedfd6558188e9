"""Content digests (``algorithm:encoded``) as the OCI image spec defines them.

Only the registered algorithms ``sha256`` and ``sha512`` are accepted; anything else is
:class:`DigestInvalid` (malformed) or :class:`Unsupported` (well formed, unknown algorithm).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Protocol

from dockyard.domain.errors import DigestInvalid, Unsupported

_GRAMMAR = re.compile(r"^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$")
_HEX_LENGTH = {"sha256": 64, "sha512": 128}
_LOWER_HEX = re.compile(r"^[a-f0-9]+$")
DEFAULT_ALGORITHM = "sha256"


class Hasher(Protocol):
    def update(self, data: bytes, /) -> None: ...
    def hexdigest(self) -> str: ...


@dataclass(frozen=True, slots=True)
class Digest:
    algorithm: str
    encoded: str

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.encoded}"

    @classmethod
    def parse(cls, text: str) -> Digest:
        """Parse and validate ``text``; raise :class:`DigestInvalid` or :class:`Unsupported`."""
        if len(text) > 255 or not _GRAMMAR.match(text):
            raise DigestInvalid("invalid digest", digest=text[:200])
        algorithm, encoded = text.split(":", 1)
        expected = _HEX_LENGTH.get(algorithm)
        if expected is None:
            raise Unsupported(f"unsupported digest algorithm: {algorithm}", digest=text[:200])
        if len(encoded) != expected or not _LOWER_HEX.match(encoded):
            raise DigestInvalid("invalid digest", digest=text[:200])
        return cls(algorithm, encoded)

    @classmethod
    def of(cls, data: bytes, algorithm: str = DEFAULT_ALGORITHM) -> Digest:
        return cls(algorithm, hashlib.new(algorithm, data).hexdigest())


def is_digest(text: str) -> bool:
    """True when ``text`` looks like a digest (contains ``:``); tags never do."""
    return ":" in text


def new_hasher(algorithm: str = DEFAULT_ALGORITHM) -> Hasher:
    if algorithm not in _HEX_LENGTH:
        raise Unsupported(f"unsupported digest algorithm: {algorithm}")
    return hashlib.new(algorithm)
