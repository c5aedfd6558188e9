"""Installed Python distributions: ``*.dist-info/METADATA`` and ``*.egg-info/PKG-INFO`` (or a ``*.egg-info``
file), wherever they are (site-packages, dist-packages, vendored trees), matched case-insensitively as
Syft does (``DIST-INFO``, ``EGG-INFO``).

The metadata is RFC 822 headers (core metadata spec), read with :mod:`email.parser` in its compat32
policy, which never raises on malformed headers. The license is ``License-Expression`` (metadata 2.4),
else a one-line ``License`` field, else the last part of ``License ::`` classifiers. Distributions
without a name or version are skipped. The purl name is normalised by packageurl-python as the purl
spec requires for PyPI (lower case, ``_`` to ``-``); the package name is kept as the metadata says.
"""

from __future__ import annotations

import posixpath
from email.message import Message
from email.parser import BytesHeaderParser

from dockyard.domain.scanning.inventory import PYPI, OsInfo, Package
from dockyard.scanner.purls import make_purl
from dockyard.scanner.rootfs import RootFs

MAX_METADATA = 4 * 1024 * 1024  # METADATA embeds the long description; real ones stay far below this
MAX_LICENSE_FIELD = 200  # a longer License field is the licence text pasted in, not a name


def is_metadata_file(path: str) -> bool:
    """Whether ``path`` is a distribution's core-metadata file."""
    parent, base = posixpath.split(path)
    parent_name, base_upper = posixpath.basename(parent).upper(), base.upper()
    if base_upper == "METADATA":
        return parent_name.endswith("DIST-INFO")
    if base_upper == "PKG-INFO":
        return parent_name.endswith("EGG-INFO")
    return base_upper.endswith(".EGG-INFO")


def _header(message: Message, name: str) -> str:
    value = message.get(name)
    return str(value).strip() if value is not None else ""


def licenses_of(message: Message) -> tuple[str, ...]:
    """The declared license: expression, else a short ``License`` field, else trove classifiers."""
    expression = _header(message, "License-Expression")
    if expression:
        return (expression,)
    field = _header(message, "License")
    if field and field.upper() != "UNKNOWN" and "\n" not in field and len(field) <= MAX_LICENSE_FIELD:
        return (field,)
    classifiers = (str(value) for value in message.get_all("Classifier") or [])
    found = [c.split("::")[-1].strip() for c in classifiers if c.strip().startswith("License ::")]
    return tuple(dict.fromkeys(name for name in found if name and name != "OSI Approved"))


def package_from_metadata(data: bytes, path: str) -> Package | None:
    """The distribution a metadata file describes, or ``None`` without a name or version."""
    message = BytesHeaderParser().parsebytes(data)
    name, version = _header(message, "Name"), _header(message, "Version")
    if not name or not version or "\n" in name or "\n" in version:
        return None
    return Package(
        type=PYPI,
        name=name,
        version=version,
        purl=make_purl(PYPI, None, name, version),
        path=path,
        licenses=licenses_of(message),
    )


class PythonCataloguer:
    """Installed Python packages (``pypi`` purls) from their core-metadata files."""

    name = "python"

    def wants(self, path: str, head: bytes) -> bool:
        return is_metadata_file(path)

    def catalogue(self, fs: RootFs, os: OsInfo | None) -> list[Package]:
        packages = []
        for path in sorted(p for p in fs.files() if is_metadata_file(p)):
            data = fs.read(path, MAX_METADATA)
            package = package_from_metadata(data, path) if data is not None else None
            if package is not None:
                packages.append(package)
        return packages
