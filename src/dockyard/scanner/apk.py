"""Alpine (and Wolfi, Chainguard, postmarketOS) packages from apk's database, ``/lib/apk/db/installed``.

The database is apk's own line format (``X:value``, one record per blank-line separated block) with no
maintained Python reader, so it is parsed here; only the fields a scan needs are kept (``P`` name, ``V``
version, ``A`` arch, ``o`` origin = source package, ``L`` license). A record without ``P`` or ``V`` is
skipped, as apk itself would not have installed it.
"""

from __future__ import annotations

from collections.abc import Iterator

from dockyard.domain.scanning.inventory import APK, OsInfo, Package
from dockyard.scanner.purls import os_purl
from dockyard.scanner.rootfs import MAX_READ, RootFs

INSTALLED = "/lib/apk/db/installed"
_KEPT = frozenset("PVAoL")


def parse_records(text: str) -> Iterator[dict[str, str]]:
    """The records of an ``installed`` file, each holding the kept single-letter fields (first wins)."""
    record: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            if record:
                yield record
            record = {}
        elif len(line) >= 2 and line[1] == ":" and line[0] in _KEPT:
            record.setdefault(line[0], line[2:].strip())
    if record:
        yield record


def package_from_record(record: dict[str, str], path: str, os: OsInfo | None) -> Package | None:
    """The package a record describes, or ``None`` when it lacks a name or version."""
    name, version = record.get("P", ""), record.get("V", "")
    if not name or not version:
        return None
    arch = record.get("A") or None
    origin = record.get("o") or name
    namespace = os.id if os is not None and os.id else "alpine"
    qualifiers = {"arch": arch, "upstream": origin if origin != name else None}
    license_ = record.get("L", "")
    return Package(
        type=APK,
        name=name,
        version=version,
        purl=os_purl(APK, namespace, name, version, os, qualifiers),
        path=path,
        source_name=origin,
        source_version=version,
        arch=arch,
        licenses=(license_,) if license_ else (),
    )


def parse_installed(data: bytes, path: str, os: OsInfo | None) -> list[Package]:
    """Every package in an ``installed`` database (bytes that are not UTF-8 are replaced, not fatal)."""
    packages = (package_from_record(r, path, os) for r in parse_records(data.decode("utf-8", "replace")))
    return [package for package in packages if package is not None]


class ApkCataloguer:
    """Installed apk packages (``apk`` purls)."""

    name = "apk"

    def wants(self, path: str, head: bytes) -> bool:
        return path == INSTALLED

    def catalogue(self, fs: RootFs, os: OsInfo | None) -> list[Package]:
        data = fs.read(INSTALLED, MAX_READ)
        return parse_installed(data, INSTALLED, os) if data is not None else []
