"""Inputs of the scan benchmark (``bench/scan.py``): a Debian image made of this machine's files, OSV
advisories for its packages, and 10,000 varied inventories.

Everything is real where the machine or ``shared/fixtures`` has it: layer 1 is this machine's dpkg status,
os-release, copyright files and ELF binaries and libraries (the two smallest real Go binaries in
``/usr/bin`` among them); layer 2 is the repo virtualenv's site-packages (``*.dist-info`` directories and
``.py`` files) and a Go program built here offline (:func:`bench.scan_rootfs.go_binary`). What is written
here is named as such: advisories for OS packages (no real Debian, Alpine or rpm OSV records are among the
fixtures) have ids starting ``BENCH-``, and varied inventories bump the last number of a few versions,
the way a rebuild of an image picks up patch releases.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import random
import re
import tarfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from packageurl import PackageURL

from bench.scan_rootfs import REPO, Tree, build_trees, go_binary
from dockyard.domain.scanning.inventory import Inventory, Package
from dockyard.domain.vulns.ecosystems import MatchQuery, query_for
from dockyard.domain.vulns.sources import Parsed, read_records

LAYER_MEDIA_TYPE = "application/vnd.oci.image.layer.v1.tar+gzip"
GO_BUILDINFO = b"\xff Go buildinf:"
SITE_PACKAGES = REPO / ".venv" / "lib" / "python3.11" / "site-packages"
IMAGE_SITE_PACKAGES = "usr/local/lib/python3.11/site-packages"
BINARY_DIRS = (Path("/usr/bin"), Path("/usr/lib/x86_64-linux-gnu"))
# Real CVSS v3.1 vectors (critical, high, medium, low), rotated over generated advisories.
VECTORS = (
    "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
    "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H",
    "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N",
    "CVSS:3.1/AV:L/AC:H/PR:L/UI:N/S:U/C:L/I:N/A:N",
)
_LAST_NUMBER = re.compile(r"(\d+)(?!.*\d)")


@dataclass(frozen=True, slots=True)
class Layer:
    path: Path
    digest: str
    files: int  # regular files
    members: int  # tar members of any type
    size: int  # uncompressed bytes of regular files


# -- the image ------------------------------------------------------------------------------------------


def _go_binaries(limit: int) -> list[Path]:
    """The ``limit`` smallest real Go binaries in ``/usr/bin`` (build info magic in their first 8 MiB)."""
    found = []
    for path in sorted(Path("/usr/bin").iterdir()):
        if path.is_symlink() or not path.is_file() or path.stat().st_size > 16 * 2**20:
            continue
        with path.open("rb") as handle:
            if handle.read(4) == b"\x7fELF" and GO_BUILDINFO in handle.read(8 * 2**20):
                found.append(path)
    return sorted(found, key=lambda p: p.stat().st_size)[:limit]


def _binaries(budget: int) -> list[Path]:
    """ELF executables and shared libraries of this machine, smallest first up to ``budget`` bytes, plus
    every symlink beside them (cheap, and what a real image has)."""
    go = _go_binaries(2)
    spent = sum(p.stat().st_size for p in go)
    files = [p for d in BINARY_DIRS for p in d.iterdir() if d.name == "bin" or ".so" in p.name]
    chosen, links = list(go), []
    for path in sorted(files, key=lambda p: (p.lstat().st_size, str(p))):
        if path.is_symlink():
            links.append(path)
        elif path.is_file() and path not in go and spent + path.stat().st_size <= budget:
            chosen.append(path)
            spent += path.stat().st_size
    return sorted(chosen + links)


def _host_files(budget: int) -> list[tuple[Path, str]]:
    """Layer 1: (host path, path in the image)."""
    etc = [Path("/etc/os-release"), Path("/usr/lib/os-release"), Path("/etc/debian_version")]
    docs = sorted(Path("/usr/share/doc").glob("*/copyright"))
    paths = [*etc, Path("/var/lib/dpkg/status"), *docs, *_binaries(budget)]
    return [(p, str(p).lstrip("/")) for p in paths if p.is_symlink() or p.is_file()]


def _python_files(go_root: Path | None) -> list[tuple[Path, str]]:
    """Layer 2: site-packages' ``*.dist-info`` directories and ``.py`` files, and the Go binaries built."""
    found = []
    for path in sorted(SITE_PACKAGES.rglob("*")):
        relative = path.relative_to(SITE_PACKAGES)
        in_dist_info = any(part.endswith(".dist-info") for part in relative.parts)
        if (path.is_file() or path.is_symlink()) and (in_dist_info or path.suffix == ".py"):
            found.append((path, f"{IMAGE_SITE_PACKAGES}/{relative.as_posix()}"))
    if go_root is not None:
        for path in sorted((go_root / "usr" / "local" / "bin").iterdir()):
            found.append((path, f"usr/local/bin/{path.name}"))
    return found


def write_layer(path: Path, files: Sequence[tuple[Path, str]]) -> Layer:
    """A gzip'd tar (level 6, as Docker and Go's default write) with the parent directories of each file."""
    seen: set[str] = set()
    count = size = members = 0
    with (
        gzip.GzipFile(path, "wb", compresslevel=6, mtime=0) as raw,
        tarfile.open(fileobj=raw, mode="w|", format=tarfile.PAX_FORMAT) as tar,
    ):
        for source, name in files:
            parts = name.split("/")
            for depth in range(1, len(parts)):
                parent = "/".join(parts[:depth])
                if parent not in seen:
                    seen.add(parent)
                    info = tarfile.TarInfo(parent)
                    info.type, info.mode = tarfile.DIRTYPE, 0o755
                    tar.addfile(info)
                    members += 1
            info = tar.gettarinfo(str(source), name)
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            members += 1
            if info.isreg():
                count, size = count + 1, size + info.size
                with source.open("rb") as handle:
                    tar.addfile(info, handle)
            else:
                tar.addfile(info)
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(2**20):
            digest.update(chunk)
    return Layer(path, "sha256:" + digest.hexdigest(), count, members, size)


def build_image(work: Path, budget: int) -> list[Layer]:
    """Layer 1 (OS and binaries, ``budget`` bytes of ELF files) and layer 2 (Python, Go) under ``work``;
    the layers a previous call left there (``layers.json``) when they are all still present."""
    index = work / "layers.json"
    if index.is_file():
        kept = [Layer(**{**entry, "path": Path(entry["path"])}) for entry in json.loads(index.read_text())]
        if all(layer.path.is_file() for layer in kept):
            return kept
    layers = _build_image(work, budget)
    index.write_text(json.dumps([{**asdict(layer), "path": str(layer.path)} for layer in layers]))
    return layers


def _build_image(work: Path, budget: int) -> list[Layer]:
    work.mkdir(parents=True, exist_ok=True)
    go_root = work / "go-root"
    (go_root / "usr" / "local" / "bin").mkdir(parents=True, exist_ok=True)
    try:
        go_binary(Tree("go", go_root, ""), work / "go-build")
        built = True
    except (FileNotFoundError, RuntimeError) as exc:  # no Go toolchain: layer 2 is Python alone
        print(f"no Go binary built ({exc})")
        built = False
    return [
        write_layer(work / "layer-1.tar.gz", _host_files(budget)),
        write_layer(work / "layer-2.tar.gz", _python_files(go_root if built else None)),
    ]


# -- advisories -----------------------------------------------------------------------------------------


def bump(version: str, by: int) -> str:
    """``version`` with its last number raised by ``by`` (``2.36-9+deb12u4`` -> ``2.36-9+deb12u5``)."""
    return _LAST_NUMBER.sub(lambda m: str(int(m.group(1)) + by), version, count=1)


def advisory(
    ident: str, query: MatchQuery, events: list[dict[str, str]], vector: str, modified: datetime
) -> dict[str, object]:
    ecosystem = query.ecosystem
    return {
        "schema_version": "1.6.0",
        "id": ident,
        "modified": modified.isoformat().replace("+00:00", "Z"),
        "published": "2024-01-01T00:00:00Z",
        "summary": f"{query.name}: an advisory written for the scan benchmark",
        "details": f"Generated by bench/scan_data.py for {query.name} {query.version} ({ecosystem}).",
        "severity": [{"type": "CVSS_V3", "score": vector}],
        "affected": [
            {
                "package": {"ecosystem": ecosystem, "name": query.name},
                "ranges": [{"type": "ECOSYSTEM", "events": events}],
            }
        ],
        "references": [{"type": "WEB", "url": f"https://example.invalid/{ident}"}],
    }


def _events(version: str, kind: int) -> list[dict[str, str]]:
    """0-3: fixed at the installed version (not affected); 4-7: fixed later (affected); 8-9: no fix."""
    if kind < 4:
        return [{"introduced": "0"}, {"fixed": version}]
    if kind < 8:
        return [{"introduced": "0"}, {"fixed": bump(version, 1)}]
    return [{"introduced": "0"}]


def generated_advisories(
    out: Path,
    prefix: str,
    queries: Iterable[MatchQuery],
    every: int,
    modified: datetime,
    seed: int = 1,
    offset: int = 0,
) -> int:
    """One advisory per ``every`` distinct (ecosystem, name) of ``queries`` (the ``offset``-th of each
    ``every``, in name order), as OSV JSON files in ``out``."""
    by_name: dict[tuple[str, str], str] = {}
    for query in queries:
        by_name.setdefault((query.ecosystem, query.name), query.version)
    rng = random.Random(seed)
    out.mkdir(parents=True, exist_ok=True)
    written = 0
    for n, ((ecosystem, name), version) in enumerate(sorted(by_name.items())):
        if n % every != offset:
            continue
        ident = f"{prefix}-{written:05d}"
        events = _events(version, rng.randrange(10))
        query = MatchQuery(ecosystem, name, version)
        record = advisory(ident, query, events, VECTORS[written % len(VECTORS)], modified)
        (out / f"{ident}.json").write_text(json.dumps(record))
        written += 1
    return written


def modified_copies(source: Path, out: Path, count: int, modified: datetime) -> int:
    """``count`` real advisories of ``source`` rewritten with a newer ``modified`` (an upstream edit)."""
    out.mkdir(parents=True, exist_ok=True)
    written = 0
    for n, item in enumerate(read_records(source)):
        if written == count:
            break
        if isinstance(item, Parsed) and n % 7 == 0:  # spread over the packages, not the first few
            raw = dict(item.advisory.raw)
            raw["modified"] = modified.isoformat().replace("+00:00", "Z")
            (out / f"{item.advisory.id}.json").write_text(json.dumps(raw, default=str))
            written += 1
    return written


def queries_of(inventories: Iterable[Inventory], types: Sequence[str] | None = None) -> Iterator[MatchQuery]:
    for inventory in inventories:
        for package in inventory.packages:
            query = query_for(package, inventory.os)
            if query is not None and (types is None or package.type in types):
                yield query


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


# -- inventories ----------------------------------------------------------------------------------------


def base_inventories(scratch: Path, image: Inventory) -> list[tuple[str, Inventory]]:
    """20 bases: the benchmark image, each tree of :mod:`bench.scan_rootfs` with an OS alone, and 12 of
    those with a tree of language packages on top (``ubuntu-18.04-dpkg+npm-node-modules``)."""
    from dockyard.scanner.catalogue import default_cataloguers
    from dockyard.scanner.inventory import inventory_of_directory

    scanned = {t.name: inventory_of_directory(t.root, default_cataloguers()) for t in build_trees(scratch)}
    systems = [(name, found) for name, found in scanned.items() if found.os is not None]
    languages = [(name, found) for name, found in scanned.items() if found.os is None and found.packages]
    bases = [("benchmark-image", image), *systems]
    for n in range(20 - len(bases)):
        (os_name, system), (language, extra) = systems[n % len(systems)], languages[n % len(languages)]
        bases.append((f"{os_name}+{language}", Inventory(system.os, system.packages + extra.packages)))
    return bases


def _changed(package: Package, by: int) -> Package:
    version = bump(package.version, by)
    try:
        purl = PackageURL.from_string(package.purl)._replace(version=version).to_string()
    except ValueError:
        purl = package.purl.replace(package.version, version)
    source = version if package.source_version == package.version else package.source_version
    return replace(package, version=version, purl=purl, source_version=source)


def vary(base: Inventory, extras: Sequence[Package], rng: random.Random) -> Inventory:
    """``base`` with 0-4 packages at a newer patch version and, for a third, 1-3 packages added."""
    packages = list(base.packages)
    for _ in range(rng.randrange(5)):
        index = rng.randrange(len(packages))
        packages[index] = _changed(packages[index], rng.randint(1, 3))
    if rng.random() < 0.33:
        packages += rng.sample(list(extras), min(len(extras), rng.randint(1, 3)))
    return Inventory(base.os, tuple(packages))


def inventories(bases: Sequence[tuple[str, Inventory]], count: int, seed: int = 7) -> list[Inventory]:
    """``count`` images, each a random base varied by :func:`vary`."""
    rng = random.Random(seed)
    extras = [p for _, base in bases for p in base.packages if p.type in ("pypi", "npm", "golang")]
    return [vary(rng.choice(bases)[1], extras, rng) for _ in range(count)]
