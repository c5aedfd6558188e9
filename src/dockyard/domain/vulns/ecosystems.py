"""Which OSV ecosystem, package name and version an installed package is looked up as.

Both sides meet on a *match ecosystem*: advisories' ecosystems are normalised at import
(:func:`match_ecosystem`), and :func:`query_for` names an image's package in the same terms, so one
``(ecosystem, name)`` index lookup finds every advisory that can apply. The normalisations:

- Ubuntu: ``Ubuntu:18.04:LTS``, ``Ubuntu:Pro:18.04:LTS`` (ESM fixes) and ``Ubuntu:18.04`` all become
  ``Ubuntu:18.04``: an image of that release is matched against each, with or without the suffixes (a fix
  that only Ubuntu Pro ships leaves a plain image vulnerable, with the Pro version as ``fixed_in``). Other
  variants (``Ubuntu:Pro:FIPS-updates:18.04:LTS``) ship differently versioned builds of the same source
  packages and are kept as they are: compared with an ordinary build they would report false findings.
- Red Hat: ``Red Hat:enterprise_linux:9::appstream`` (a CPE stream) becomes ``Red Hat:9``; an image does
  not say which repository a package came from. Extended streams (``rhel_eus:9.2``...) are kept as they
  are, so they never match an ordinary image.
- Rocky Linux, AlmaLinux, Debian: the release suffix becomes its major number (``Rocky Linux:8``).
- SUSE: products and modules of one service pack (``SUSE:Linux Enterprise Server 15 SP5``,
  ``SUSE:Linux Enterprise Module for Basesystem 15 SP5``, their LTSS spellings) become ``SUSE:15.5``: an
  SLES image's base packages are filed against the module that ships them.
- Maven: the optional repository suffix is dropped. PyPI names are PEP 503-normalised.

Which name: Debian, Ubuntu, Alpine and SUSE advisories name source packages (dpkg ``Source``, apk origin,
source rpm), so those look up the source name and version, falling back to the binary's. Red Hat, Rocky
and Alma advisories list binary rpm names, so rpm on those looks up the binary name (source and binary rpms
share ``[epoch:]version-release``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from dockyard.domain.scanning.inventory import APK, DEB, GOLANG, MAVEN, NPM, PYPI, RPM, OsInfo, Package

_PEP503 = re.compile(r"[-_.]+")
_UBUNTU_RELEASE = re.compile(r"^\d{2}\.\d{2}$")
_SUSE_PRODUCT = re.compile(r"^Linux Enterprise .*\s(\d+)(?:\s+SP(\d+))?(?:[- ]LTSS)?$")
_MAJOR_MINOR = re.compile(r"^v?(\d+)\.(\d+)")
_MAJOR = re.compile(r"^(\d+)")
_GO_RELEASE = re.compile(r"^go(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:(alpha|beta|rc)(\d+))?$")

DEBIAN_CODENAMES = {
    "wheezy": "7",
    "jessie": "8",
    "stretch": "9",
    "buster": "10",
    "bullseye": "11",
    "bookworm": "12",
    "trixie": "13",
    "forky": "14",
}
UBUNTU_CODENAMES = {
    "trusty": "14.04",
    "xenial": "16.04",
    "bionic": "18.04",
    "focal": "20.04",
    "jammy": "22.04",
    "noble": "24.04",
}
_RPM_DISTROS = {"rhel": "Red Hat", "redhat": "Red Hat", "rocky": "Rocky Linux", "almalinux": "AlmaLinux"}
_SUSE_IDS = ("sles", "sled", "sles_sap", "sle-micro")


@dataclass(frozen=True, slots=True)
class MatchQuery:
    """One package as the database is asked about it: a match ecosystem, a normalised name, a version."""

    ecosystem: str
    name: str
    version: str


def pep503(name: str) -> str:
    return _PEP503.sub("-", name).lower()


def match_ecosystem(ecosystem: str) -> str:
    """An advisory's ecosystem as the affected index stores it (see the module docstring)."""
    base, _, suffix = ecosystem.partition(":")
    if base == "Ubuntu":
        parts = suffix.split(":")
        parts = parts[1:] if parts[0] == "Pro" else parts
        parts = parts[:-1] if parts and parts[-1] == "LTS" else parts
        return f"Ubuntu:{parts[0]}" if len(parts) == 1 and _UBUNTU_RELEASE.match(parts[0]) else ecosystem
    if base == "Red Hat":
        parts = suffix.split(":")
        major = _MAJOR.match(parts[1]) if len(parts) > 1 and parts[0] == "enterprise_linux" else None
        return f"Red Hat:{major.group(1)}" if major else ecosystem
    if base in ("Rocky Linux", "AlmaLinux", "Debian"):
        major = _MAJOR.match(suffix)
        return f"{base}:{major.group(1)}" if major else ecosystem
    if base == "SUSE":
        product = _SUSE_PRODUCT.match(suffix)
        return f"SUSE:{product.group(1)}.{product.group(2) or 0}" if product else ecosystem
    if base == "Maven":
        return "Maven"
    return ecosystem


def match_name(ecosystem: str, name: str) -> str:
    """An advisory's package name as the affected index stores it (PyPI's PEP 503 form)."""
    return pep503(name) if ecosystem == "PyPI" else name


def query_for(package: Package, os: OsInfo | None) -> MatchQuery | None:
    """How ``package`` (of an image running ``os``) is looked up, or ``None`` when no OSV data applies."""
    if package.type == DEB:
        return _deb(package, os)
    if package.type == APK:
        return _apk(package, os)
    if package.type == RPM:
        return _rpm(package, os)
    if package.type == PYPI:
        return MatchQuery("PyPI", pep503(package.name), package.version)
    if package.type == NPM:
        return MatchQuery("npm", _npm_name(package), package.version)
    if package.type == GOLANG:
        return _golang(package)
    if package.type == MAVEN:
        if package.namespace:
            return MatchQuery("Maven", f"{package.namespace}:{package.name}", package.version)
        return MatchQuery("Maven", package.name, package.version) if ":" in package.name else None
    return None


def _source(package: Package) -> tuple[str, str]:
    return package.source_name or package.name, package.source_version or package.version


def _deb(package: Package, os: OsInfo | None) -> MatchQuery | None:
    if os is None or os.id not in ("debian", "ubuntu"):
        return None
    release = ubuntu_release(os) if os.id == "ubuntu" else debian_release(os)
    if release is None:
        return None
    return MatchQuery(f"{os.id.capitalize()}:{release}", *_source(package))


def debian_release(os: OsInfo) -> str | None:
    """Debian's major release number: ``12`` from ``12`` or ``12.5``; testing (``trixie/sid``) by its
    codename; ``None`` for sid, which OSV has no ecosystem for."""
    major = _MAJOR.match(os.version_id)
    if major:
        return major.group(1)
    for word in (os.version_id.split("/", 1)[0], os.codename):
        if word in DEBIAN_CODENAMES:
            return DEBIAN_CODENAMES[word]
    return None


def ubuntu_release(os: OsInfo) -> str | None:
    """``YY.MM`` from ``VERSION_ID`` (``18.04``), else from the codename."""
    release = _MAJOR_MINOR.match(os.version_id)
    if release:
        return f"{int(release.group(1)):02d}.{int(release.group(2)):02d}"
    return UBUNTU_CODENAMES.get(os.codename)


def _apk(package: Package, os: OsInfo | None) -> MatchQuery | None:
    if os is None or os.id != "alpine":
        return None
    branch = _MAJOR_MINOR.match(os.version_id)
    if branch is None:
        return None
    return MatchQuery(f"Alpine:v{branch.group(1)}.{branch.group(2)}", *_source(package))


def _rpm(package: Package, os: OsInfo | None) -> MatchQuery | None:
    if os is None:
        return None
    ecosystem = _rpm_ecosystem(os)
    if ecosystem is None:
        return None
    binary = ecosystem.startswith(tuple(_RPM_DISTROS.values()))
    return MatchQuery(
        ecosystem, package.name if binary else package.source_name or package.name, package.version
    )


def _rpm_ecosystem(os: OsInfo) -> str | None:
    major = _MAJOR.match(os.version_id)
    if os.id in _RPM_DISTROS:
        return f"{_RPM_DISTROS[os.id]}:{major.group(1)}" if major else None
    if os.id in _SUSE_IDS:
        release = _MAJOR_MINOR.match(os.version_id)
        if release:
            return f"SUSE:{release.group(1)}.{release.group(2)}"
        return f"SUSE:{major.group(1)}.0" if major else None
    if os.id == "opensuse-leap":
        return f"openSUSE:Leap {os.version_id}" if os.version_id else None
    return "openSUSE:Tumbleweed" if os.id == "opensuse-tumbleweed" else None


def _npm_name(package: Package) -> str:
    if package.namespace and not package.name.startswith("@"):
        return f"@{package.namespace}/{package.name}"
    return package.name


def _golang(package: Package) -> MatchQuery | None:
    if package.name == "stdlib":
        version = go_release_semver(package.version)
        return MatchQuery("Go", "stdlib", version) if version else None
    if not package.version or package.version == "(devel)":
        return None
    return MatchQuery("Go", package.name, package.version.removeprefix("v"))


def go_release_semver(version: str) -> str | None:
    """A Go toolchain version as OSV's Go ranges write it: ``go1.19.8`` -> ``1.19.8``, ``go1.21`` ->
    ``1.21.0``, ``go1.21rc2`` -> ``1.21.0-rc.2``; ``None`` for a development build."""
    release = _GO_RELEASE.match(version if version.startswith("go") else f"go{version.removeprefix('v')}")
    if release is None:
        return None
    major, minor, patch, stage, number = release.groups()
    semver = f"{major}.{minor or 0}.{patch or 0}"
    return f"{semver}-{stage}.{number}" if stage else semver
