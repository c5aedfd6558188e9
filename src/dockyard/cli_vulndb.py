"""``dockyard vulndb import PATH...`` and ``dockyard vulndb status``: the offline vulnerability database,
filled from OSV files, directories and osv.dev's zip dumps. Registered on the main app by :mod:`dockyard.cli`.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Column, Table

from dockyard.app import Services
from dockyard.cli_options import ConfigOption, DataDirOption, JsonOption, console, err_console
from dockyard.cli_runtime import settings_or_exit, with_services
from dockyard.metadata.scan_inventory import ScanInventoryStore
from dockyard.services.vuln_matching import VulnMatcher
from dockyard.services.vulndb import ImportReport, VulnDb, VulnDbStatus

T = TypeVar("T")
SHOWN_REJECTIONS = 20
vulndb_app = typer.Typer(help="The offline vulnerability database (OSV advisories).", no_args_is_help=True)


def _with_vulndb(
    config: Path | None, data_dir: Path | None, action: Callable[[VulnDb, Services], Awaitable[T]]
) -> T:
    async def run(services: Services) -> T:
        return await action(services.vulnerabilities, services)

    return with_services(settings_or_exit(config, data_dir=data_dir), run)


def _report_row(report: ImportReport) -> dict[str, Any]:
    return {
        "path": report.path,
        "read": report.read,
        "imported": report.imported,
        "updated": report.updated,
        "unchanged": report.unchanged,
        "withdrawn": report.withdrawn,
        "rejected": report.rejected,
        "rejections": [{"source": r.source, "reason": r.reason} for r in report.rejections],
        "generation": report.generation,
        "updated_at": report.updated_at.isoformat(timespec="seconds"),
    }


def _print_reports(rows: list[dict[str, Any]]) -> None:
    table = Table(
        Column("path", overflow="fold"), "read", "imported", "updated", "unchanged", "withdrawn", "rejected"
    )
    for row in rows:
        counts = ("read", "imported", "updated", "unchanged", "withdrawn", "rejected")
        table.add_row(row["path"], *(str(row[name]) for name in counts))
    console.print(table)
    rejections = [r for row in rows for r in row["rejections"]]
    if rejections:
        shown = Table(
            Column("file", overflow="fold"), Column("reason", overflow="fold"), title="rejected records"
        )
        for rejection in rejections[:SHOWN_REJECTIONS]:
            shown.add_row(rejection["source"], rejection["reason"])
        console.print(shown)
        hidden = sum(row["rejected"] for row in rows) - min(len(rejections), SHOWN_REJECTIONS)
        if hidden > 0:
            console.print(f"... and {hidden} more rejected record(s) (--json lists up to 1000 per path)")
    last = rows[-1]
    console.print(f"generation {last['generation']}, data updated at {last['updated_at']}")


@vulndb_app.command("import")
def vulndb_import(
    paths: Annotated[
        list[Path],
        typer.Argument(exists=True, help="OSV JSON/YAML files, directories of them, or osv.dev zip dumps."),
    ],
    config: ConfigOption = None,
    data_dir: DataDirOption = None,
    json_out: JsonOption = False,
) -> None:
    """Import OSV advisories; a record replaces the stored one when its modified time is newer."""

    async def run(vulndb: VulnDb, services: Services) -> list[dict[str, Any]]:
        reports = []
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=err_console, disable=json_out) as progress:
            for path in paths:
                task = progress.add_task(f"reading {path.name}", total=None)

                def advance(done: int, total: int | None, task: Any = task) -> None:
                    progress.update(task, completed=done, total=total)

                reports.append(_report_row(await vulndb.import_path(path, advance)))
            # Stored images' findings follow at once (the server's re-evaluation job would get there too).
            task = progress.add_task("re-evaluating stored images", total=None)
            matcher = VulnMatcher(vulndb, ScanInventoryStore(services.engine, services.clock))
            result = await matcher.reevaluate(lambda done: progress.advance(task, done))
        if reports:
            reports[-1]["reevaluated_packages"] = result.packages
        return reports

    rows = _with_vulndb(config, data_dir, run)
    if json_out:
        typer.echo(json.dumps(rows, indent=2))
    else:
        _print_reports(rows)


def _status_row(status: VulnDbStatus) -> dict[str, Any]:
    def moment(value: Any) -> str | None:
        return None if value is None else value.isoformat(timespec="seconds")

    return {
        "total": status.total,
        "generation": status.generation,
        "updated_at": moment(status.updated_at),
        "last_import_at": moment(status.last_import_at),
        "last_import": status.last_import,
        "ecosystems": dict(sorted(status.ecosystems.items())),
    }


@vulndb_app.command("status")
def vulndb_status(
    config: ConfigOption = None, data_dir: DataDirOption = None, json_out: JsonOption = False
) -> None:
    """Advisories per ecosystem, the generation, when the data was last updated, and the last import."""

    async def run(vulndb: VulnDb, _services: Services) -> dict[str, Any]:
        return _status_row(await vulndb.status())

    row = _with_vulndb(config, data_dir, run)
    if json_out:
        typer.echo(json.dumps(row, indent=2))
        return
    table = Table("ecosystem", "advisories", title=f"{row['total']} advisories")
    for ecosystem, count in row["ecosystems"].items():
        table.add_row(ecosystem, str(count))
    console.print(table)
    console.print(f"generation {row['generation']}, data updated at {row['updated_at'] or 'never'}")
    last = row["last_import"]
    if last:
        console.print(
            f"last import {row['last_import_at']}: {last['path']} - {last['imported']} imported, "
            f"{last['updated']} updated, {last['unchanged']} unchanged, {last['withdrawn']} withdrawn, "
            f"{last['rejected']} rejected"
        )
