"""``dockyard lifecycle run|preview REPO`` and ``dockyard events list``: lifecycle policies on demand, and the
events their runs recorded. Registered on the main app by :mod:`dockyard.cli`."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.progress import Progress
from rich.table import Table

from dockyard.app import Services, ecr_api
from dockyard.cli_options import AccountOption, ConfigOption, DataDirOption, JsonOption, console, err_console
from dockyard.cli_runtime import settings_or_exit, with_services
from dockyard.domain.lifecycle import Expiry, LifecyclePolicyInvalid
from dockyard.services.ecr import RegistryRef
from dockyard.services.lifecycle import Lifecycle

T = TypeVar("T")
lifecycle_app = typer.Typer(help="Run or preview a repository's lifecycle policy.", no_args_is_help=True)
events_app = typer.Typer(help="What lifecycle runs did.", no_args_is_help=True)


def _with_lifecycle(
    config: Path | None, data_dir: Path | None, action: Callable[[Lifecycle, Services], Awaitable[T]]
) -> T:
    settings = settings_or_exit(config, data_dir=data_dir)

    async def run(services: Services) -> T:
        return await action(ecr_api(settings, services).lifecycle, services)

    try:
        return with_services(settings, run)
    except LifecyclePolicyInvalid as exc:
        err_console.print(f"error: {exc.text}", style="red")
        raise typer.Exit(1) from None


async def _registry(services: Services, account: str | None) -> RegistryRef:
    return RegistryRef(account or await services.registry_access.default_account())


def _expiry_rows(expiries: list[Expiry]) -> list[dict[str, Any]]:
    return [
        {
            "digest": e.digest,
            "tags": list(e.tags),
            "pushed_at": e.pushed_at.isoformat(timespec="seconds"),
            "rule_priority": e.rule_priority,
            "with_subject": e.with_subject,
        }
        for e in expiries
    ]


def _print_expiries(rows: list[dict[str, Any]], json_out: bool, title: str) -> None:
    if json_out:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table("digest", "tags", "pushed", "rule", title=title)
    for row in rows:
        table.add_row(row["digest"], ",".join(row["tags"]), row["pushed_at"], str(row["rule_priority"]))
    console.print(table)


@lifecycle_app.command("preview")
def lifecycle_preview(
    repository: str,
    config: ConfigOption = None,
    data_dir: DataDirOption = None,
    json_out: JsonOption = False,
    account: AccountOption = None,
) -> None:
    """The images the repository's lifecycle policy would expire now (nothing is deleted)."""

    async def preview(lifecycle: Lifecycle, services: Services) -> list[dict[str, Any]]:
        plan = await lifecycle.plan(repository, await _registry(services, account))
        return _expiry_rows(plan.expiries)

    rows = _with_lifecycle(config, data_dir, preview)
    _print_expiries(rows, json_out, f"{len(rows)} image(s) would expire")


@lifecycle_app.command("run")
def lifecycle_run(
    repository: str,
    config: ConfigOption = None,
    data_dir: DataDirOption = None,
    json_out: JsonOption = False,
    account: AccountOption = None,
) -> None:
    """Expire what the repository's lifecycle policy selects now; each expiry is recorded as an event."""

    async def run(lifecycle: Lifecycle, services: Services) -> list[dict[str, Any]]:
        with Progress(console=err_console, disable=json_out) as progress:
            task = progress.add_task("expiring", total=None)

            def advance(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            report = await lifecycle.run(repository, await _registry(services, account), advance)
        return _expiry_rows(report.expired)

    rows = _with_lifecycle(config, data_dir, run)
    _print_expiries(rows, json_out, f"{len(rows)} image(s) expired")


@events_app.command("list")
def events_list(
    repo: Annotated[str | None, typer.Option("--repo", help="Only this repository's events.")] = None,
    config: ConfigOption = None,
    data_dir: DataDirOption = None,
    json_out: JsonOption = False,
    account: AccountOption = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many, newest first.")] = 100,
) -> None:
    """Lifecycle expiries, newest first: when, which repository, policy and rule, which digest and tags."""

    async def events(lifecycle: Lifecycle, services: Services) -> list[dict[str, Any]]:
        found = await lifecycle.events(account, repo, limit)
        return [
            {
                "occurred_at": e.occurred_at.isoformat(timespec="seconds"),
                "account": e.account_id,
                "repository": e.repository_name,
                "action": e.action,
                "rule_priority": e.rule_priority,
                "policy_sha256": e.policy_sha256,
                "run_id": e.run_id,
                "digest": e.digest,
                "tags": e.tags,
                "pushed_at": e.pushed_at.isoformat(timespec="seconds"),
            }
            for e in found
        ]

    rows = _with_lifecycle(config, data_dir, events)
    if json_out:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table("when", "repository", "action", "rule", "digest", "tags")
    for row in rows:
        table.add_row(
            row["occurred_at"],
            row["repository"],
            row["action"],
            str(row["rule_priority"]),
            row["digest"],
            ",".join(row["tags"]),
        )
    console.print(table)
