"""What a scan reads out of an image: its operating system and its packages (plain, immutable data).

An inventory is stored per image; findings are derived from it and the vulnerability database at any time
(``docs/scanning.md``), so a database update never needs the layers again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

# Package types are purl types (https://github.com/package-url/purl-spec): the ecosystem a package is from.
DEB = "deb"
APK = "apk"
RPM = "rpm"
PYPI = "pypi"
NPM = "npm"
GOLANG = "golang"
MAVEN = "maven"
PACKAGE_TYPES = (DEB, APK, RPM, PYPI, NPM, GOLANG, MAVEN)


@dataclass(frozen=True, slots=True)
class OsInfo:
    """The image's operating system as ``/etc/os-release`` (or a distribution's own file) names it.

    ``id`` is os-release's ``ID`` in lower case (``debian``, ``ubuntu``, ``alpine``, ``rhel``, ``rocky``,
    ``almalinux``, ``centos``, ``fedora``, ``sles``, ``cbl-mariner``, ...); ``version_id`` its
    ``VERSION_ID`` (``12``, ``3.18.1``, ``18.04``), or the contents of ``debian_version`` /
    ``alpine-release`` when that is all there is; ``codename`` is ``VERSION_CODENAME`` when given.
    """

    id: str
    version_id: str
    pretty_name: str = ""
    codename: str = ""


@dataclass(frozen=True, slots=True)
class Package:
    """One installed package.

    ``version`` is the ecosystem's full version: dpkg ``[epoch:]upstream[-revision]``, rpm
    ``[epoch:]version-release``, apk ``1.2.3-r0``, PEP 440 for PyPI, semver for npm, ``v1.2.3`` module
    versions for Go (the toolchain as package ``stdlib`` with version ``go1.19.8``), Maven versions.
    ``source_name``/``source_version`` are the source package where the ecosystem has one (dpkg
    ``Source``, apk origin ``o:``, rpm source rpm name); advisories for Debian, Ubuntu and Alpine name
    source packages. ``path`` is the file in the image it was read from (absolute, ``/``-separated).
    """

    type: str
    name: str
    version: str
    purl: str
    path: str
    source_name: str | None = None
    source_version: str | None = None
    arch: str | None = None
    namespace: str | None = None  # Maven groupId; npm scope without "@"; Go module path prefix is in name
    licenses: tuple[str, ...] = ()

    @property
    def key(self) -> tuple[str, str, str]:
        """What identifies the package for matching: (type, name, version)."""
        return (self.type, self.name, self.version)


@dataclass(frozen=True, slots=True)
class Inventory:
    os: OsInfo | None
    packages: tuple[Package, ...] = field(default_factory=tuple)


class ScanFailed(Exception):
    """The layers could not be read safely (hostile or broken input); the reason is for the user."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class UnsupportedImage(Exception):
    """The image is not one a scan can read (no layers, unknown layer media type, a foreign artifact)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class LayerBlob:
    """One layer of an image to scan: its blob as a local file, in the image's layer order."""

    path: Path
    digest: str
    media_type: str | None = None
