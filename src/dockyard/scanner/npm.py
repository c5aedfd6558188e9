"""JavaScript packages from ``package.json`` files, matching Syft's image cataloguer
(``javascript-package-cataloger``): every ``package.json`` anywhere in the image counts, not only those
under ``node_modules``, so an application's own manifest (``/app/package.json``) is reported too when it
has a name and a version. Files without both, and files that are not a JSON object, are skipped.

Scoped names keep their scope in the package name (``@babel/parser``); the purl and ``namespace`` carry
the scope separately (``pkg:npm/%40babel/parser@7.23.6``, namespace ``babel``).
"""

from __future__ import annotations

import json
import posixpath
from typing import Any, TypeGuard

from dockyard.domain.scanning.inventory import NPM, OsInfo, Package
from dockyard.scanner.purls import make_purl
from dockyard.scanner.rootfs import RootFs

MANIFEST = "package.json"
MAX_MANIFEST = 4 * 1024 * 1024
MAX_NAME = 214  # npm's own limit on package names


def _license_name(value: Any) -> list[str]:
    """A ``license`` value: an SPDX string or a legacy ``{"type": ...}`` object."""
    if isinstance(value, dict):
        value = value.get("type")
    return [value.strip()] if isinstance(value, str) and value.strip() else []


def _license_names(value: Any) -> list[str]:
    """``license`` (one value) or the legacy ``licenses`` (a list of them); nothing deeper is looked at."""
    if isinstance(value, list):
        return [name for item in value for name in _license_name(item)]
    return _license_name(value)


def _valid_name(name: object) -> TypeGuard[str]:
    return isinstance(name, str) and 0 < len(name) <= MAX_NAME and not any(c.isspace() for c in name)


def package_from_manifest(data: bytes, path: str) -> Package | None:
    """The package a ``package.json`` declares, or ``None`` when it is broken or lacks name/version."""
    try:
        manifest = json.loads(data)
    except (ValueError, RecursionError):
        return None
    if not isinstance(manifest, dict):
        return None
    name, version = manifest.get("name"), manifest.get("version")
    if not _valid_name(name) or not isinstance(version, str) or not version.strip():
        return None
    scope, _, bare = name.rpartition("/") if name.startswith("@") else ("", "", name)
    if not bare or (name.startswith("@") and (not scope[1:] or "/" in scope)):
        return None
    licenses = _license_names(manifest.get("license")) or _license_names(manifest.get("licenses"))
    return Package(
        type=NPM,
        name=name,
        version=version.strip(),
        purl=make_purl(NPM, scope or None, bare, version.strip()),
        path=path,
        namespace=scope[1:] or None,
        licenses=tuple(dict.fromkeys(licenses)),
    )


class NpmCataloguer:
    """Installed JavaScript packages (``npm`` purls) from every ``package.json``."""

    name = "npm"

    def wants(self, path: str, head: bytes) -> bool:
        return posixpath.basename(path) == MANIFEST

    def catalogue(self, fs: RootFs, os: OsInfo | None) -> list[Package]:
        packages = []
        for path in sorted(p for p in fs.files() if posixpath.basename(p) == MANIFEST):
            data = fs.read(path, MAX_MANIFEST)
            package = package_from_manifest(data, path) if data is not None else None
            if package is not None:
                packages.append(package)
        return packages
