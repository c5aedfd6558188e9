"""RPM packages from the rpm database, whichever of rpm's three back ends the image uses.

``rpmdb.sqlite`` (RHEL 9, Fedora, CBL-Mariner, Amazon Linux 2023) is read with Python's ``sqlite3`` opened
read-only and immutable on a local copy, with the ``Packages`` table checked to be a table (not a view)
and a step budget so a crafted database cannot make the query run for long. ``Packages`` in Berkeley
DB hash format (RHEL/CentOS <= 8) and ``Packages.db`` in NDB format (SUSE) are walked by hand
(:mod:`~dockyard.scanner.rpm_bdb`, :mod:`~dockyard.scanner.rpm_ndb`). The back end is recognised by the
file's magic, not its name. Every blob is decoded by :mod:`~dockyard.scanner.rpm_header`; ``gpg-pubkey``
pseudo-packages (imported signing keys) are skipped.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

from dockyard.domain.scanning.inventory import RPM, OsInfo, Package
from dockyard.scanner.purls import os_purl
from dockyard.scanner.rootfs import RootFs
from dockyard.scanner.rpm_bdb import read_bdb_blobs
from dockyard.scanner.rpm_header import MAX_BLOB, RpmHeader, parse_header
from dockyard.scanner.rpm_ndb import read_ndb_blobs

DB_DIRS = ("/usr/lib/sysimage/rpm", "/var/lib/rpm", "/usr/share/rpm")
DB_NAMES = ("rpmdb.sqlite", "Packages.db", "Packages")
DB_PATHS = tuple(f"{directory}/{name}" for name in DB_NAMES for directory in DB_DIRS)
SQLITE_MAGIC = b"SQLite format 3\0"
NDB_MAGIC = b"RpmP"
SQLITE_STEP_BUDGET = 100_000  # progress-handler calls (x1000 virtual machine steps) before the query aborts
SRPM_SUFFIXES = (".src.rpm", ".nosrc.rpm")


def _sqlite_blobs(path: Path) -> Iterator[bytes]:
    calls = 0

    def over_budget() -> int:
        nonlocal calls
        calls += 1
        return int(calls > SQLITE_STEP_BUDGET)

    try:
        with closing(sqlite3.connect(f"{path.as_uri()}?mode=ro&immutable=1", uri=True)) as connection:
            connection.set_progress_handler(over_budget, 1000)
            kind = connection.execute("SELECT type FROM sqlite_master WHERE name = 'Packages'").fetchone()
            if kind != ("table",):
                return
            for (blob,) in connection.execute("SELECT blob FROM Packages"):
                if isinstance(blob, bytes) and len(blob) <= MAX_BLOB:
                    yield blob
    except sqlite3.Error:
        return  # corrupt, truncated or over budget: keep what was read


def read_blobs(path: Path) -> Iterator[bytes]:
    """The header blobs of the rpm database in the local file ``path``, whichever back end it is."""
    try:
        with path.open("rb") as file:
            magic, size = file.read(16), path.stat().st_size
            if magic.startswith(SQLITE_MAGIC):
                yield from _sqlite_blobs(path)
            elif magic.startswith(NDB_MAGIC):
                yield from read_ndb_blobs(file, size)
            else:
                yield from read_bdb_blobs(file, size)
    except OSError:
        return


def split_source_rpm(source_rpm: str) -> tuple[str, str, str] | None:
    """``("util-linux", "2.32.1", "42.el8_8")`` for ``util-linux-2.32.1-42.el8_8.src.rpm``, else ``None``."""
    for suffix in SRPM_SUFFIXES:
        if source_rpm.endswith(suffix):
            parts = source_rpm.removesuffix(suffix).rsplit("-", 2)
            if len(parts) == 3 and all(parts):
                return parts[0], parts[1], parts[2]
    return None


def _namespace(os: OsInfo | None) -> str:
    if os is None:
        return ""
    if os.id == "rhel":
        return "redhat"
    return "opensuse" if os.id.startswith("opensuse") else os.id


def package_from_header(header: RpmHeader, path: str, os: OsInfo | None) -> Package | None:
    """The package a header describes; ``None`` for ``gpg-pubkey`` and for headers lacking name/version."""
    if not header.name or not header.version or header.name == "gpg-pubkey":
        return None
    evr = f"{header.version}-{header.release}" if header.release else header.version
    version = f"{header.epoch}:{evr}" if header.epoch is not None else evr
    qualifiers = {
        "arch": header.arch,
        "epoch": str(header.epoch) if header.epoch is not None else None,
        "upstream": header.source_rpm,
    }
    source_name, source_version = header.name, version
    source = split_source_rpm(header.source_rpm)
    if source is not None:  # a source rpm has the epoch of the packages built from it
        source_name, source_version = source[0], f"{source[1]}-{source[2]}"
        if header.epoch is not None:
            source_version = f"{header.epoch}:{source_version}"
    return Package(
        type=RPM,
        name=header.name,
        version=version,
        purl=os_purl(RPM, _namespace(os), header.name, evr, os, qualifiers),
        path=path,
        source_name=source_name,
        source_version=source_version,
        arch=header.arch or None,
        licenses=(header.license,) if header.license else (),
    )


def packages_from_db(local: Path, path: str, os: OsInfo | None) -> list[Package]:
    """The packages in one rpm database (``local`` is the file, ``path`` its place in the image)."""
    headers = (parse_header(blob) for blob in read_blobs(local))
    packages = (package_from_header(h, path, os) for h in headers if h is not None)
    return [package for package in packages if package is not None]


class RpmCataloguer:
    """Installed RPM packages (``rpm`` purls) from sqlite, Berkeley DB or NDB rpm databases."""

    name = "rpm"

    def wants(self, path: str, head: bytes) -> bool:
        return path in DB_PATHS

    def catalogue(self, fs: RootFs, os: OsInfo | None) -> list[Package]:
        present = set(fs.files())
        seen: set[tuple[str, str, str | None]] = set()
        packages: list[Package] = []
        for path in (p for p in DB_PATHS if p in present):
            local = fs.local_path(path)
            for package in packages_from_db(local, path, os) if local is not None else []:
                if (package.name, package.version, package.arch) not in seen:
                    seen.add((package.name, package.version, package.arch))
                    packages.append(package)
        return packages
