"""SQL for scanned images' inventories and their matches against the vulnerability database.

Each distinct package is stored once (``scan_packages``, found by the hash of all its fields) and linked to
the images it is in; its matches (``package_vulns``) are stamped with the database ``generation`` they were
computed at. Re-evaluation after an import therefore reads and re-matches distinct packages only, and an
image's findings are a join. Schema: :mod:`dockyard.metadata.scan_tables`.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, exists, func, select, update
from sqlalchemy.engine import Connection

from dockyard.domain.scanning.inventory import Inventory, OsInfo, Package
from dockyard.domain.vulns.ecosystems import MatchQuery
from dockyard.metadata.base import SqlStore
from dockyard.metadata.scan_tables import image_scan_packages, image_scans, package_vulns, scan_packages
from dockyard.metadata.unit_sql import all_rows, rowcount

COMPLETE = "COMPLETE"
IN_PROGRESS = "IN_PROGRESS"
_CHUNK = 500  # rows per IN list / insert batch


@dataclass(frozen=True, slots=True)
class Vuln:
    """One advisory a package matched."""

    advisory_id: str
    fixed_in: str | None
    severity: str


@dataclass(frozen=True, slots=True)
class StoredPackage:
    """A package of an inventory with its query (``None``: nothing to match) and its matches at the
    generation the scan matched it."""

    package: Package
    query: MatchQuery | None
    vulns: tuple[Vuln, ...] = ()


@dataclass(frozen=True, slots=True)
class PackageMatch:
    package_id: int
    advisory_id: str
    fixed_in: str | None
    severity: str


@dataclass(frozen=True, slots=True)
class FindingRow:
    """One (package, advisory) pair of an image, with the package's fields."""

    package: Package
    advisory_id: str
    fixed_in: str | None
    severity: str


@dataclass(frozen=True, slots=True)
class ScanResult:
    manifest_id: int
    inventory: Inventory


def package_key(stored: StoredPackage) -> str:
    p, q = stored.package, stored.query
    fields: list[object] = [
        p.type,
        p.name,
        p.version,
        p.purl,
        p.source_name,
        p.source_version,
        p.arch,
        p.namespace,
    ]
    fields += [list(p.licenses), None if q is None else [q.ecosystem, q.name, q.version]]
    return hashlib.sha256(json.dumps(fields, separators=(",", ":")).encode()).hexdigest()


class ScanInventoryStore(SqlStore):
    async def complete(
        self, scan: ScanResult, owner: str, packages: Sequence[StoredPackage], generation: int
    ) -> bool:
        """Store the image's inventory and its packages' matches (at ``generation``) and mark the scan
        ``COMPLETE``, all in one transaction, if ``owner`` still holds the scan."""
        inserts = (self._insert(scan_packages), self._insert(package_vulns))
        return await self._write_unit(
            _complete, inserts, scan, owner, packages, generation, self._clock.now()
        )

    async def inventory(self, manifest_id: int) -> list[Package]:
        query = (
            select(scan_packages, image_scan_packages.c.paths)
            .join(image_scan_packages, image_scan_packages.c.package_id == scan_packages.c.id)
            .where(image_scan_packages.c.manifest_id == manifest_id)
        )
        rows = await self._read_unit(all_rows, query)
        return [_package(row, path) for row in rows for path in row.paths]

    async def findings(self, manifest_id: int) -> list[FindingRow]:
        query = (
            select(scan_packages, image_scan_packages.c.paths, package_vulns)
            .join(image_scan_packages, image_scan_packages.c.package_id == scan_packages.c.id)
            .join(package_vulns, package_vulns.c.package_id == scan_packages.c.id)
            .where(image_scan_packages.c.manifest_id == manifest_id)
        )
        rows = await self._read_unit(all_rows, query)
        return [
            FindingRow(_package(row, row.paths[0]), row.advisory_id, row.fixed_in, row.severity)
            for row in rows
        ]

    async def severity_counts(self, manifest_ids: Collection[int]) -> dict[int, dict[str, int]]:
        """Per image: how many (package, advisory) findings of each severity."""
        counts: dict[int, dict[str, int]] = {m: {} for m in manifest_ids}
        for chunk in _chunks(list(manifest_ids)):
            query = (
                select(image_scan_packages.c.manifest_id, package_vulns.c.severity, func.count())
                .join(package_vulns, package_vulns.c.package_id == image_scan_packages.c.package_id)
                .where(image_scan_packages.c.manifest_id.in_(chunk))
                .group_by(image_scan_packages.c.manifest_id, package_vulns.c.severity)
            )
            for manifest_id, severity, count in await self._read_unit(all_rows, query):
                counts[manifest_id][severity] = int(count)
        return counts

    # -- matching -------------------------------------------------------------------------------------

    async def stale(self, generation: int, after: int, limit: int) -> list[tuple[int, MatchQuery | None]]:
        """Packages (after id ``after``) last matched at another generation than ``generation``."""
        query = (
            select(scan_packages.c.id, scan_packages.c.ecosystem, scan_packages.c.query_name)
            .add_columns(scan_packages.c.query_version)
            .where(scan_packages.c.matched_generation != generation, scan_packages.c.id > after)
            .order_by(scan_packages.c.id)
            .limit(limit)
        )
        rows = await self._read_unit(all_rows, query)
        return [(row.id, _query(row)) for row in rows]

    async def set_matches(self, generation: int, ids: Sequence[int], matches: Sequence[PackageMatch]) -> None:
        """Replace the matches of packages ``ids`` and stamp them with ``generation``."""
        await self._write_unit(_set_matches, self._insert(package_vulns), generation, ids, matches)

    async def prune(self) -> int:
        """Delete packages no image links any more (their matches go with them)."""
        linked = exists().where(image_scan_packages.c.package_id == scan_packages.c.id)
        return await self._write_unit(rowcount, delete(scan_packages).where(~linked))


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> list[Sequence[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def _query(row: Any) -> MatchQuery | None:
    if row.ecosystem is None:
        return None
    return MatchQuery(row.ecosystem, row.query_name, row.query_version)


def _package(row: Any, path: str) -> Package:
    return Package(
        type=row.type,
        name=row.name,
        version=row.version,
        purl=row.purl,
        path=path,
        source_name=row.source_name,
        source_version=row.source_version,
        arch=row.arch,
        namespace=row.namespace,
        licenses=tuple(row.licenses),
    )


def _package_values(key: str, stored: StoredPackage) -> dict[str, Any]:
    p, q = stored.package, stored.query
    return {
        "key": key,
        "type": p.type,
        "name": p.name,
        "version": p.version,
        "purl": p.purl,
        "source_name": p.source_name,
        "source_version": p.source_version,
        "arch": p.arch,
        "namespace": p.namespace,
        "licenses": list(p.licenses),
        "ecosystem": None if q is None else q.ecosystem,
        "query_name": None if q is None else q.name,
        "query_version": None if q is None else q.version,
        "matched_generation": 0,
    }


def _known(conn: Connection, keys: Sequence[str]) -> dict[str, tuple[int, int]]:
    """The id and ``matched_generation`` of each stored package among ``keys``."""
    found: dict[str, tuple[int, int]] = {}
    for chunk in _chunks(keys):
        columns = (scan_packages.c.key, scan_packages.c.id, scan_packages.c.matched_generation)
        query = select(*columns).where(scan_packages.c.key.in_(chunk))
        found.update({row.key: (row.id, row.matched_generation) for row in conn.execute(query)})
    return found


def _package_ids(
    conn: Connection, insert: Any, by_key: dict[str, StoredPackage]
) -> tuple[dict[str, tuple[int, int]], set[str]]:
    """Each package's id and generation (:func:`_known`), the packages not stored yet inserted first; and
    the keys that were inserted here.

    Most of an image's packages are usually stored already (other images have them), so they are looked up
    before anything is written. The new ones go in as one statement with many parameter sets
    (``executemany``: compiled once, then cached); a multi-row ``VALUES`` list is compiled anew for every
    batch, which was most of the time an image took to store (``docs/scan-bench.md``).
    """
    known = _known(conn, list(by_key))
    missing = [key for key in by_key if key not in known]
    if missing:
        rows = [_package_values(key, by_key[key]) for key in missing]
        conn.execute(insert.on_conflict_do_nothing(index_elements=["key"]), rows)
        known.update(_known(conn, missing))
    return known, set(missing)


def _complete(
    conn: Connection,
    inserts: tuple[Any, Any],
    scan: ScanResult,
    owner: str,
    packages: Sequence[StoredPackage],
    generation: int,
    now: datetime,
) -> bool:
    os = scan.inventory.os
    held = update(image_scans).where(
        image_scans.c.manifest_id == scan.manifest_id,
        image_scans.c.lease_owner == owner,
        image_scans.c.status == IN_PROGRESS,
    )
    done = held.values(
        status=COMPLETE,
        description="The scan was completed successfully.",
        completed_at=now,
        lease_owner=None,
        lease_until=None,
        attempts=image_scans.c.attempts + 1,
        os_id=None if os is None else os.id,
        os_version=None if os is None else os.version_id,
        os_name=None if os is None else os.pretty_name,
        os_codename=None if os is None else os.codename,
    )
    if not conn.execute(done).rowcount:
        return False
    keys = [package_key(p) for p in packages]
    known, inserted = _package_ids(conn, inserts[0], dict(zip(keys, packages, strict=True)))
    package_ids = [known[key][0] for key in keys]
    _link(conn, scan.manifest_id, package_ids, packages)
    # A package already matched at this generation has these very matches (one state of the database gives
    # one answer), so only the others are written: rewriting them would churn rows for nothing.
    stale = {known[key][0] for key in keys if key in inserted or known[key][1] != generation}
    _set_matches(conn, inserts[1], generation, sorted(stale), _matches(package_ids, packages, stale))
    return True


def _matches(
    package_ids: Sequence[int], packages: Sequence[StoredPackage], only: set[int]
) -> list[PackageMatch]:
    """The scan's matches of the packages whose ids are in ``only``, once each, by (package, advisory)."""
    found = {
        PackageMatch(package_id, v.advisory_id, v.fixed_in, v.severity)
        for package_id, p in zip(package_ids, packages, strict=True)
        if package_id in only
        for v in p.vulns
    }
    return sorted(found, key=_order)


def _order(match: PackageMatch) -> tuple[int, str]:
    return (match.package_id, match.advisory_id)


def _link(
    conn: Connection, manifest_id: int, package_ids: Sequence[int], packages: Sequence[StoredPackage]
) -> None:
    """Link the image to its packages (``package_ids[n]`` is the id of ``packages[n]``)."""
    paths: dict[int, set[str]] = defaultdict(set)
    for package_id, stored in zip(package_ids, packages, strict=True):
        paths[package_id].add(stored.package.path)
    conn.execute(delete(image_scan_packages).where(image_scan_packages.c.manifest_id == manifest_id))
    links = [{"manifest_id": manifest_id, "package_id": i, "paths": sorted(p)} for i, p in paths.items()]
    for chunk in _chunks(links):
        conn.execute(image_scan_packages.insert(), list(chunk))


def _set_matches(
    conn: Connection, insert: Any, generation: int, ids: Sequence[int], matches: Sequence[PackageMatch]
) -> None:
    for chunk in _chunks(list(ids)):
        conn.execute(delete(package_vulns).where(package_vulns.c.package_id.in_(chunk)))
        stamp = update(scan_packages).where(scan_packages.c.id.in_(chunk))
        conn.execute(stamp.values(matched_generation=generation))
    rows = [
        {
            "package_id": m.package_id,
            "advisory_id": m.advisory_id,
            "fixed_in": m.fixed_in,
            "severity": m.severity,
        }
        for m in matches
    ]
    if rows:  # executemany, as in _package_ids
        statement = insert.on_conflict_do_update(
            index_elements=["package_id", "advisory_id"],
            set_={"fixed_in": insert.excluded.fixed_in, "severity": insert.excluded.severity},
        )
        conn.execute(statement, rows)


def os_of(state: Any) -> OsInfo | None:
    """The OS a completed scan recorded (``ScanState``-like: ``os_id``, ``os_version``...)."""
    if state.os_id is None:
        return None
    return OsInfo(state.os_id, state.os_version or "", state.os_name or "", state.os_codename or "")
