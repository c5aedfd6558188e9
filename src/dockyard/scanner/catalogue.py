"""The cataloguers a scan runs, one per kind of package database.

OS package databases come first (their packages are what distribution advisories name), language
ecosystems after; the order is the order of the inventory, nothing depends on it otherwise.
"""

from __future__ import annotations

from dockyard.scanner.apk import ApkCataloguer
from dockyard.scanner.dpkg import DpkgCataloguer
from dockyard.scanner.golang import GoBinaryCataloguer
from dockyard.scanner.java import JavaCataloguer
from dockyard.scanner.npm import NpmCataloguer
from dockyard.scanner.python_pkgs import PythonCataloguer
from dockyard.scanner.rootfs import Cataloguer
from dockyard.scanner.rpm import RpmCataloguer


def default_cataloguers() -> list[Cataloguer]:
    """A fresh instance of every cataloguer (they hold no state, but callers may keep the list)."""
    return [
        DpkgCataloguer(),
        ApkCataloguer(),
        RpmCataloguer(),
        PythonCataloguer(),
        NpmCataloguer(),
        JavaCataloguer(),
        GoBinaryCataloguer(),
    ]
