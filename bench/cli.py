"""``python -m bench``: fresh Distribution and Dockyard side by side, every scenario against both."""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import platform
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Coroutine
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

from bench import loadgen, report, s3pg
from bench.http import TRAFFIC
from bench.model import MIB, QUICK, Measurement, Payloads, Sizes, Target
from bench.scenarios import SCENARIOS
from bench.servers import Server, start_distribution, start_dockyard, stop, wait_ready

SCENARIO_TIMEOUT = 1800.0
LOADGEN_SCENARIOS = {"manifest-get", "tags-list", "catalog"}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes for a smoke run")
    parser.add_argument(
        "--only",
        metavar="SCENARIO[,SCENARIO]",
        help=f"run only these scenarios: {', '.join(SCENARIOS)}",
    )
    parser.add_argument(
        "--dockyard-args",
        default="",
        help='extra `dockyard serve` flags, e.g. "--server uvicorn --workers 2"',
    )
    parser.add_argument(
        "--inline-verify",
        action="store_true",
        help="hash pulled blobs while the clock runs (like a real client) instead of right after",
    )
    parser.add_argument(
        "--keep-data", action="store_true", help="keep the temporary data directories and logs"
    )
    parser.add_argument(
        "--first",
        choices=("distribution", "dockyard"),
        default="distribution",
        help="which registry runs the first scenario first; the order alternates from one scenario to "
        "the next (the second runs against a storage server holding the first's data as well)",
    )
    parser.add_argument(
        "--storage",
        choices=("filesystem", "s3pg"),
        default="filesystem",
        help="filesystem: both on local disk (Dockyard on SQLite); s3pg: both on S3 (moto on loopback, "
        "blob GETs redirected to presigned URLs), Dockyard's metadata in a fresh PostgreSQL database",
    )
    args = parser.parse_args(argv)
    names = [n.strip() for n in (args.only or ",".join(SCENARIOS)).split(",") if n.strip()]
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario(s) {', '.join(unknown)}; choose from {', '.join(SCENARIOS)}")
    args.scenarios = names
    return args


def _sigterm(_signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(143)


def _run(coro: Coroutine[Any, Any, None]) -> None:
    try:
        import uvloop
    except ImportError:
        asyncio.run(coro)
        return
    uvloop.run(coro)


def _per_request(name: str, cpu: dict[str, float]) -> Measurement:
    """The scenario's server CPU (plus its database backends' CPU, if any) per request it answered."""
    requests = cpu["requests"]
    total = cpu["server"] + cpu.get("database", 0.0)
    detail = {"requests": requests, "server_ms_per_req": 1000 * cpu["server"] / requests}
    if "database" in cpu:
        detail["db_ms_per_req"] = 1000 * cpu["database"] / requests
    if cpu["mib"] >= 1:
        detail["server_ms_per_mib"] = 1000 * cpu["server"] / cpu["mib"]
    label = f"{name}: server CPU per request (whole scenario)"
    return Measurement(f"cpu.{name}", label, "ms/req", False, 1000 * total / requests, detail)


def in_turn(targets: list[Target], index: int, first: str) -> list[Target]:
    """The order the registries run scenario ``index`` in: ``first`` first in even-numbered scenarios (on
    the shared S3 emulator the one going second pulled more slowly; bench/README.md, "Order")."""
    ordered = sorted(targets, key=lambda target: target.server.name != first)
    return ordered if index % 2 == 0 else ordered[::-1]


async def run_scenarios(
    servers: list[Server],
    names: list[str],
    sizes: Sizes,
    workdir: Path,
    dbs: dict[str, s3pg.Database],
    first: str = "distribution",
) -> report.Table:
    table, payloads = report.Table(), Payloads(sizes)
    targets = [Target(server, workdir, dbs.get(server.name)) for server in servers]
    for index, name in enumerate(names):
        for target in in_turn(targets, index, first):
            if target.server.process.poll() is not None:
                message = (
                    f"server exited with {target.server.process.returncode}, see {target.server.log_path}"
                )
                table.fail(target.server.name, name, message)
                continue
            started, client_cpu = time.perf_counter(), time.process_time()
            server_cpu, db_cpu = target.server.cpu.seconds(), await target.db_cpu()
            traffic = TRAFFIC(target.server.port)
            requests, body_bytes = traffic.requests, traffic.body_bytes
            print(f"[{name}] {target.server.name} ...", file=sys.stderr, flush=True)
            try:
                async with asyncio.timeout(SCENARIO_TIMEOUT):
                    measurements = await SCENARIOS[name](target, payloads)
            except Exception as exc:
                traceback.print_exc()
                table.fail(target.server.name, name, " ".join(f"{type(exc).__name__}: {exc}".split())[:300])
                continue
            cpu = {
                "server": target.server.cpu.seconds() - server_cpu,
                "client": time.process_time() - client_cpu,
                "wall": time.perf_counter() - started,
                "requests": traffic.requests - requests,
                "mib": (traffic.body_bytes - body_bytes) / MIB,
            }
            if target.db is not None:
                cpu["database"] = s3pg.cpu_since(db_cpu, await target.db_cpu())
            table.cpu.setdefault(name, {})[target.server.name] = cpu
            per_request = [_per_request(name, cpu)] if cpu["requests"] else []
            for measurement in [*measurements, *per_request]:
                table.add(target.server.name, measurement)
            print(
                f"[{name}] {target.server.name} done in {time.perf_counter() - started:.1f} s",
                file=sys.stderr,
            )
    for target in targets:
        target.pool.close()
    return table


def _git_commit() -> str:
    root = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "src"], cwd=root, capture_output=True, text=True
        )
    except OSError:
        return "unknown"
    if not dirty.stdout.strip():
        return head.stdout.strip()
    diff = subprocess.run(["git", "diff", "HEAD", "--", "src"], cwd=root, capture_output=True)
    untracked = subprocess.run(
        ["git", "ls-files", "--others", "--exclude-standard", "src"], cwd=root, capture_output=True
    )
    fingerprint = hashlib.sha1(diff.stdout + untracked.stdout).hexdigest()[:10]
    return f"{head.stdout.strip()} + uncommitted src changes (diff {fingerprint})"


def _busy_seconds() -> float:
    """CPU seconds all processes have spent busy since boot (from /proc/stat)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def _own_seconds() -> float:
    """CPU seconds of this process and its waited-for children (the servers, wrk)."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def _loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def _stem(quick: bool, dockyard_args: str, storage: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", dockyard_args.lower()).strip("-")
    when = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    mode = "" if storage == "filesystem" else f"-{storage}"
    return when + mode + ("-quick" if quick else "") + (f"-{slug}" if slug else "")


def _save_logs(servers: list[Server], stem: str) -> None:
    """Keep the servers' logs next to the results when something failed."""
    report.RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    for server in servers:
        target = report.RESULTS_DIR / f"{stem}-{server.name}.log"
        shutil.copyfile(server.log_path, target)
        print(f"{server.name} log saved to {target}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    missing = loadgen.missing_tools()
    if LOADGEN_SCENARIOS & set(args.scenarios) and missing:
        print(f"missing {missing}: scripts/install-debian-packages.sh wrk", file=sys.stderr)
        return 2
    sizes = replace(QUICK if args.quick else Sizes(), inline_verify=args.inline_verify)
    if args.storage == "s3pg":  # Distribution on S3 takes over a second for a catalog page: longer windows
        sizes = replace(sizes, wrk_seconds=max(sizes.wrk_seconds, 3))
    signal.signal(signal.SIGTERM, _sigterm)
    stem = _stem(args.quick, args.dockyard_args, args.storage)
    workdir = Path(tempfile.mkdtemp(prefix="dockyard-bench-"))
    servers: list[Server] = []
    helpers: list[Server] = []  # moto in s3pg mode: stopped last, not measured
    database: str | None = None
    dbs: dict[str, s3pg.Database] = {}
    holder: list[report.Table] = []
    started, load_before = time.perf_counter(), _loadavg()
    busy_before, own_before = _busy_seconds(), _own_seconds()
    try:
        if args.storage == "s3pg":
            helpers.append(s3pg.start_moto(workdir))
            distribution_bucket, dockyard_bucket = s3pg.make_buckets(helpers[0], ["distribution", "dockyard"])
            database = s3pg.create_database()
            dbs["dockyard"] = s3pg.Database(database)
            servers.append(start_distribution(workdir, distribution_bucket))
            env = s3pg.dockyard_env(database, dockyard_bucket)
            label = "PostgreSQL + S3, redirects"
            servers.append(start_dockyard(workdir, shlex.split(args.dockyard_args), env, label))
        else:
            servers.append(start_distribution(workdir))
            servers.append(start_dockyard(workdir, shlex.split(args.dockyard_args)))
        for server in servers:
            wait_ready(server)

        async def go() -> None:
            holder.append(await run_scenarios(servers, args.scenarios, sizes, workdir, dbs, args.first))

        _run(go())
        table = holder[0]
    finally:
        for server in servers + helpers:
            stop(server)
        if database is not None:
            s3pg.drop_database(database)
        if not holder or any(row.errors for row in holder[0].rows.values()):
            _save_logs(servers, stem)
        if args.keep_data:
            print(f"data and logs kept in {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    other_cpu = (_busy_seconds() - busy_before) - (_own_seconds() - own_before)
    labels = {server.name: server.label for server in servers}
    meta = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "mode": "quick" if args.quick else "full",
        "scenarios": ", ".join(args.scenarios),
        "order": f"{args.first} first in the first scenario, alternating",
        "pull digests checked": "while streaming" if args.inline_verify else "after the clock stops",
        "storage": "S3 (moto on loopback, blob GETs 307 to presigned URLs) + PostgreSQL (Dockyard)"
        if args.storage == "s3pg"
        else "local filesystem (Dockyard: SQLite)",
        "dockyard args": args.dockyard_args or "(defaults: granian, 1 worker)",
        "dockyard command": " ".join(
            Path(part).name if part.startswith("/") else part for part in servers[-1].command
        )
        if len(servers) > 1
        else "not started",
        "commit": _git_commit(),
        "machine": f"{os.cpu_count()} CPUs, {platform.machine()}, Python {platform.python_version()}",
        "load average before/after": f"{load_before} / {_loadavg()}",
        "server CPU measured from": servers[0].cpu.source if servers else "n/a",
        "run seconds": round(time.perf_counter() - started, 1),
        "CPU seconds used by other processes during the run": round(max(other_cpu, 0.0), 1),
    }
    print(report.text_table(table, labels))
    print("\n" + report.cpu_text(table, labels))
    md_path, json_path = report.save(table, labels, meta, stem)
    print(f"\nwritten: {md_path} and {json_path} ({meta['run seconds']} s)")
    return 1 if any(row.errors for row in table.rows.values()) else 0
