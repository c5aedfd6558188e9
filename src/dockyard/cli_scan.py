"""``dockyard scan REPO:TAG`` and ``dockyard sbom REPO:TAG``: scan an image now (in this process, with a
progress bar) and show its findings by severity; export or attach its SBOM. Registered by :mod:`dockyard.cli`.

They work on the metadata store and blob storage the settings name, like the server's own worker: a scan
this command queues may also be taken by a running server's worker, in which case the command waits for it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Column, Table

from dockyard.app import Services, ecr_api
from dockyard.background import scan_runner
from dockyard.cli_options import AccountOption, ConfigOption, DataDirOption, JsonOption, console, err_console
from dockyard.cli_runtime import settings_or_exit, with_services
from dockyard.config import Settings
from dockyard.domain.digest import is_digest
from dockyard.domain.scanning.findings import SEVERITIES, Finding
from dockyard.http.ecr.api import EcrApi
from dockyard.sbom import FORMATS
from dockyard.services.ecr import RegistryRef
from dockyard.services.ecr_types import ImageId
from dockyard.services.sbom_export import SbomExport
from dockyard.services.scan_types import FindingsPage
from dockyard.workers.scheduler import replica_id

T = TypeVar("T")
LEASE = timedelta(minutes=10)
ReferenceArgument = Annotated[str, typer.Argument(help="REPOSITORY:TAG or REPOSITORY@sha256:DIGEST")]


def split_reference(reference: str) -> tuple[str, ImageId]:
    """``repo:tag`` / ``repo@digest`` (a bare ``repo`` means ``repo:latest``)."""
    name, at, digest = reference.partition("@")
    if at:
        if not is_digest(digest):
            raise typer.BadParameter(f"{digest!r} is not a digest")
        return name, ImageId(digest=digest)
    head, colon, tag = name.rpartition(":")
    if colon and "/" not in tag:
        return head, ImageId(tag=tag)
    return name, ImageId(tag="latest")


def _with_ecr(
    config: Path | None, data_dir: Path | None, action: Callable[[Settings, Services, EcrApi], Awaitable[T]]
) -> T:
    settings = settings_or_exit(config, data_dir=data_dir)

    async def run(services: Services) -> T:
        return await action(settings, services, ecr_api(settings, services))

    return with_services(settings, run)


async def _registry(services: Services, account: str | None) -> RegistryRef:
    return RegistryRef(account or await services.registry_access.default_account())


async def _scan(
    settings: Settings,
    services: Services,
    ecr: EcrApi,
    name: str,
    image_id: ImageId,
    registry: RegistryRef,
    quiet: bool,
) -> FindingsPage:
    scanning = ecr.scanning
    _, row = await scanning.queue(name, registry, image_id)
    runner = scan_runner(settings, services, ecr, processes=False)
    owner = replica_id()
    now = services.clock.now()
    claimed = await scanning.store.claim_one(row.id, owner, now, now + LEASE)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, console=err_console, disable=quiet, transient=True) as progress:
        task = progress.add_task("queued", total=None)

        def step(name: str, done: int, total: int) -> None:
            progress.update(task, description=name, completed=done, total=total or None)

        if claimed is not None:
            await runner.run(claimed, owner, step)
        else:  # a server's worker holds it: wait for its outcome
            step("scanning on the server", 0, 0)
            while True:  # another process's scan: only the database tells when it ends
                if (await scanning.store.states([row.id]))[row.id].status != "IN_PROGRESS":
                    break
                await asyncio.sleep(0.5)
    return await _all_findings(ecr, name, registry, ImageId(row.digest, image_id.tag))


async def _all_findings(ecr: EcrApi, name: str, registry: RegistryRef, image_id: ImageId) -> FindingsPage:
    _, page = await ecr.scanning.findings(name, registry, image_id, None, 1000)
    findings = list(page.findings)
    token = page.next_token
    while token is not None:
        _, more = await ecr.scanning.findings(name, registry, image_id, token, 1000)
        findings += more.findings
        token = more.next_token
    return FindingsPage(
        page.image_id,
        page.status,
        page.completed_at,
        page.source_updated_at,
        page.counts,
        findings,
        None,
        page.complete,
    )


def _finding_row(finding: Finding) -> dict[str, Any]:
    return {
        "name": finding.name,
        "severity": finding.severity,
        "uri": finding.uri,
        "description": finding.description,
        **dict(finding.attributes),
    }


def _print_findings(page: FindingsPage, json_out: bool) -> None:
    if json_out:
        document = {
            "imageDigest": page.image_id.digest,
            "status": page.status.status,
            "description": page.status.description,
            "findingSeverityCounts": page.counts,
            "findings": [_finding_row(f) for f in page.findings],
        }
        typer.echo(json.dumps(document, indent=2))
        return
    console.print(f"{page.image_id.digest}: {page.status.status} ({page.status.description})")
    if not page.complete:
        return
    table = Table("severity", "vulnerability", "package", "installed", Column("fixed in"), title="findings")
    for finding in page.findings:
        attributes = dict(finding.attributes)
        table.add_row(
            finding.severity,
            finding.name,
            attributes.get("package_name", ""),
            attributes.get("package_version", ""),
            attributes.get("fixed_in_version", ""),
        )
    if page.findings:
        console.print(table)
    counts = ", ".join(f"{s} {page.counts[s]}" for s in SEVERITIES if page.counts.get(s))
    console.print(f"{len(page.findings)} finding(s){': ' + counts if counts else ''}")


def scan_command(
    reference: ReferenceArgument,
    config: ConfigOption = None,
    data_dir: DataDirOption = None,
    json_out: JsonOption = False,
    account: AccountOption = None,
) -> None:
    """Scan an image now and list its findings by severity (exit 0 when the scan completed)."""
    name, image_id = split_reference(reference)

    async def scan(settings: Settings, services: Services, ecr: EcrApi) -> FindingsPage:
        registry = await _registry(services, account)
        return await _scan(settings, services, ecr, name, image_id, registry, json_out)

    page = _with_ecr(config, data_dir, scan)
    _print_findings(page, json_out)
    if page.status.status != "COMPLETE":
        raise typer.Exit(1)


def sbom_command(
    reference: ReferenceArgument,
    sbom_format: Annotated[str, typer.Option("--format", help=f"One of {', '.join(FORMATS)}.")] = "cyclonedx",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here instead of stdout.")
    ] = None,
    attach: Annotated[
        bool, typer.Option("--attach", help="Push it as an OCI referrer of the image.")
    ] = False,
    config: ConfigOption = None,
    data_dir: DataDirOption = None,
    account: AccountOption = None,
) -> None:
    """Export the SBOM of a scanned image (CycloneDX 1.6 or SPDX 2.3 JSON), optionally attached to it."""
    name, image_id = split_reference(reference)

    async def export(settings: Settings, services: Services, ecr: EcrApi) -> tuple[bytes, str | None]:
        exporter = SbomExport(ecr.scanning, services.manifests)
        registry = await _registry(services, account)
        if attach:
            sbom, digest = await exporter.attach(name, registry, image_id, sbom_format)
            return sbom.content, digest
        return (await exporter.export(name, registry, image_id, sbom_format)).content, None

    content, digest = _with_ecr(config, data_dir, export)
    if output is not None:
        output.write_bytes(content)
    else:
        typer.echo(content.decode())
    if digest is not None:
        err_console.print(f"attached as {name}@{digest}")
