"""An image's inventory: read the layers once, detect the OS, run every cataloguer over the result.

The layer reader keeps only what some cataloguer (or OS detection) asked for, so a scan's scratch disk
holds package databases and binaries, not the image. Packages found twice (the same purl at the same
path: two cataloguers reading one file) are reported once; the order is (type, name, version, path)
so an inventory is reproducible and diffs cleanly.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path

from dockyard.domain.scanning.inventory import Inventory, Package, ScanFailed, UnsupportedImage
from dockyard.scanner.layers import LayerFile, read_layers
from dockyard.scanner.limits import ScanLimits
from dockyard.scanner.os_release import OS_FILES, detect_os
from dockyard.scanner.rootfs import Cataloguer, DirRootFs, RootFs

__all__ = ["LayerFile", "ScanLimits", "build_inventory", "inventory_of", "inventory_of_directory"]

_OS_FILES = frozenset(OS_FILES)


def _sorted_unique(packages: Iterable[Package]) -> tuple[Package, ...]:
    seen: set[tuple[str, str]] = set()
    unique = []
    for package in packages:
        if (package.purl, package.path) not in seen:
            seen.add((package.purl, package.path))
            unique.append(package)
    unique.sort(key=lambda p: (p.type, p.name, p.version, p.path, p.purl))
    return tuple(unique)


def inventory_of(fs: RootFs, cataloguers: Sequence[Cataloguer]) -> Inventory:
    """Detect the OS of ``fs`` and run ``cataloguers`` over it.

    A cataloguer must not raise on bad data (it reports what it could read); one that does anyway
    fails the scan with a reason naming it, rather than with a traceback.
    """
    os = detect_os(fs)
    packages: list[Package] = []
    for cataloguer in cataloguers:
        try:
            packages.extend(cataloguer.catalogue(fs, os))
        except ScanFailed:
            raise
        except Exception as exc:
            raise ScanFailed(f"cataloguer {cataloguer.name} failed: {type(exc).__name__}: {exc}") from exc
    return Inventory(os=os, packages=_sorted_unique(packages))


def build_inventory(
    layers: Sequence[LayerFile],
    scratch: Path,
    cataloguers: Sequence[Cataloguer],
    limits: ScanLimits = ScanLimits(),  # noqa: B008 - frozen, so one shared default is safe
) -> Inventory:
    """The inventory of an image given its layer blobs (lowest first); ``scratch`` is a directory
    for the files kept while cataloguing, emptied again before this returns."""
    if not layers:
        raise UnsupportedImage("the image has no layers")

    def wants(path: str, head: bytes) -> bool:
        return path in _OS_FILES or any(cataloguer.wants(path, head) for cataloguer in cataloguers)

    fs = read_layers(layers, scratch, wants, limits)
    try:
        return inventory_of(fs, cataloguers)
    finally:
        shutil.rmtree(fs.directory, ignore_errors=True)


def inventory_of_directory(root: Path, cataloguers: Sequence[Cataloguer]) -> Inventory:
    """The inventory of an unpacked root filesystem (every file in it is visible to cataloguers)."""
    return inventory_of(DirRootFs(root), cataloguers)
