"""Cross-check Dockyard's package inventory against Syft and Trivy on the same root filesystems, offline.

``make scan-crosscheck`` (``scripts/scan-crosscheck.sh``) installs the two tools into their own
virtualenv and runs this module; ``docs/scan-crosscheck.md`` explains every difference it reports.

Packages are compared by purl, normalised to (type, namespace, name, version): PyPI names spelled as
PEP 503 does, an ``epoch`` qualifier folded into the version (Trivy writes epochs as a qualifier, Syft
and Dockyard in the ``deb`` version), the Go toolchain's version without its ``v``. Qualifiers, the
namespace of OS packages (each tool names the vendor its own way) and where the epoch was written are
compared separately, as attributes of the packages two tools both list (:func:`normalise`).
Syft runs with its *image* cataloguer set (what it would use on these files as image layers, and what
Dockyard follows); a second run with its default *directory* set is summarised per tree. Trivy runs
``rootfs`` (its image-like mode) with every network feature off and an empty Java index, so jars are
read from their own metadata only. Both tools run behind a loopback proxy that records and refuses
every request, which shows they made none. Differences are findings: the exit status is non-zero
only when a tool or this script fails.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socketserver
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from packageurl import PackageURL

from bench.scan_rootfs import Tree, build_trees, tree_names
from dockyard.scanner.catalogue import default_cataloguers
from dockyard.scanner.inventory import inventory_of_directory

TOOLS = ("dockyard", "syft", "trivy")
OS_TYPES = ("deb", "rpm", "apk")
EPOCH = r"^(\d+):"
REGIONS = ("all", "dockyard+syft", "dockyard+trivy", "syft+trivy", "dockyard", "syft", "trivy")
EXAMPLES = 5  # differing values kept per attribute and tool pair
TRIVY_OFFLINE = [
    "--offline-scan",
    "--skip-db-update",
    "--skip-java-db-update",
    "--skip-check-update",
    "--skip-version-check",
    "--disable-telemetry",
    "--no-progress",
    "--scanners",
    "",
]


class Key(NamedTuple):
    type: str
    namespace: str
    name: str
    version: str

    def __str__(self) -> str:
        path = f"{self.namespace}/{self.name}" if self.namespace else self.name
        return f"{self.type}/{path}@{self.version}"


@dataclass
class Listing:
    """What one tool found in one tree: per normalised purl, its attributes and its spelling."""

    attributes: dict[Key, dict[str, str]] = field(default_factory=dict)
    spelled: dict[Key, str] = field(default_factory=dict)
    entries: int = 0  # packages as listed, before folding duplicates (same purl at several paths)
    no_purl: list[str] = field(default_factory=list)
    os: str = ""

    def add(self, purl: str, fallback: str) -> None:
        self.entries += 1
        if not purl:
            self.no_purl.append(fallback)
            return
        key, attributes, spelled = normalise(purl)
        self.attributes.setdefault(key, attributes)
        self.spelled.setdefault(key, spelled)


def pep503(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def normalise(purl: str) -> tuple[Key, dict[str, str], str]:
    """``(key, attributes, name@version as written)`` of a purl.

    Folded into the key: an ``epoch`` qualifier (into the version), PEP 503 spelling of PyPI names,
    the ``v``/``go`` prefix of the Go toolchain's version. Left out of the key and compared as
    attributes: the qualifiers, and for OS packages the namespace (the distribution's vendor name,
    which each tool spells its own way; the package is the same) and where the epoch was written.
    The spelling is the name and version as written, less what the attributes already cover.
    """
    parsed = PackageURL.from_string(purl)
    attributes = dict(parsed.qualifiers) if isinstance(parsed.qualifiers, dict) else {}
    name, namespace, version = parsed.name, parsed.namespace or "", parsed.version or ""
    spelled = f"{namespace}/{name}@{version}" if namespace else f"{name}@{version}"
    if parsed.type in OS_TYPES:
        attributes["namespace"], namespace = namespace, ""
        version = _fold_epoch(version, attributes)
        spelled = f"{name}@{re.sub(EPOCH, '', parsed.version or '')}"
    elif parsed.type == "pypi":
        name = pep503(name)
    elif parsed.type == "golang" and name == "stdlib" and not namespace:
        version = re.sub(r"^(go|v)(?=\d)", "", version)
    return Key(parsed.type, namespace, name, version), attributes, spelled


def _fold_epoch(version: str, attributes: dict[str, str]) -> str:
    """The version with its epoch (from the ``epoch`` qualifier if it is not written in the version);
    the ``epoch`` attribute says where it was written."""
    epoch = attributes.pop("epoch", None)
    written = re.match(EPOCH, version)
    if written is not None:
        attributes["epoch"] = f"{written.group(1)} (version)"
    elif epoch:
        attributes["epoch"] = f"{epoch} (qualifier)"
        return f"{epoch}:{version}"
    return version


@contextmanager
def refusing_proxy() -> Iterator[tuple[str, list[str]]]:
    """A loopback HTTP proxy that answers 403 to everything and records each request line."""
    seen: list[str] = []

    class Handler(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            seen.append(self.rfile.readline(4096).decode("latin-1").strip())
            self.wfile.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


def offline_env(proxy: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k.lower() not in ("no_proxy", "all_proxy")}
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY"):
        env[name] = proxy
    env["SYFT_CHECK_FOR_APP_UPDATE"] = "false"
    return env


def empty_java_index(cache: Path) -> None:
    """Trivy refuses to read jars without its Java index (a 1 GB download); an index with trivy-java-db's
    schema and no rows lets it run, resolving every jar from the jar's own metadata."""
    directory = cache / "java-db"
    directory.mkdir(parents=True, exist_ok=True)
    database = directory / "trivy-java.db"
    if not database.exists():
        with sqlite3.connect(database) as connection:
            connection.executescript(
                "CREATE TABLE artifacts(id INTEGER PRIMARY KEY, group_id TEXT, artifact_id TEXT);"
                "CREATE TABLE indices(artifact_id INTEGER, version TEXT, sha1 BLOB, archive_type TEXT,"
                " FOREIGN KEY (artifact_id) REFERENCES artifacts(id));"
                "CREATE UNIQUE INDEX artifacts_idx ON artifacts(artifact_id, group_id);"
                "CREATE INDEX indices_artifact_idx ON indices(artifact_id);"
                "CREATE UNIQUE INDEX indices_sha1_idx ON indices(sha1);"
            )
        connection.close()
    stamp = "2024-01-01T00:00:00Z"
    metadata = {"Version": 1, "NextUpdate": "2999-01-01T00:00:00Z", "UpdatedAt": stamp, "DownloadedAt": stamp}
    (directory / "metadata.json").write_text(json.dumps(metadata))


def run_json(command: list[str], env: dict[str, str], output: Path) -> Any:
    """Run a tool, keep its output and log beside the report, and return the parsed JSON."""
    result = subprocess.run(command, env=env, capture_output=True, timeout=1800)
    output.write_bytes(result.stdout)
    output.with_suffix(".log").write_bytes(result.stderr)
    if result.returncode != 0:
        raise RuntimeError(f"{command[0]} exited {result.returncode}; see {output.with_suffix('.log')}")
    return json.loads(result.stdout)


def syft_listing(document: dict[str, Any]) -> Listing:
    listing = Listing()
    for artifact in document.get("artifacts", []):
        fallback = f"{artifact.get('type')}/{artifact.get('name')}@{artifact.get('version')}"
        listing.add(artifact.get("purl", ""), fallback)
    distro = document.get("distro") or {}
    listing.os = f"{distro.get('id', '')} {distro.get('versionID', '')}".strip()
    return listing


def _components(components: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for component in components:
        yield component
        yield from _components(component.get("components", []))


def trivy_listing(document: dict[str, Any]) -> Listing:
    listing = Listing()
    for component in _components(document.get("components", [])):
        if component.get("type") == "operating-system":
            listing.os = f"{component.get('name', '')} {component.get('version', '')}".strip()
        elif component.get("type") == "library":
            listing.add(component.get("purl", ""), f"{component.get('name')}@{component.get('version')}")
    return listing


def dockyard_listing(root: Path) -> Listing:
    inventory = inventory_of_directory(root, default_cataloguers())
    listing = Listing()
    for package in inventory.packages:
        listing.add(package.purl, f"{package.type}/{package.name}@{package.version}")
    if inventory.os is not None:
        listing.os = f"{inventory.os.id} {inventory.os.version_id}"
    return listing


def region_of(key: Key, sets: dict[str, set[Key]]) -> str:
    present = [tool for tool in TOOLS if key in sets[tool]]
    return "all" if len(present) == 3 else "+".join(present)


def compare_attributes(keys: Iterable[Key], listings: dict[str, Listing]) -> dict[str, Any]:
    """Per attribute (qualifier, OS namespace) and tool pair: how often both agree, differ, or only one
    of them writes it."""
    result: dict[str, dict[str, dict[str, Any]]] = {}
    pairs = [("dockyard", "syft"), ("dockyard", "trivy"), ("syft", "trivy")]
    for key in sorted(keys):
        for left, right in pairs:
            if key not in listings[left].attributes or key not in listings[right].attributes:
                continue
            a, b = listings[left].attributes[key], listings[right].attributes[key]
            for name in sorted(set(a) | set(b)):
                stats = result.setdefault(name, {}).setdefault(
                    f"{left}-{right}", {"same": 0, "differ": 0, f"only_{left}": 0, f"only_{right}": 0}
                )
                if name in a and name in b:
                    outcome = "same" if a[name] == b[name] else "differ"
                else:
                    outcome = f"only_{left}" if name in a else f"only_{right}"
                stats[outcome] += 1
                if outcome == "differ" and len(stats.setdefault("examples", [])) < EXAMPLES:
                    stats["examples"].append(f"{key}: {a[name]!r} vs {b[name]!r}")
    return result


def compare_ecosystem(ecosystem: str, listings: dict[str, Listing]) -> dict[str, Any]:
    sets = {tool: {k for k in listings[tool].attributes if k.type == ecosystem} for tool in TOOLS}
    regions: dict[str, list[str]] = {region: [] for region in REGIONS}
    for key in sorted(set().union(*sets.values())):
        regions[region_of(key, sets)].append(str(key))
    shared = [k for k in set().union(*sets.values()) if sum(k in s for s in sets.values()) >= 2]
    spelled = [
        f"{key}: " + ", ".join(f"{t}={listings[t].spelled[key]}" for t in TOOLS if key in sets[t])
        for key in sorted(shared)
        if len({listings[t].spelled[key] for t in TOOLS if key in sets[t]}) > 1
    ]
    return {
        "counts": {tool: len(sets[tool]) for tool in TOOLS},
        "regions": {region: len(keys) for region, keys in regions.items()},
        "packages": {region: keys for region, keys in regions.items() if keys and region != "all"},
        "attributes": compare_attributes(shared, listings),
        "spelling_differs": spelled,
    }


def directory_mode_delta(image: Listing, directory: Listing) -> dict[str, list[str]]:
    """What Syft's default directory cataloguers list beyond (or instead of) its image cataloguers."""
    added = sorted(str(k) for k in set(directory.attributes) - set(image.attributes))
    dropped = sorted(str(k) for k in set(image.attributes) - set(directory.attributes))
    return {"added": added, "dropped": dropped}


@dataclass
class Tools:
    """How to run the two tools: binaries, where their output goes, the offline environment."""

    syft: str
    trivy: str
    out: Path
    cache: Path
    env: dict[str, str]
    seconds: dict[str, float] = field(default_factory=dict)

    def _json(self, tool: str, command: list[str], output: Path) -> Any:
        start = time.monotonic()
        document = run_json(command, self.env, output)
        self.seconds[tool] = round(time.monotonic() - start, 2)
        return document

    def run_syft(self, tree: Tree, cataloguers: str) -> Listing:
        """Syft with its ``image`` or ``directory`` cataloguer set."""
        command = [self.syft, "scan", f"dir:{tree.root}", "-o", "json", "-q"]
        command += ["--override-default-catalogers", cataloguers]
        suffix = "syft" if cataloguers == "image" else f"syft-{cataloguers}"
        return syft_listing(self._json(suffix, command, self.out / f"{tree.name}.{suffix}.json"))

    def run_trivy(self, tree: Tree) -> Listing:
        command = [self.trivy, "rootfs", "--cache-dir", str(self.cache), *TRIVY_OFFLINE]
        command += ["--format", "cyclonedx", str(tree.root)]
        return trivy_listing(self._json("trivy", command, self.out / f"{tree.name}.trivy.json"))

    def run_dockyard(self, tree: Tree) -> Listing:
        start = time.monotonic()
        listing = dockyard_listing(tree.root)
        self.seconds["dockyard"] = round(time.monotonic() - start, 2)
        return listing


def scan_tree(tree: Tree, tools: Tools) -> dict[str, Any]:
    tools.seconds = {}
    listings = {
        "dockyard": tools.run_dockyard(tree),
        "syft": tools.run_syft(tree, "image"),
        "trivy": tools.run_trivy(tree),
    }
    syft_directory = tools.run_syft(tree, "directory")
    ecosystems = sorted({key.type for listing in listings.values() for key in listing.attributes})
    return {
        "name": tree.name,
        "root": str(tree.root),
        "origin": tree.origin,
        "written": tree.written,
        "os": {tool: listing.os for tool, listing in listings.items()},
        "entries": {tool: listing.entries for tool, listing in listings.items()},
        "no_purl": {tool: listing.no_purl for tool, listing in listings.items() if listing.no_purl},
        "seconds": tools.seconds,
        "ecosystems": {ecosystem: compare_ecosystem(ecosystem, listings) for ecosystem in ecosystems},
        "syft_directory_mode": directory_mode_delta(listings["syft"], syft_directory),
    }


def tool_version(command: list[str], env: dict[str, str]) -> str:
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    match = re.search(r"Version:\s*(\S+)", result.stdout)
    return match.group(1) if match else result.stdout.strip()


HEADER = ("ecosystem", *TOOLS, "all 3", "D+S", "D+T", "S+T", "only D", "only S", "only T")


def attribute_lines(ecosystem: str, attributes: dict[str, Any]) -> Iterator[str]:
    """One line per attribute where some pair of tools does not simply agree."""
    for name, pairs in attributes.items():
        parts = []
        for pair, stats in pairs.items():
            counts = {k: v for k, v in stats.items() if k != "examples" and v}
            if set(counts) - {"same"}:
                parts.append(f"{pair} " + " ".join(f"{k}={v}" for k, v in counts.items()))
        if parts:
            yield f"  {ecosystem} {name}: " + "; ".join(parts)


def print_table(result: dict[str, Any]) -> None:
    os_names = ", ".join(f"{tool}: {name or '-'}" for tool, name in result["os"].items())
    print(f"\n## {result['name']}  ({os_names})")
    print("| " + " | ".join(HEADER) + " |")
    print("|" + "---|" * len(HEADER))
    for ecosystem, data in result["ecosystems"].items():
        counts = [str(data["counts"][t]) for t in TOOLS] + [str(data["regions"][r]) for r in REGIONS]
        print("| " + " | ".join([ecosystem, *counts]) + " |")
    for ecosystem, data in result["ecosystems"].items():
        for line in attribute_lines(ecosystem, data["attributes"]):
            print(line)
        if data["spelling_differs"]:
            print(f"  {ecosystem} spelled differently: {len(data['spelling_differs'])}")
    for tool, missing in result["no_purl"].items():
        print(f"  {tool}: {len(missing)} packages without a purl (e.g. {', '.join(missing[:3])})")
    delta = result["syft_directory_mode"]
    if delta["added"] or delta["dropped"]:
        print(f"  syft directory mode: +{len(delta['added'])} -{len(delta['dropped'])} vs image mode")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.scan_crosscheck", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--syft", required=True, help="the syft binary")
    parser.add_argument("--trivy", required=True, help="the trivy binary")
    parser.add_argument("--scratch", type=Path, default=Path("build/crosscheck"))
    parser.add_argument("--only", help=f"comma-separated trees (of {', '.join(tree_names())})")
    parser.add_argument(
        "--extra",
        action="append",
        default=[],
        metavar="NAME=DIR",
        help="also compare an existing root filesystem (used as is, not copied)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    scratch: Path = args.scratch.resolve()
    only = set(args.only.split(",")) if args.only else None
    trees = build_trees(scratch, only)
    for extra in args.extra:
        name, _, root = extra.partition("=")
        if only is None or name in only:
            trees.append(Tree(name, Path(root).resolve(), f"existing root filesystem {root}"))
    (scratch / "out").mkdir(parents=True, exist_ok=True)
    empty_java_index(scratch / "trivy-cache")
    with refusing_proxy() as (proxy, requests):
        env = offline_env(proxy)
        tools = Tools(args.syft, args.trivy, scratch / "out", scratch / "trivy-cache", env)
        versions = {
            "syft": tool_version([args.syft, "version"], env),
            "trivy": tool_version([args.trivy, "--version"], env),
        }
        results = [scan_tree(tree, tools) for tree in trees]
    report = {
        "generated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "versions": versions,
        "network": {"proxy": proxy, "requests_seen": requests},
        "trees": results,
    }
    (scratch / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    print(
        f"syft {versions['syft']}, trivy {versions['trivy']}; requests to the refusing proxy: {len(requests)}"
    )
    for result in results:
        print_table(result)
    print(f"\nfull report: {scratch / 'report.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
