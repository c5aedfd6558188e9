"""The ``dockyard`` command line: serve, migrate, and local administration of repositories and images."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.table import Table

from dockyard.agent.cli import agent_command
from dockyard.app import Services, migrate
from dockyard.cli_gc import gc_command, human_bytes
from dockyard.cli_lifecycle import events_app, lifecycle_app
from dockyard.cli_options import AccountOption, ConfigOption, DataDirOption, JsonOption, console, err_console
from dockyard.cli_runtime import settings_or_exit, with_services
from dockyard.cli_scan import sbom_command, scan_command
from dockyard.cli_vulndb import vulndb_app
from dockyard.config import Settings
from dockyard.domain.identity import IdentityError, registry_host

T = TypeVar("T")
app = typer.Typer(help="Dockyard: an OCI registry with Amazon ECR's control plane.", no_args_is_help=True)
repo_app = typer.Typer(help="Manage repositories on this node's metadata store.", no_args_is_help=True)
image_app = typer.Typer(help="Inspect images.", no_args_is_help=True)
app.add_typer(repo_app, name="repo")
app.add_typer(image_app, name="image")
admin_app = typer.Typer(help="Accounts, root credentials and server keys.", no_args_is_help=True)
app.add_typer(admin_app, name="admin")
app.add_typer(lifecycle_app, name="lifecycle")
app.add_typer(events_app, name="events")
app.add_typer(vulndb_app, name="vulndb")
app.command("gc")(gc_command)
app.command("scan")(scan_command)
app.command("sbom")(sbom_command)
app.command("agent")(agent_command)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind [default: 127.0.0.1].")] = None,
    port: Annotated[int | None, typer.Option(help="Port to bind [default: 5000].")] = None,
    data_dir: DataDirOption = None,
    config: ConfigOption = None,
    database_url: Annotated[str | None, typer.Option(help="PostgreSQL DSN; SQLite by default.")] = None,
    tls_cert: Annotated[Path | None, typer.Option(help="PEM certificate: serve HTTPS.")] = None,
    tls_key: Annotated[Path | None, typer.Option(help="PEM private key for --tls-cert.")] = None,
    workers: Annotated[int | None, typer.Option(help="Worker processes [default: 1].")] = None,
    server: Annotated[str | None, typer.Option(help="granian (default) or uvicorn.")] = None,
    auth: Annotated[str | None, typer.Option(help="iam (default) or none (anonymous /v2/).")] = None,
) -> None:
    """Run the registry (migrating the schema first)."""
    settings = settings_or_exit(
        config,
        host=host,
        port=port,
        data_dir=data_dir,
        database_url=database_url,
        tls_cert=tls_cert,
        tls_key=tls_key,
        workers=workers,
        server=server,
        auth=auth,
    )
    if (settings.tls_cert is None) != (settings.tls_key is None):
        raise typer.BadParameter("--tls-cert and --tls-key go together")
    from dockyard import logs
    from dockyard import server as runner

    logs.configure(settings.log_level)
    asyncio.run(migrate(settings))
    scheme = "https" if settings.tls_cert else "http"
    err_console.print(f"dockyard serving on {scheme}://{settings.host}:{settings.port}", style="bold")
    runner.exec_run(settings)


@app.command("migrate")
def migrate_command(config: ConfigOption = None, data_dir: DataDirOption = None) -> None:
    """Create or upgrade the metadata schema."""
    asyncio.run(migrate(settings_or_exit(config, data_dir=data_dir)))
    console.print("schema is up to date")


@repo_app.command("list")
def repo_list(
    config: ConfigOption = None,
    data_dir: DataDirOption = None,
    json_out: JsonOption = False,
    account: AccountOption = None,
) -> None:
    """List repositories with their image and tag counts and the storage they use (distinct linked
    blobs and manifests; a blob shared by several repositories counts in each)."""

    async def rows_of(services: Services) -> list[dict[str, Any]]:
        return await _repository_rows(services, await _account(services, account))

    rows = with_services(settings_or_exit(config, data_dir=data_dir), rows_of)
    if json_out:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table("repository", "images", "tags", "size", "created")
    for row in rows:
        size = human_bytes(row["bytes"])
        table.add_row(row["name"], str(row["images"]), str(row["tags"]), size, row["created_at"])
    console.print(table)


async def _account(services: Services, account: str | None) -> str:
    return account or await services.registry_access.default_account()


async def _repository_rows(services: Services, account: str) -> list[dict[str, Any]]:
    store = services.registry.store
    usage = {used.name: used for used in await services.gc.store.usage(account)}
    rows = []
    for name in await store.list_repositories(account, None, None):
        repository = await services.registry.repository(account, name)
        images = await store.list_images(repository.id)
        rows.append(
            {
                "name": name,
                "images": len(images),
                "tags": sum(len(image.tags) for image in images),
                "bytes": usage[name].total if name in usage else 0,  # linked blobs + manifests
                "created_at": repository.created_at.isoformat(timespec="seconds"),
            }
        )
    return rows


@repo_app.command("create")
def repo_create(
    name: str, config: ConfigOption = None, data_dir: DataDirOption = None, account: AccountOption = None
) -> None:
    """Create an empty repository (needed when create_on_push is off)."""

    async def create(services: Services) -> None:
        await services.registry.create_repository(await _account(services, account), name)

    with_services(settings_or_exit(config, data_dir=data_dir), create)
    console.print(f"created {name}")


@repo_app.command("delete")
def repo_delete(
    name: str,
    config: ConfigOption = None,
    data_dir: DataDirOption = None,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask.")] = False,
    account: AccountOption = None,
) -> None:
    """Delete a repository with all its manifests and tags (blob bytes are reclaimed by GC)."""
    if not yes:
        typer.confirm(f"delete repository {name} and all its images?", abort=True)

    async def delete(services: Services) -> None:
        await services.registry.delete_repository(await _account(services, account), name)

    with_services(settings_or_exit(config, data_dir=data_dir), delete)
    console.print(f"deleted {name}")


@image_app.command("list")
def image_list(
    repository: str,
    config: ConfigOption = None,
    data_dir: DataDirOption = None,
    json_out: JsonOption = False,
    account: AccountOption = None,
) -> None:
    """List a repository's images: digest, tags, media type, size, push time."""

    async def images(services: Services) -> list[dict[str, Any]]:
        repo = await services.registry.repository(await _account(services, account), repository)
        return [
            {
                "digest": image.digest,
                "tags": list(image.tags),
                "media_type": image.media_type,
                "size": image.size,
                "pushed_at": image.pushed_at.isoformat(timespec="seconds"),
            }
            for image in await services.registry.store.list_images(repo.id)
        ]

    rows = with_services(settings_or_exit(config, data_dir=data_dir), images)
    if json_out:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table("digest", "tags", "media type", "size", "pushed")
    for row in rows:
        table.add_row(
            row["digest"], ",".join(row["tags"]), row["media_type"], str(row["size"]), row["pushed_at"]
        )
    console.print(table)


AccountIdOption = Annotated[
    str | None, typer.Option("--account-id", help="12-digit account id [default: a random one].")
]


@admin_app.command("init")
def admin_init(
    account_id: AccountIdOption = None,
    config: ConfigOption = None,
    data_dir: DataDirOption = None,
    json_out: JsonOption = False,
) -> None:
    """Create the first account and print its root credentials (shown this once, never again)."""
    settings = settings_or_exit(config, data_dir=data_dir)

    async def init(services: Services) -> dict[str, str]:
        existing = await services.identity.store.list_accounts()
        if existing:
            raise IdentityError(
                f"already initialised: account {existing[0].id} exists "
                "(`dockyard admin create-account` adds another)"
            )
        return await _new_account(services, settings, account_id)

    _print_credentials(_with_identity(settings, init), json_out)


@admin_app.command("create-account")
def admin_create_account(
    account_id: AccountIdOption = None,
    config: ConfigOption = None,
    data_dir: DataDirOption = None,
    json_out: JsonOption = False,
) -> None:
    """Create another account and print its root credentials (shown this once, never again)."""
    settings = settings_or_exit(config, data_dir=data_dir)

    async def create(services: Services) -> dict[str, str]:
        return await _new_account(services, settings, account_id)

    _print_credentials(_with_identity(settings, create), json_out)


async def _new_account(services: Services, settings: Settings, account_id: str | None) -> dict[str, str]:
    issued = await services.identity.create_account(account_id)
    account = issued.key.account_id
    return {
        "account_id": account,
        "access_key_id": issued.key.access_key_id,
        "secret_access_key": issued.secret,
        "registry_host": registry_host(account, settings.domain),
        "region": settings.region,
    }


def _print_credentials(created: dict[str, str], json_out: bool) -> None:
    if json_out:
        typer.echo(json.dumps(created, indent=2))
        return
    typer.echo(f"account {created['account_id']} created; its root credentials (shown only this once):")
    typer.echo(f"  aws_access_key_id     = {created['access_key_id']}")
    typer.echo(f"  aws_secret_access_key = {created['secret_access_key']}")
    typer.echo(f"registry host name: {created['registry_host']} (region {created['region']})")


@admin_app.command("rotate-keys")
def admin_rotate_keys(config: ConfigOption = None, data_dir: DataDirOption = None) -> None:
    """Re-encrypt every stored secret under a new server key and retire the old keys."""
    settings = settings_or_exit(config, data_dir=data_dir)

    async def rotate(services: Services) -> tuple[int, bool]:
        from dockyard import crypto

        result = await crypto.rotate(settings.data_dir, services.identity.store.reseal_all)
        services.identity.changed()
        return result

    count, retired = _with_identity(settings, rotate)
    if retired:
        console.print(f"re-encrypted {count} secrets under a new key; the old keys are retired")
    else:
        console.print(
            f"re-encrypted {count} secrets under the first key of DOCKYARD_SECRET_KEYS; "
            "now remove the other keys from it on every process"
        )


@admin_app.command("rotate-token-keys")
def admin_rotate_token_keys(config: ConfigOption = None, data_dir: DataDirOption = None) -> None:
    """Sign new registry passwords with a new key; older keys verify until their passwords expire."""
    from datetime import UTC, datetime

    from dockyard.services.ecr import EcrConfig
    from dockyard.services.ecr_tokens import TokenKeyRing

    settings = settings_or_exit(config, data_dir=data_dir)
    lifetime = EcrConfig(settings.region, settings.domain, "").token_lifetime

    async def in_database(services: Services) -> tuple[str, list[str], int]:
        assert services.keys.shared is not None
        await services.keys.shared.load()
        return await services.keys.shared.rotate_tokens(datetime.now(UTC), lifetime)

    from dockyard.metadata.engine import database_url

    if database_url(settings.database_url, settings.data_dir).startswith("postgresql"):  # in the database
        kid, retired, count = with_services(settings, in_database)
    else:
        keys = TokenKeyRing.from_data_dir(settings.data_dir)
        kid, retired = keys.rotate(datetime.now(UTC), lifetime)
        count = len(keys.key_ids)
    console.print(
        f"registry passwords are now signed with key {kid}; "
        f"{count - 1} older keys still verify, {len(retired)} retired"
    )


@app.command("migrate-storage")
def migrate_storage(
    to: Annotated[Path, typer.Option("--to", help="TOML config of the target (database_url, s3_*).")],
    config: ConfigOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Copy this registry's metadata, server keys and blobs to another layout (e.g. PostgreSQL + S3).

    Idempotent: run it again after an interruption, or after stopping the source, to copy what is new."""
    from dockyard.storage_migration import Report

    source, target = settings_or_exit(config, data_dir=data_dir), settings_or_exit(to)
    if not target.database_url:
        raise typer.BadParameter("the target config needs database_url (the replicas' database)")
    report: Report = asyncio.run(_migrate_storage(source, target))
    console.print(
        f"copied {sum(report.rows.values())} rows in {len(report.rows)} tables; blobs: "
        f"{report.blobs_copied} copied ({report.bytes_copied} bytes), {report.blobs_present} already there"
    )
    console.print(
        "replicas need the source's secret keys: DOCKYARD_SECRET_KEYS = the lines of its secret-keys"
    )
    for digest in report.corrupt:
        err_console.print(f"not copied, bytes do not match: {digest}", style="red")
    for digest in report.missing:
        err_console.print(f"not copied, missing from the source storage: {digest}", style="red")
    if report.corrupt or report.missing:
        raise typer.Exit(1)


async def _migrate_storage(source: Settings, target: Settings) -> Any:
    from rich.progress import BarColumn, DownloadColumn, MofNCompleteColumn, Progress, TextColumn

    from dockyard import storage_migration as moving
    from dockyard.app import blob_store
    from dockyard.clock import SystemClock
    from dockyard.crypto import SecretBox
    from dockyard.metadata.engine import create_engine, database_url
    from dockyard.metadata.key_store import SqlKeyStore
    from dockyard.services.ecr_tokens import SigningKey
    from dockyard.services.server_keys import ServerKeys, placeholder_ring

    await migrate(source)
    await migrate(target)
    engines = [create_engine(database_url(s.database_url, s.data_dir)) for s in (source, target)]
    report = moving.Report()
    try:
        counts = await moving.count_rows(engines[0])
        wanted = await moving.blob_list(engines[0])
        with Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), console=err_console
        ) as bar:
            rows = bar.add_task("metadata rows", total=sum(counts.values()))
            report.rows = await moving.copy_metadata(
                engines[0], engines[1], lambda _t, n: bar.advance(rows, n)
            )
        box = SecretBox.from_data_dir(source.data_dir)
        keys = ServerKeys(
            SqlKeyStore(engines[1], SystemClock()), box, placeholder_ring(), SigningKey.generate()
        )
        await keys.import_files(source.data_dir)
        columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn())
        with Progress(*columns, console=err_console) as bar:
            task = bar.add_task("blobs", total=sum(size for _, size in wanted))
            await moving.copy_blobs(
                blob_store(source), blob_store(target), wanted, report, lambda _t, n: bar.advance(task, n)
            )
    finally:
        for engine in engines:
            await engine.dispose()
    return report


def _with_identity(settings: Settings, action: Callable[[Services], Awaitable[T]]) -> T:
    try:
        return with_services(settings, action)
    except IdentityError as exc:
        err_console.print(f"error: {exc.message}", style="red")
        raise typer.Exit(1) from None


def main() -> None:
    app()
