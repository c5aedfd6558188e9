"""Java packages from archives (``.jar``, ``.war``, ``.ear``, Jenkins ``.jpi``/``.hpi``), read with
:mod:`zipfile` in place (``fs.local_path``); nothing is extracted to disk.

Each ``META-INF/maven/<group>/<artifact>/pom.properties`` is a package (``pkg:maven/<group>/<artifact>@v``).
An archive without one falls back to ``META-INF/MANIFEST.MF`` the way Syft does: the name from the
Apache Maven Bundle Plugin's ``Bundle-SymbolicName``, else the file name, else manifest title fields;
the version from the file name, else ``Implementation-``/``Specification-``/``Plugin-``/``Bundle-Version``;
the group from the first reverse-domain value among the manifest's group-like fields (with a trailing
``.<artifact>`` removed, as ``Automatic-Module-Name`` and ``Bundle-SymbolicName`` carry it), else the
name. New Relic instrumentation jars (``Weave-Classes``) are not packages, as in Syft. Archives nested in
archives (``WEB-INF/lib``, ``BOOT-INF/lib``, ...) are read in memory, up to :data:`MAX_DEPTH` levels.

Archives are untrusted: the central directory is sized before :mod:`zipfile` loads it
(:mod:`~dockyard.scanner.zip_limits`), members are read with a byte limit whatever their headers claim,
and everything read from one archive (nested ones included) shares one byte budget, so a zip bomb
costs bounded memory and time.
"""

from __future__ import annotations

import io
import posixpath
import re
import zipfile
from dataclasses import dataclass, field

from dockyard.domain.scanning.inventory import MAVEN, OsInfo, Package
from dockyard.scanner.java_manifest import Manifest, parse_manifest, parse_pom_properties
from dockyard.scanner.purls import make_purl
from dockyard.scanner.rootfs import RootFs
from dockyard.scanner.zip_limits import ZIP_ERRORS, central_directory_ok

ARCHIVE_SUFFIXES = (".jar", ".war", ".ear", ".jpi", ".hpi")
MAX_METADATA = 1024 * 1024  # a manifest or pom.properties larger than this is not read
MAX_NESTED = 32 * 1024 * 1024  # a nested archive larger than this (uncompressed) is not opened
MAX_INFLATED = 512 * 1024 * 1024  # bytes decompressed per top-level archive, nested archives included
MAX_DEPTH = 2  # levels of archives inside archives
_DOMAINS = ("com.", "org.", "net.", "io.", "be.")
_VERSION_START = re.compile(r"^(?:\d|build\d|rc?\d+(?![A-Za-z]))", re.IGNORECASE)
# Manifest fields that may hold the group, best first: explicit group ids, then Syft's primary and
# secondary group-like fields (values that may end in ".<artifact>").
_GROUP_TIERS = (
    ("Group-Id", "Implementation-Vendor-Id"),
    (
        "Bundle-SymbolicName",
        "Extension-Name",
        "Specification-Vendor",
        "Implementation-Vendor",
        "Implementation-Title",
        "Bundle-Activator",
    ),
    ("Automatic-Module-Name", "Main-Class", "Package"),
)
_NAME_FIELDS = ("Name", "Bundle-Name", "Short-Name", "Extension-Name", "Implementation-Title")
_VERSION_FIELDS = ("Implementation-Version", "Specification-Version", "Plugin-Version", "Bundle-Version")


def is_archive(path: str) -> bool:
    return path.lower().endswith(ARCHIVE_SUFFIXES)


def split_filename(filename: str) -> tuple[str, str]:
    """``("commons-lang3", "3.12.0")`` for ``commons-lang3-3.12.0.jar``: the version starts at the first
    dash-separated part that starts with a digit (or ``build<n>``, ``r<n>``, ``rc<n>``), as in Syft."""
    stem = posixpath.splitext(posixpath.basename(filename))[0]
    parts = stem.split("-")
    for index, part in enumerate(parts[1:], start=1):
        if _VERSION_START.match(part):
            return "-".join(parts[:index]), "-".join(parts[index:])
    return stem, ""


def _manifest_name(manifest: Manifest, filename: str) -> str:
    symbolic = manifest.main.get("Bundle-SymbolicName", "").split(";")[0].strip()
    from_bundle_plugin = "Apache Maven Bundle Plugin" in manifest.main.get("Created-By", "")
    if from_bundle_plugin and symbolic and symbolic != manifest.main.get("Implementation-Vendor-Id"):
        return symbolic.split(".")[-1]  # the plugin's default symbolic name is <group>.<artifact>
    name = split_filename(filename)[0]
    if "." in name and not name.startswith("org.eclipse."):
        fields = name.split(".")
        if all(f and (f[0].isalpha() or f[0] in "_$") for f in fields):
            return fields[-1]  # <group>.<artifact> file names
    return name or next((manifest.main[k] for k in _NAME_FIELDS if manifest.main.get(k)), "")


def _manifest_group(manifest: Manifest, name: str) -> str:
    suffixes = (f".{name}", f".{name.replace('-', '_')}")
    for tier, fields in enumerate(_GROUP_TIERS):
        candidates = []
        for value in (manifest.get(key) for key in fields):
            group = value.split(";")[0].split("#")[0].strip()  # drop OSGi directives
            if tier > 0:
                group = next((group.removesuffix(s) for s in suffixes if group.endswith(s)), group)
            if group.startswith(_DOMAINS):
                candidates.append(group)
        if candidates:
            return candidates[0] if tier == 0 else sorted(candidates)[0]
    return name


def _manifest_coordinates(manifest: Manifest, filename: str) -> tuple[str, str, str] | None:
    """``(group, artifact, version)`` from a manifest (and the archive's file name), or ``None``."""
    if "Weave-Classes" in manifest.main:
        return None
    name = _manifest_name(manifest, filename)
    version = split_filename(filename)[1] or next(filter(None, map(manifest.get, _VERSION_FIELDS)), "")
    if not name or not version:
        return None
    return _manifest_group(manifest, name), name, version


@dataclass
class _Walk:
    """One top-level archive being read: where it is and how many bytes it may still decompress."""

    path: str
    budget: int = field(default_factory=lambda: MAX_INFLATED)
    found: dict[tuple[str, str, str], Package] = field(default_factory=dict)

    def read(self, archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> bytes | None:
        """The member's bytes, or ``None`` when it is (or inflates to) more than ``limit`` or is damaged.

        A member's declared size is charged to the budget before it is read: zipfile stops inflating
        at the declared size, so a member whose header lies costs no more than it claims.
        """
        if info.file_size > min(limit, self.budget):
            return None
        self.budget -= info.file_size
        try:
            with archive.open(info) as member:
                data = member.read(limit + 1)
        except ZIP_ERRORS:
            return None
        return data if len(data) <= limit else None

    def add(self, group: str, artifact: str, version: str, licenses: tuple[str, ...]) -> None:
        purl = make_purl(MAVEN, group, artifact, version)
        self.found.setdefault(
            (group, artifact, version),
            Package(MAVEN, artifact, version, purl, self.path, namespace=group, licenses=licenses),
        )


def _is_pom_properties(member: str) -> bool:
    return member.startswith("META-INF/maven/") and member.endswith("/pom.properties")


def _read_archive(archive: zipfile.ZipFile, filename: str, walk: _Walk, depth: int) -> None:
    members = {info.filename: info for info in archive.infolist() if not info.is_dir()}
    manifest_info = members.get("META-INF/MANIFEST.MF")
    raw = walk.read(archive, manifest_info, MAX_METADATA) if manifest_info else None
    manifest = parse_manifest(raw.decode("utf-8", "replace")) if raw else Manifest()
    if "Weave-Classes" in manifest.main:
        return
    licenses = tuple(v for v in (manifest.get("Bundle-License"), manifest.get("Plugin-License-Name")) if v)
    poms = [info for name, info in members.items() if _is_pom_properties(name)]
    found_pom = False
    for info in poms:
        data = walk.read(archive, info, MAX_METADATA)
        coordinates = parse_pom_properties(data.decode("utf-8", "replace")) if data else None
        if coordinates is not None:
            walk.add(*coordinates, licenses)
            found_pom = True
    coordinates = None if found_pom else _manifest_coordinates(manifest, filename)
    if coordinates is not None:
        walk.add(*coordinates, licenses)
    if depth < MAX_DEPTH:
        for name, info in sorted(members.items()):
            if is_archive(name):
                _read_nested(archive, info, walk, depth + 1)


def _read_nested(archive: zipfile.ZipFile, info: zipfile.ZipInfo, walk: _Walk, depth: int) -> None:
    try:
        data = walk.read(archive, info, MAX_NESTED)
        if data is None or not central_directory_ok(io.BytesIO(data), len(data)):
            return
        with zipfile.ZipFile(io.BytesIO(data)) as nested:
            _read_archive(nested, info.filename, walk, depth)
    except ZIP_ERRORS:
        return


def packages_from_archive(local: str, path: str) -> list[Package]:
    """The packages in the archive stored at the local file ``local`` (``path`` is its place in the image)."""
    walk = _Walk(path)
    try:
        with open(local, "rb") as file:
            size = file.seek(0, io.SEEK_END)
            if central_directory_ok(file, size):
                with zipfile.ZipFile(file) as archive:
                    _read_archive(archive, path, walk, 0)
    except ZIP_ERRORS:
        pass  # a broken archive yields what was read before the damage
    return list(walk.found.values())


class JavaCataloguer:
    """Java packages (``maven`` purls) from archives and the archives nested in them."""

    name = "java"

    def wants(self, path: str, head: bytes) -> bool:
        return is_archive(path)

    def catalogue(self, fs: RootFs, os: OsInfo | None) -> list[Package]:
        packages: list[Package] = []
        for path in sorted(p for p in fs.files() if is_archive(p)):
            local = fs.local_path(path)
            if local is not None:
                packages.extend(packages_from_archive(str(local), path))
        return packages
