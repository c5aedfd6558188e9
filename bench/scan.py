"""Image scanning: one realistic image end to end, and re-evaluating 10,000 stored inventories
(``docs/scan-bench.md``; targets from the issue: a scan under 5 s).

    .venv/bin/python -m bench.scan [--runs 5] [--images 10000] [--only image,reevaluate]
                                   [--databases sqlite,postgresql] [--work DIR] [--json PATH]

``image``: a two-layer Debian 12 image built from this machine (:func:`bench.scan_data.build_image`: its
dpkg status with ~800 packages, copyright files and 150 MB of real ELF files in layer 1; the virtualenv's
site-packages, 140 distributions with their ``.py`` files, and a Go program in layer 2). Timed: (a)
``LayerInventoryBuilder`` alone on the layer files, in this process; (b) the whole scan through
``ScanRunner`` on a fresh SQLite data directory (blobs pushed through the registry service, the scan
requested, claimed and run with the pool of scanner processes the server uses, matched against the PyPA
and Go advisories of ``shared/fixtures`` and generated Debian 12 advisories, one per ten source packages,
then stored). A first scan starts the process pool and is reported apart; the figure is the median of
``--runs``.

``reevaluate``: ``--images`` inventories (20 bases varied a little each, :func:`bench.scan_data.inventories`)
stored through ``ScanInventoryStore.complete``; then an import of changed and new advisories, and timed
``VulnMatcher.reevaluate()`` and ``ScanInventoryStore.severity_counts`` of every image. On SQLite, and with
``--databases sqlite,postgresql`` on PostgreSQL too (``--postgres``, default
``postgresql://postgres@127.0.0.1:5432``; a database ``dockyard_bench_scan`` is created and dropped; storing
10,000 inventories there takes about four minutes on two cores).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy import insert, update
from sqlalchemy.ext.asyncio import AsyncEngine

from bench import scan_data
from bench.scan_rootfs import FIXTURES, REPO
from dockyard.app import build_services, ecr_api, migrate
from dockyard.background import scan_runner
from dockyard.clock import SystemClock
from dockyard.config import Settings
from dockyard.domain.digest import Digest
from dockyard.domain.scanning.inventory import Inventory, LayerBlob
from dockyard.domain.vulns.ecosystems import MatchQuery, query_for
from dockyard.metadata.engine import create_engine, database_url
from dockyard.metadata.migrate import upgrade
from dockyard.metadata.scan_inventory import ScanInventoryStore, ScanResult, StoredPackage, Vuln
from dockyard.metadata.scan_store import ScanStore
from dockyard.metadata.scan_tables import image_scans
from dockyard.metadata.signal import LocalChangeSignal
from dockyard.metadata.tables import manifests, repositories
from dockyard.metadata.units import units_for
from dockyard.metadata.vulndb_store import VulnDbStore
from dockyard.scanner.builder import LayerInventoryBuilder
from dockyard.services.vuln_matching import VulnMatcher
from dockyard.services.vulndb import VulnDb

ACCOUNT, REPOSITORY = "123456789012", "bench/debian"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
PYPA = FIXTURES / "pypa-advisory-database" / "vulns"
GO_VULNDB = FIXTURES / "golang-vulndb" / "osv"
USN = FIXTURES / "ubuntu-security-notices" / "osv"
OWNER = "bench"
PER_REPOSITORY = 100
STEPS = {  # what runs after each of ScanRunner's progress calls
    "start": "manifest, scratch directory",
    "fetching layers": "layers as local files",
    "reading layers": "inventory (in the scanner process)",
    "matching": "matching, storing the inventory",
}
Row = dict[str, Any]


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def counts(inventory: Inventory) -> dict[str, int]:
    return dict(sorted(Counter(p.type for p in inventory.packages).items()))


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else 0.0


# -- part 1: one image ------------------------------------------------------------------------------------


def builder_runs(
    layers: list[LayerBlob], runs: int, scratch: Path
) -> tuple[list[float], list[float], Inventory]:
    """(a): ``LayerInventoryBuilder`` on the layer files, in this process: wall and CPU seconds."""
    builder, times, cpu = LayerInventoryBuilder(), [], []
    inventory = Inventory(None)
    for _ in range(runs):
        with tempfile.TemporaryDirectory(dir=scratch) as work:
            started, started_cpu = time.perf_counter(), time.process_time()
            inventory = builder(layers, Path(work))
            times.append(time.perf_counter() - started)
            cpu.append(time.process_time() - started_cpu)
    return times, cpu, inventory


async def import_all(database: VulnDb, paths: Sequence[Path]) -> dict[str, Any]:
    started, imported = time.perf_counter(), 0
    for path in paths:
        report = await database.import_path(path)
        imported += report.imported + report.updated
    state = await database.state()
    return {"advisories": imported, "seconds": time.perf_counter() - started, "generation": state.generation}


async def _chunks(path: Path) -> AsyncIterator[bytes]:
    with path.open("rb") as handle:
        while chunk := await asyncio.to_thread(handle.read, 4 * 2**20):
            yield chunk


async def push(services: Any, layers: list[scan_data.Layer], scratch: Path) -> str:
    """The image through the registry service as a client's push lands: blobs, then the manifest."""
    registry = services.registry
    await registry.create_repository(ACCOUNT, REPOSITORY)
    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers"}}).encode()
    config_path = scratch / "config.json"
    config_path.write_bytes(config)
    for path, digest in [(config_path, str(Digest.of(config))), *((la.path, la.digest) for la in layers)]:
        await registry.upload_blob(ACCOUNT, REPOSITORY, Digest.parse(digest), _chunks(path))
    descriptors = [
        {"mediaType": scan_data.LAYER_MEDIA_TYPE, "digest": la.digest, "size": la.path.stat().st_size}
        for la in layers
    ]
    body = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": str(Digest.of(config)), "size": len(config)},
            "layers": descriptors,
        }
    ).encode()
    pushed = await services.manifests.put(ACCOUNT, REPOSITORY, "bookworm", body, OCI_MANIFEST)
    return str(pushed.digest)


class Steps:
    """Times between the runner's progress calls: fetching, reading layers (the builder), matching."""

    def __init__(self) -> None:
        self.marks: list[tuple[str, float]] = [("start", time.perf_counter())]

    def __call__(self, step: str, done: int, total: int) -> None:
        if step != self.marks[-1][0]:
            self.marks.append((step, time.perf_counter()))

    def split(self, end: float) -> dict[str, float]:
        marks = [*self.marks, ("end", end)]
        return {a[0]: b[1] - a[1] for a, b in itertools.pairwise(marks)}


async def runner_runs(settings: Settings, layers: list[scan_data.Layer], runs: int) -> dict[str, Any]:
    """(b): push, then ``runs`` + 1 scans through ``ScanRunner`` (the first starts the scanner pool)."""
    await migrate(settings)
    services = build_services(settings, SystemClock())
    ecr = ecr_api(settings, services)
    runner = scan_runner(settings, services, ecr)
    try:
        database = await import_all(services.vulnerabilities, _advisory_paths(settings.data_dir))
        digest = await push(services, layers, settings.data_dir)
        repository = await services.registry.repository(ACCOUNT, REPOSITORY)
        manifest_id = await ecr.scanning.store.manifest_id(repository.id, digest)
        assert manifest_id is not None
        times, splits = [], []
        for _ in range(runs + 1):
            steps = Steps()
            clock = services.clock
            await ecr.scanning.store.request([manifest_id], clock.now())
            claimed = await ecr.scanning.store.claim_one(
                manifest_id, OWNER, clock.now(), clock.now() + timedelta(minutes=10)
            )
            assert claimed is not None
            outcome = await runner.run(claimed, OWNER, steps)
            end = time.perf_counter()
            assert outcome == "COMPLETE", outcome
            times.append(end - steps.marks[0][1])
            splits.append(steps.split(end))
        findings = (await ecr.scanning.inventories.severity_counts([manifest_id]))[manifest_id]
    finally:
        runner.close()
        await services.close()
    steps_median = {step: median([s.get(step, 0.0) for s in splits[1:]]) for step in splits[-1]}
    return {
        "database": database,
        "first_scan_seconds": times[0],
        "scan_seconds": times[1:],
        "median_seconds": median(times[1:]),
        "steps_median_seconds": steps_median,
        "findings_by_severity": findings,
    }


def _advisory_paths(data_dir: Path) -> list[Path]:
    return [PYPA, GO_VULNDB, data_dir / "advisories-debian"]


def image_part(args: argparse.Namespace, scratch: Path) -> dict[str, Any]:
    work = Path(args.work) if args.work else scratch / "image"
    started = time.perf_counter()
    layers = scan_data.build_image(work, args.binary_budget * 10**6)
    print(f"image built in {time.perf_counter() - started:.1f} s (load {load()})")
    blobs = [LayerBlob(la.path, la.digest, scan_data.LAYER_MEDIA_TYPE) for la in layers]
    before = load()
    times, cpu, inventory = builder_runs(blobs, args.runs if "image" in args.only else 1, scratch)
    if "image" not in args.only:  # the re-evaluation alone needs only the image's inventory
        return {"result": {"packages": counts(inventory)}, "inventory": inventory}
    data_dir = scratch / "data"
    data_dir.mkdir()
    debian = scan_data.queries_of([inventory], ["deb"])
    generated = scan_data.generated_advisories(
        data_dir / "advisories-debian", "BENCH-DEBIAN", debian, 10, scan_data.now()
    )
    settings = Settings(data_dir=data_dir, access_log=False, scan_concurrency=1)
    scan = asyncio.run(runner_runs(settings, layers, args.runs))
    result = {
        "layers": [
            {"files": la.files, "members": la.members, "bytes": la.size, "gzip_bytes": la.path.stat().st_size}
            for la in layers
        ],
        "packages": counts(inventory),
        "os": inventory.os.pretty_name if inventory.os else None,
        "builder_seconds": times,
        "builder_median_seconds": median(times),
        "builder_cpu_seconds": cpu,
        "builder_median_cpu_seconds": median(cpu),
        "debian_advisories_generated": generated,
        "runner": scan,
        "load_before": before,
        "load_after": load(),
    }
    _print_image(result)
    return {"result": result, "inventory": inventory}


def _print_image(result: dict[str, Any]) -> None:
    for n, layer in enumerate(result["layers"], start=1):
        print(
            f"layer {n}: {layer['files']:,} files, {layer['bytes'] / 1e6:.0f} MB "
            f"({layer['gzip_bytes'] / 1e6:.0f} MB gzip), {layer['members']:,} tar members"
        )
    print(f"inventory: {result['os']}, {result['packages']}")
    runner = result["runner"]
    print(f"{'step':<44} {'median s':>9}  runs")
    print(f"{'(a) LayerInventoryBuilder alone':<44} {result['builder_median_seconds']:>9.2f}  ", end="")
    print(" ".join(f"{t:.2f}" for t in result["builder_seconds"]))
    print(f"{'    CPU seconds of that process':<44} {result['builder_median_cpu_seconds']:>9.2f}  ", end="")
    print(" ".join(f"{t:.2f}" for t in result["builder_cpu_seconds"]))
    print(f"{'(b) ScanRunner.run, whole scan':<44} {runner['median_seconds']:>9.2f}  ", end="")
    print(" ".join(f"{t:.2f}" for t in runner["scan_seconds"]))
    for step, seconds in runner["steps_median_seconds"].items():
        print(f"{'    ' + STEPS.get(step, step):<44} {seconds:>9.2f}")
    print(f"{'first scan (starts the scanner process)':<44} {runner['first_scan_seconds']:>9.2f}")
    database = runner["database"]
    print(f"database: {database['advisories']:,} advisories imported in {database['seconds']:.1f} s")
    loads = f"load {result['load_before']} -> {result['load_after']}"
    print(f"findings: {runner['findings_by_severity']}  ({loads})")


# -- part 2: re-evaluation --------------------------------------------------------------------------------


async def _scans(engine: AsyncEngine, scans: ScanStore, count: int) -> list[int]:
    """``count`` manifests in repositories of ``PER_REPOSITORY``, their scans requested and held by
    ``OWNER`` (one ``UPDATE`` doing what ``ScanStore.claim`` does per row)."""
    clock = SystemClock()
    now = clock.now()
    repos = [
        {"id": r + 1, "account_id": ACCOUNT, "name": f"bench/r{r}", "created_at": now}
        for r in range((count + PER_REPOSITORY - 1) // PER_REPOSITORY)
    ]
    rows = [
        {
            "id": n + 1,
            "repository_id": n // PER_REPOSITORY + 1,
            "digest": f"sha256:{n:064x}",
            "media_type": OCI_MANIFEST,
            "size": 2,
            "content": b"{}",
            "created_at": now,
        }
        for n in range(count)
    ]

    def write(conn: Any) -> None:
        conn.execute(insert(repositories), repos)
        for start in range(0, count, 5000):
            conn.execute(insert(manifests), rows[start : start + 5000])

    await units_for(engine).write(write)
    ids = list(range(1, count + 1))
    await scans.request(ids, now)
    held = update(image_scans).values(lease_owner=OWNER, lease_until=now + timedelta(days=1), started_at=now)
    await units_for(engine).write(lambda conn: conn.execute(held))
    return ids


def _stored(inventory: Inventory, vulns: dict[MatchQuery, tuple[Vuln, ...]]) -> list[StoredPackage]:
    queried = [(p, query_for(p, inventory.os)) for p in inventory.packages]
    return [StoredPackage(p, q, () if q is None else vulns.get(q, ())) for p, q in queried]


async def _store_all(
    inventories: ScanInventoryStore, matcher: VulnMatcher, ids: list[int], images: list[Inventory]
) -> dict[str, Any]:
    """Each image as a scan stores it (matched at the current generation); only ``complete`` is timed
    (the images' distinct queries are matched once beforehand, as each scan would have)."""
    generation = (await matcher.database.state()).generation
    queries = set(scan_data.queries_of(images))
    started = time.perf_counter()
    vulns = await matcher.vulns(queries)
    matched, stored = time.perf_counter() - started, 0.0
    for manifest_id, inventory in zip(ids, images, strict=True):
        packages = _stored(inventory, vulns)
        started = time.perf_counter()
        done = await inventories.complete(ScanResult(manifest_id, inventory), OWNER, packages, generation)
        stored += time.perf_counter() - started
        assert done
    return {"distinct_queries": len(queries), "match_distinct_seconds": matched, "store_seconds": stored}


async def reevaluate_on(url: str, images: list[Inventory], change: Path, scratch: Path) -> dict[str, Any]:
    engine = create_engine(url)
    clock = SystemClock()
    try:
        await upgrade(engine)
        database = VulnDb(VulnDbStore(engine, clock), clock)
        inventories = ScanInventoryStore(engine, clock)
        matcher = VulnMatcher(database, inventories)
        first = await import_all(database, [PYPA, GO_VULNDB, USN, scratch / "advisories-initial"])
        ids = await _scans(engine, ScanStore(engine, clock, LocalChangeSignal()), len(images))
        stored = await _store_all(inventories, matcher, ids, images)
        if engine.dialect.name == "postgresql":  # freshly loaded tables: statistics, as autovacuum keeps
            async with engine.begin() as conn:
                await conn.exec_driver_sql("ANALYZE")
        changed = await import_all(database, [change])
        started = time.perf_counter()
        outcome = await matcher.reevaluate()
        reevaluated = time.perf_counter() - started
        started = time.perf_counter()
        severities = await inventories.severity_counts(ids)
        counted = time.perf_counter() - started
    finally:
        await engine.dispose()
    totals: Counter[str] = Counter()
    for found in severities.values():
        totals.update(found)
    return {
        "initial_database": first,
        "change": changed,
        **stored,
        "distinct_packages": outcome.packages,
        "matches": outcome.matches,
        "reevaluate_seconds": reevaluated,
        "counts_seconds": counted,
        "findings_by_severity": dict(totals),
        "images_with_findings": sum(1 for found in severities.values() if found),
    }


async def with_postgres(server: str, run: Callable[[str], Any]) -> Any:
    name = "dockyard_bench_scan"
    admin = await asyncpg.connect(f"{server}/postgres")
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            return await run(database_url(f"{server}/{name}", Path(".")))
        finally:
            await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    finally:
        await admin.close()


def advisories(scratch: Path, bases: list[tuple[str, Inventory]]) -> Path:
    """The initial OS advisories (one per ten source packages of each OS ecosystem) and the change:
    100 real PyPA advisories edited upstream, and new advisories for another tenth of the OS packages."""
    os_queries = list(scan_data.queries_of([b for _, b in bases], ["deb", "apk", "rpm"]))
    stamp = scan_data.now()
    scan_data.generated_advisories(scratch / "advisories-initial", "BENCH-OS", os_queries, 10, stamp)
    change = scratch / "advisories-change"
    later = stamp + timedelta(hours=1)
    scan_data.modified_copies(PYPA, change, 100, later)
    scan_data.generated_advisories(change, "BENCH-OS-NEW", os_queries, 10, later, seed=2, offset=5)
    return change


def reevaluate_part(args: argparse.Namespace, scratch: Path, image: Inventory) -> dict[str, Any]:
    started = time.perf_counter()
    bases = scan_data.base_inventories(scratch / "trees", image)
    images = scan_data.inventories(bases, args.images)
    change = advisories(scratch, bases)
    sizes = [len(i.packages) for i in images]
    print(
        f"{len(images):,} inventories from {len(bases)} bases, {statistics.mean(sizes):.0f} packages each "
        f"on average ({sum(sizes):,} in all); made in {time.perf_counter() - started:.1f} s"
    )
    print(f"{'database':<11} {'store s':>8} {'distinct':>9} {'re-eval s':>10} {'counts s':>9}  load")
    results: dict[str, Any] = {
        "images": len(images),
        "bases": {name: len(base.packages) for name, base in bases},
        "packages": sum(sizes),
    }
    for name in args.databases.split(","):
        before = load()

        def run(url: str) -> Any:
            return reevaluate_on(url, images, change, scratch)

        if name == "sqlite":
            directory = tempfile.mkdtemp(prefix="sqlite-", dir=scratch)
            found = asyncio.run(run(database_url(None, Path(directory))))
        else:
            found = asyncio.run(with_postgres(args.postgres, run))
        found["load_before"], found["load_after"] = before, load()
        results[name] = found
        print(
            f"{name:<11} {found['store_seconds']:>8.1f} {found['distinct_packages']:>9,} "
            f"{found['reevaluate_seconds']:>10.2f} {found['counts_seconds']:>9.2f}  {before} -> {load()}"
        )
    return results


# -- main -------------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--only", default="image,reevaluate")
    parser.add_argument("--databases", default="sqlite", help="sqlite,postgresql for both")
    parser.add_argument(
        "--postgres", default=os.environ.get("TEST_POSTGRES_SERVER", "postgresql://postgres@127.0.0.1:5432")
    )
    parser.add_argument("--binary-budget", type=int, default=150, help="MB of ELF files in layer 1")
    parser.add_argument("--work", help="where to build the layers (kept; reused by a later run)")
    parser.add_argument("--json", help="result file (default bench/results/scan-<time>.json)")
    args = parser.parse_args()
    parts = set(args.only.split(","))
    print(f"load average at start: {load()} ({os.cpu_count()} CPUs)")
    result: dict[str, Any] = {"cpus": os.cpu_count(), "load_start": load()}
    with tempfile.TemporaryDirectory(prefix="dockyard-scan-bench-") as directory:
        scratch = Path(directory)
        image = image_part(args, scratch)
        result["image"] = image["result"]
        if "reevaluate" in parts:
            result["reevaluate"] = reevaluate_part(args, scratch, image["inventory"])
    result["load_end"] = load()
    out = (
        Path(args.json)
        if args.json
        else REPO / "bench" / "results" / f"scan-{time.strftime('%Y%m%d-%H%M%S')}.json"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, default=str))
    print(f"results: {out}")


if __name__ == "__main__":
    main()
