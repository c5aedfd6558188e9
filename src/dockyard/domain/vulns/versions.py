"""Each ecosystem's own version order, through univers (dpkg, apk, rpm, PEP 440, semver, Maven).

A version string is only meaningful within its ecosystem: ``1.0~rc1`` sorts before ``1.0`` in dpkg order and
is no version at all in PEP 440. :func:`parse_version` turns a string into a comparable value of one order,
or ``None`` when the string is not a version of that order (such a range then cannot be evaluated and does
not match). Parsed values are cached: a scan compares the same few thousand versions over and over.
univers' dpkg order is used rather than python-debian's ``Version``: both agree (the tests check them
against each other and ``dpkg --compare-versions``), and univers compares about ten times faster.
"""

from __future__ import annotations

from functools import lru_cache

from univers.versions import (
    AlpineLinuxVersion,
    DebianVersion,
    MavenVersion,
    PypiVersion,
    RpmVersion,
    SemverVersion,
    Version,
)

DPKG = "dpkg"
APK = "apk"
RPM = "rpm"
PEP440 = "pep440"
SEMVER = "semver"
MAVEN = "maven"

_CLASSES: dict[str, type[Version]] = {
    DPKG: DebianVersion,
    APK: AlpineLinuxVersion,
    RPM: RpmVersion,
    PEP440: PypiVersion,
    SEMVER: SemverVersion,
    MAVEN: MavenVersion,
}

# OSV ecosystem (the part before any ":" suffix) -> the order its ECOSYSTEM ranges use.
_ECOSYSTEM_ORDERS = {
    "Debian": DPKG,
    "Ubuntu": DPKG,
    "Alpine": APK,
    "Red Hat": RPM,
    "Rocky Linux": RPM,
    "AlmaLinux": RPM,
    "SUSE": RPM,
    "openSUSE": RPM,
    "PyPI": PEP440,
    "npm": SEMVER,
    "Go": SEMVER,
    "Maven": MAVEN,
}

CACHE_SIZE = 1 << 18


def base_ecosystem(ecosystem: str) -> str:
    """``Ubuntu:18.04:LTS`` -> ``Ubuntu``; ``Red Hat:enterprise_linux:9::appstream`` -> ``Red Hat``."""
    return ecosystem.split(":", 1)[0]


def order_of(ecosystem: str) -> str | None:
    """The version order of an ecosystem's ECOSYSTEM ranges; ``None`` for ecosystems not matched here."""
    return _ECOSYSTEM_ORDERS.get(base_ecosystem(ecosystem))


@lru_cache(maxsize=CACHE_SIZE)
def parse_version(order: str, text: str) -> Version | None:
    """``text`` as a version of ``order`` (one of the constants above), or ``None`` if it is not one."""
    cls = _CLASSES[order]
    if order == SEMVER:
        text = text.removeprefix("v")
    try:
        return cls(text)
    except Exception:  # a third-party parser on untrusted text: any failure means "not a version here"
        return None


def compare(order: str, left: str, right: str) -> int | None:
    """-1, 0 or 1 as ``left`` sorts before, with or after ``right``; ``None`` if either does not parse."""
    a, b = parse_version(order, left), parse_version(order, right)
    if a is None or b is None:
        return None
    return -1 if a < b else (1 if a > b else 0)
