"""Which distribution an image is, from its release files (the first source that names one wins).

1. ``/etc/os-release``, else ``/usr/lib/os-release`` (os-release(5)): ``ID`` and ``VERSION_ID``;
2. when that gives no usable answer, a distribution's own file: ``/etc/alpine-release``,
   ``/etc/lsb-release`` (Ubuntu before os-release), ``/etc/debian_version``, and the Red Hat family's
   ``/etc/*-release`` lines (``CentOS Linux release 7.6.1810 (Core)``).

The files are shell-style ``KEY=value`` lines, but images carry junk (a stray shell prompt line, comments,
blank lines), so lines that are not assignments are skipped; quoting is undone with :mod:`shlex`.
An os-release with an ``ID`` but no ``VERSION_ID`` (Debian sid, Arch) falls through to the
distribution's own file, and gives no OS if there is none: without a version no advisory can match.
``ID=linux`` (the os-release default) and ``ID=unknown`` name no distribution and give no OS.

``OsInfo.id`` is os-release's ``ID`` as written (``rhel``, ``ol``, ``almalinux``, ``mariner``), lower case.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from functools import partial

from dockyard.domain.scanning.inventory import OsInfo
from dockyard.scanner.rootfs import RootFs

OS_RELEASE = ("/etc/os-release", "/usr/lib/os-release")
ALPINE_RELEASE = "/etc/alpine-release"
LSB_RELEASE = "/etc/lsb-release"
DEBIAN_VERSION = "/etc/debian_version"
# Most specific first: CentOS and Rocky images also ship redhat-release (a symlink or a copy).
REDHAT_RELEASES = (
    "/etc/centos-release",
    "/etc/almalinux-release",
    "/etc/rocky-release",
    "/etc/oracle-release",
    "/etc/fedora-release",
    "/etc/redhat-release",
    "/etc/system-release",
)
OS_FILES: tuple[str, ...] = (*OS_RELEASE, ALPINE_RELEASE, LSB_RELEASE, DEBIAN_VERSION, *REDHAT_RELEASES)

_MAX_RELEASE_FILE = 64 * 1024
_ASSIGNMENT = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$")
_NO_DISTRIBUTION = frozenset({"", "linux", "unknown"})
# (words in the release line, os-release ID), most specific first.
_REDHAT_NAMES = (
    ("centos", "centos"),
    ("almalinux", "almalinux"),
    ("rocky", "rocky"),
    ("oracle", "ol"),
    ("fedora", "fedora"),
    ("red hat", "rhel"),
)
_REDHAT_VERSION = re.compile(r"\brelease\s+(\d[\w.]*)", re.IGNORECASE)


def parse_assignments(text: str) -> dict[str, str]:
    """``KEY=value`` lines of an os-release style file; anything else is ignored (first key wins)."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        match = _ASSIGNMENT.match(line)
        if match is None or match.group(1) in values:
            continue
        values[match.group(1)] = _unquote(match.group(2))
    return values


def _unquote(raw: str) -> str:
    try:
        words = shlex.split(raw, comments=True)
    except ValueError:  # an unbalanced quote: take the text as it is
        return raw.strip().strip("\"'")
    return " ".join(words)


def _text(fs: RootFs, path: str) -> str | None:
    data = fs.read(path, limit=_MAX_RELEASE_FILE)
    return None if data is None else data.decode("utf-8", errors="replace")


def from_os_release(text: str) -> OsInfo | None:
    """The OS an os-release file names, or ``None`` without a distribution ID and version."""
    values = parse_assignments(text)
    os_id = values.get("ID", "").strip().lower()
    version = values.get("VERSION_ID", "").strip()
    if os_id in _NO_DISTRIBUTION or not version:
        return None
    return OsInfo(os_id, version, values.get("PRETTY_NAME", ""), values.get("VERSION_CODENAME", ""))


def from_lsb_release(text: str) -> OsInfo | None:
    """Ubuntu's ``/etc/lsb-release`` (``DISTRIB_ID``, ``DISTRIB_RELEASE``, ``DISTRIB_CODENAME``)."""
    values = parse_assignments(text)
    os_id = values.get("DISTRIB_ID", "").strip().lower()
    version = values.get("DISTRIB_RELEASE", "").strip()
    if os_id in _NO_DISTRIBUTION or not version:
        return None
    return OsInfo(os_id, version, values.get("DISTRIB_DESCRIPTION", ""), values.get("DISTRIB_CODENAME", ""))


def from_single_line(os_id: str, text: str) -> OsInfo | None:
    """``alpine-release`` or ``debian_version``: the version is the first non-empty line."""
    for line in text.splitlines():
        version = line.strip()
        if version:
            return OsInfo(os_id, version)
    return None


def from_redhat_release(text: str) -> OsInfo | None:
    """A Red Hat family ``*-release`` line: the distribution by name, the version after ``release``."""
    line = next((line.strip() for line in text.splitlines() if line.strip()), "")
    lowered = line.lower()
    os_id = next((found for words, found in _REDHAT_NAMES if words in lowered), None)
    match = _REDHAT_VERSION.search(line)
    if os_id is None or match is None:
        return None
    return OsInfo(os_id, match.group(1), line)


# Tried in order when os-release gives no answer. Ubuntu ships debian_version too (``buster/sid``), so
# lsb-release comes before it.
_FALLBACKS: tuple[tuple[str, Callable[[str], OsInfo | None]], ...] = (
    (ALPINE_RELEASE, partial(from_single_line, "alpine")),
    (LSB_RELEASE, from_lsb_release),
    (DEBIAN_VERSION, partial(from_single_line, "debian")),
    *((path, from_redhat_release) for path in REDHAT_RELEASES),
)


def detect_os(fs: RootFs) -> OsInfo | None:
    """The image's OS, or ``None`` when no release file names a distribution with a version."""
    for path in OS_RELEASE:
        text = _text(fs, path)
        if text is None:
            continue
        found = from_os_release(text)
        if found is not None:
            return found
        break  # /usr/lib/os-release is only the fallback for a missing /etc/os-release
    for path, parse in _FALLBACKS:
        text = _text(fs, path)
        if text is not None and (found := parse(text)) is not None:
            return found
    return None
