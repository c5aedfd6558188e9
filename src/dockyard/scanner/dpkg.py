"""Debian packages from dpkg's database: ``/var/lib/dpkg/status`` and distroless ``status.d/`` files.

The control-file stanzas are parsed by hand rather than with python-debian's ``deb822``: fed bytes, deb822
raises ``UnicodeDecodeError`` on a stray non-UTF-8 byte, and fed text it silently drops every stanza after
a whitespace-only line that is followed by a line without a colon (``tests/scanning/test_dpkg.py`` pins
that case). A scanner must keep every well-formed stanza of a damaged file, and the format is simple:
stanzas separated by blank lines, ``Field: value`` lines, continuation lines starting with blank space.

Licenses come from ``/usr/share/doc/<package>/copyright`` when it is machine-readable (DEP-5), read the way
Syft does: the first word of each ``License:`` field plus ``/usr/share/common-licenses/<name>`` mentions.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Iterator

from dockyard.domain.scanning.inventory import DEB, OsInfo, Package
from dockyard.scanner.purls import os_purl
from dockyard.scanner.rootfs import MAX_READ, RootFs

STATUS = "/var/lib/dpkg/status"
STATUS_D = "/var/lib/dpkg/status.d"
DOC_DIR = "/usr/share/doc"
MAX_COPYRIGHT = 512 * 1024  # copyright files larger than this are not read for licenses
# Files that live beside the control files in status.d (distroless) but are not control files.
_NOT_CONTROL = (
    ".md5sums",
    ".conffiles",
    ".list",
    ".sha256sums",
    ".preinst",
    ".postinst",
    ".prerm",
    ".postrm",
)

_SOURCE = re.compile(r"^(?P<name>\S+)(?:\s*\((?P<version>[^)]*)\))?")
_FORMAT = re.compile(r"^Format:\s*https?://www\.debian\.org/doc/packaging-manuals/copyright-format/")
_LICENSE_FIELD = re.compile(r"^License:[ \t]*(?P<license>\S+)", re.MULTILINE)
_COMMON_LICENSE = re.compile(r"/usr/share/common-licenses/(?P<license>[0-9A-Za-z_.\-]+)")


def parse_stanzas(text: str) -> Iterator[dict[str, str]]:
    """Control-file stanzas as ``{field: value}`` (multi-line values joined with newlines).

    Lines that are neither ``Field: value`` nor continuations are ignored; a field repeated within
    a stanza keeps its last value (as dpkg would reject the stanza, either choice is a guess).
    """
    fields: dict[str, str] = {}
    last: str | None = None
    for line in text.splitlines():
        if not line.strip():
            if fields:
                yield fields
            fields, last = {}, None
        elif line[0] in " \t":
            if last is not None:
                fields[last] += "\n" + line.strip()
        elif ":" in line:
            key, _, value = line.partition(":")
            last = key.strip()
            fields[last] = value.strip()
        else:
            last = None
    if fields:
        yield fields


def is_installed(stanza: dict[str, str]) -> bool:
    """dpkg's ``Status`` ends in ``installed``; distroless entries have no ``Status`` and are installed."""
    status = stanza.get("Status")
    return status is None or status.split()[-1:] == ["installed"]


def package_from_stanza(
    stanza: dict[str, str], path: str, os: OsInfo | None, licenses: tuple[str, ...] = ()
) -> Package | None:
    """The package an installed stanza describes, or ``None`` for a stanza lacking name or version."""
    name, version = stanza.get("Package", ""), stanza.get("Version", "")
    if not name or not version or " " in name or not is_installed(stanza):
        return None
    arch = stanza.get("Architecture") or None
    source_name, source_version, upstream = name, version, None
    match = _SOURCE.match(stanza.get("Source", ""))
    if match is not None:
        source_name = match["name"]
        source_version = match["version"] or version
        upstream = f"{source_name}@{match['version']}" if match["version"] else source_name
    namespace = os.id if os is not None and os.id else "debian"
    purl = os_purl(DEB, namespace, name, version, os, {"arch": arch, "upstream": upstream})
    return Package(
        type=DEB,
        name=name,
        version=version,
        purl=purl,
        path=path,
        source_name=source_name,
        source_version=source_version,
        arch=arch,
        licenses=licenses,
    )


def parse_status(
    data: bytes,
    path: str,
    os: OsInfo | None,
    licenses_of: Callable[[str], tuple[str, ...]] = lambda _name: (),
) -> list[Package]:
    """Every installed package in one status file (bytes that are not UTF-8 are replaced, not fatal)."""
    packages = []
    for stanza in parse_stanzas(data.decode("utf-8", errors="replace")):
        name = stanza.get("Package", "")
        package = package_from_stanza(stanza, path, os, licenses_of(name) if name else ())
        if package is not None:
            packages.append(package)
    return packages


def licenses_from_copyright(text: str) -> tuple[str, ...]:
    """Licenses named by a machine-readable copyright file (sorted); ``()`` for free-form files.

    Each pattern runs once over the whole text (``re.MULTILINE``), not line by line: an image holds
    hundreds of these files."""
    first = next((line for line in text.splitlines() if line.strip()), "")
    if not _FORMAT.match(first):
        return ()
    candidates = [m["license"] for m in _COMMON_LICENSE.finditer(text)]
    candidates += [m["license"] for m in _LICENSE_FIELD.finditer(text)]
    found = {value for value in (c.rstrip(".") for c in candidates) if value.lower() not in ("", "none")}
    return tuple(sorted(found))


def _is_status_d_entry(path: str) -> bool:
    parent, base = posixpath.split(path)
    return parent == STATUS_D and not base.startswith(".") and not base.endswith(_NOT_CONTROL)


def _is_copyright(path: str) -> bool:
    parent, base = posixpath.split(path)
    return base == "copyright" and posixpath.dirname(parent) == DOC_DIR


class DpkgCataloguer:
    """Installed Debian/Ubuntu packages (``deb`` purls) from dpkg's status database."""

    name = "dpkg"

    def wants(self, path: str, head: bytes) -> bool:
        return path == STATUS or _is_status_d_entry(path) or _is_copyright(path)

    def catalogue(self, fs: RootFs, os: OsInfo | None) -> list[Package]:
        databases = sorted(path for path in fs.files() if path == STATUS or _is_status_d_entry(path))
        packages: list[Package] = []
        for path in databases:
            data = fs.read(path, MAX_READ)
            if data is not None:
                packages.extend(parse_status(data, path, os, lambda name: self._licenses(fs, name)))
        return packages

    @staticmethod
    def _licenses(fs: RootFs, name: str) -> tuple[str, ...]:
        if "/" in name or name in (".", ".."):
            return ()
        data = fs.read(f"{DOC_DIR}/{name}/copyright", MAX_COPYRIGHT)
        return licenses_from_copyright(data.decode("utf-8", errors="replace")) if data else ()
