"""Repository names and tags, validated against the OCI distribution-spec grammar."""

from __future__ import annotations

import re
from functools import cache

from dockyard.domain.errors import NameInvalid, TagInvalid

_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
NAME_PATTERN = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*\Z")  # \Z: `$` allows a final newline
TAG_PATTERN = re.compile(r"^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}\Z")
MAX_NAME_LENGTH = 256  # ECR's limit; the spec only says clients should stay under 255 with the host


def validate_name(name: str) -> str:
    """Return ``name`` or raise :class:`NameInvalid`."""
    if not name or len(name) > MAX_NAME_LENGTH or not NAME_PATTERN.match(name):
        raise NameInvalid("invalid repository name", name=name[:MAX_NAME_LENGTH])
    return name


def validate_tag(tag: str) -> str:
    """Return ``tag`` or raise :class:`TagInvalid`."""
    if not TAG_PATTERN.match(tag):
        raise TagInvalid("invalid tag", tag=tag[:128])
    return tag


@cache
def wildcard(pattern: str) -> re.Pattern[str]:
    """ECR's ``WILDCARD`` filters (tag exclusions, scanning rules): ``*`` matches any run, nothing else is
    special."""
    return re.compile("".join(".*" if ch == "*" else re.escape(ch) for ch in pattern), re.DOTALL)
