"""``dockyard gc [--dry-run] [--json]``: garbage collection on demand (``docs/gc.md``), beside the scheduled
job and safe while every replica serves. Registered on the main app by :mod:`dockyard.cli`."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, DownloadColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from dockyard.app import build_services, migrate
from dockyard.cli_options import ConfigOption, DataDirOption, JsonOption, console, err_console
from dockyard.config import load_settings
from dockyard.domain.gc import GcPlan, GcResult

SHOWN = 20  # rows of each kind the table shows (``--json`` lists all)


def gc_command(
    config: ConfigOption = None,
    data_dir: DataDirOption = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Report what would go; delete nothing.")] = False,
    json_out: JsonOption = False,
) -> None:
    """Reclaim blobs and blob links nothing references, past their grace (gc_grace_seconds)."""
    try:
        settings = load_settings(config, data_dir=data_dir)
    except (FileNotFoundError, ValueError) as exc:
        raise typer.BadParameter(str(exc)) from None
    outcome = asyncio.run(_run(settings, dry_run, show_progress=not json_out))
    if isinstance(outcome, GcPlan):
        _print_plan(outcome, json_out)
    else:
        _print_result(outcome, json_out)


async def _run(settings: Any, dry_run: bool, *, show_progress: bool) -> GcPlan | GcResult:
    await migrate(settings)
    services = build_services(settings)
    try:
        plan = await services.gc.plan()
        if dry_run:
            return plan
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), DownloadColumn())
        with Progress(*columns, console=err_console, disable=not show_progress) as bar:
            task = bar.add_task("blobs", total=len(plan.blobs))
            return await services.gc.collect(lambda blobs, _size: bar.advance(task, blobs))
    finally:
        await services.close()


def _print_plan(plan: GcPlan, json_out: bool) -> None:
    if json_out:
        document = {
            "dry_run": True,
            "blobs": [{"digest": d, "size": s} for d, s in plan.blobs],
            "bytes": plan.bytes,
            "links": [{"repository": r, "digest": d} for r, d in plan.links],
            "waiting_blobs": plan.waiting_blobs,
            "waiting_bytes": plan.waiting_bytes,
        }
        typer.echo(json.dumps(document, indent=2))
        return
    table = Table("would delete", "digest", "size")
    for digest, size in plan.blobs[:SHOWN]:
        table.add_row("blob", digest, human_bytes(size))
    for repository, digest in plan.links[:SHOWN]:
        table.add_row(f"link in {repository}", digest, "")
    console.print(table)
    console.print(
        f"{len(plan.blobs)} blobs ({human_bytes(plan.bytes)}) and {len(plan.links)} unused links would go; "
        f"{plan.waiting_blobs} unreferenced blobs ({human_bytes(plan.waiting_bytes)}) wait for their grace"
    )


def _print_result(result: GcResult, json_out: bool) -> None:
    if json_out:
        document = {
            "dry_run": False,
            "blobs_deleted": result.blobs_deleted,
            "bytes_deleted": result.bytes_deleted,
            "links_removed": result.links_removed,
            "marked": result.marked,
            "deleted": result.deleted,
        }
        typer.echo(json.dumps(document, indent=2))
        return
    console.print(
        f"deleted {result.blobs_deleted} blobs ({human_bytes(result.bytes_deleted)}), removed "
        f"{result.links_removed} unused links; {result.marked} newly unreferenced blobs wait for their grace"
    )


def human_bytes(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")
