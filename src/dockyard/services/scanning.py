"""Image scanning's use cases behind ECR's API: scanning configuration, scan on push, StartImageScan,
DescribeImageScanFindings and the scan summary of DescribeImages (``docs/scanning.md``).

Findings are the image's stored inventory joined with its packages' current matches, so they follow the
vulnerability database without re-reading layers. An image index is not scanned itself: its status says
which platform images to look at, each scanned under its own digest.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from dockyard.caching import SignalCache
from dockyard.domain.manifest import parse_manifest
from dockyard.domain.records import Repository
from dockyard.domain.scanning.config import (
    RegistryScanning,
    RepositoryScanning,
    ScanConfigInvalid,
    effective,
    parse_rules,
    rules_document,
)
from dockyard.domain.scanning.findings import SEVERITIES, Finding
from dockyard.domain.scanning.images import unsupported_reason
from dockyard.metadata.scan_inventory import FindingRow, ScanInventoryStore
from dockyard.metadata.scan_store import QuotaExceeded, ScanState, ScanStore
from dockyard.ports import ChangeSignal, Clock, VulnerabilityDatabase
from dockyard.services.ecr import EcrRepositories, RegistryRef, parameter_error
from dockyard.services.ecr_images import EcrImages
from dockyard.services.ecr_tokens import PageTokens
from dockyard.services.ecr_types import EcrRepository, ImageId, ImageRow
from dockyard.services.registry import RegistryService
from dockyard.services.scan_types import (
    FindingsPage,
    ScanLimitExceeded,
    ScanNotFound,
    ScanStatus,
    ScanSummary,
    UnsupportedImageType,
)

COMPLETE = "COMPLETE"
IN_PROGRESS = "IN_PROGRESS"
UNSUPPORTED_IMAGE = "UNSUPPORTED_IMAGE"
DEFAULT_PAGE = 100
_OPERATION = "DescribeImageScanFindings"
_RANK = {severity: rank for rank, severity in enumerate(SEVERITIES)}


@dataclass(frozen=True, slots=True)
class ScanningConfig:
    on_demand_interval: timedelta = timedelta(hours=24)  # ECR's one StartImageScan per image per day


class Scanning:
    def __init__(
        self,
        repositories: EcrRepositories,
        images: EcrImages,
        registry: RegistryService,
        stores: tuple[ScanStore, ScanInventoryStore],
        database: VulnerabilityDatabase,
        clock: Clock,
        pages: PageTokens,
        config: ScanningConfig,
        settings_signal: ChangeSignal,
    ) -> None:
        self.repositories = repositories
        self.images = images
        self.registry = registry
        self.store, self.inventories = stores
        self.database = database
        self.clock = clock
        self.pages = pages
        self.config = config
        self.wake: Callable[[], None] = lambda: None  # the local scan worker's doorbell (set by the app)
        self._configs = SignalCache(settings_signal, 1024)

    # -- configuration --------------------------------------------------------------------------------

    async def registry_configuration(self, account: str) -> RegistryScanning | None:
        found: RegistryScanning | None = await self._configs.get(account, lambda: self._load_config(account))
        return found

    async def _load_config(self, account: str) -> RegistryScanning | None:
        stored = await self.store.registry_config(account)
        return None if stored is None else parse_rules(stored.scan_type, stored.rules)

    async def put_registry_configuration(
        self, account: str, scan_type: str | None, rules: list[dict[str, Any]]
    ) -> RegistryScanning:
        try:
            parsed = parse_rules(scan_type or "BASIC", rules)
        except ScanConfigInvalid as exc:
            raise parameter_error(exc.member, exc.reason) from None
        await self.store.put_registry_config(account, parsed.scan_type, rules_document(parsed))
        return parsed

    async def repository_configurations(
        self, registry: RegistryRef, names: Sequence[str]
    ) -> tuple[list[tuple[EcrRepository, RepositoryScanning]], list[str]]:
        """Each named repository's effective configuration, and the names that name no repository."""
        config = await self.registry_configuration(registry.id)
        found, missing = [], []
        for name in dict.fromkeys(names):
            repository = await self.repositories.store.repository(registry.id, name)
            if repository is None:
                missing.append(name)
            else:
                found.append((repository, effective(config, name, repository.settings.scan_on_push)))
        return found, missing

    # -- scan on push ---------------------------------------------------------------------------------

    async def on_push(self, account: str, repository: Repository, digest: str, media_type: str) -> None:
        """Queue a scan of a pushed image when its repository scans on push (indexes and artifacts not)."""
        found = await self.repositories.cached(repository.id)
        if found is None:
            return
        config = await self.registry_configuration(account)
        if not effective(config, repository.name, found.settings.scan_on_push).scan_on_push:
            return
        record = await self.registry.store.get_manifest(account, repository.name, digest)
        if record is None or unsupported_reason(parse_manifest(record.content, media_type)) is not None:
            return
        manifest_id = await self.store.manifest_id(repository.id, digest)
        if manifest_id is not None:
            await self.store.request([manifest_id], self.clock.now())
            self.wake()

    # -- StartImageScan -------------------------------------------------------------------------------

    async def start(
        self, name: str, registry: RegistryRef, image_id: ImageId
    ) -> tuple[EcrRepository, ImageId, ScanStatus]:
        repository, row = await self._image(name, registry, image_id)
        record = await self.registry.store.get_manifest(repository.account_id, name, row.digest)
        if record is None or unsupported_reason(parse_manifest(record.content, row.media_type)):
            raise UnsupportedImageType("Unsupported image type")
        now = self.clock.now()
        interval = self.config.on_demand_interval
        try:
            await self.store.request_manual(row.id, now, now - interval if interval else None)
        except QuotaExceeded:
            raise ScanLimitExceeded(
                "The scan quota per image has been exceeded. Wait and try again."
            ) from None
        self.wake()
        status = ScanStatus(IN_PROGRESS, "The scan is in progress.")
        return repository, ImageId(row.digest, image_id.tag), status

    async def queue(
        self, name: str, registry: RegistryRef, image_id: ImageId
    ) -> tuple[EcrRepository, ImageRow]:
        """Queue a scan for an operator (``dockyard scan``): no on-demand quota; a queued one stays queued."""
        repository, row = await self._image(name, registry, image_id)
        record = await self.registry.store.get_manifest(repository.account_id, name, row.digest)
        reason = (
            None if record is None else unsupported_reason(parse_manifest(record.content, row.media_type))
        )
        if record is None or reason is not None:
            raise UnsupportedImageType(f"Unsupported image type: {reason}")
        await self.store.request([row.id], self.clock.now())
        return repository, row

    async def _image(
        self, name: str, registry: RegistryRef, image_id: ImageId
    ) -> tuple[EcrRepository, ImageRow]:
        repository, details = await self.images.describe_ids(name, registry, [image_id])
        return repository, details[0].row

    # -- findings -------------------------------------------------------------------------------------

    async def findings(
        self, name: str, registry: RegistryRef, image_id: ImageId, token: str | None, limit: int | None
    ) -> tuple[EcrRepository, FindingsPage]:
        repository, row = await self._image(name, registry, image_id)
        shown = ImageId(row.digest, image_id.tag)
        index_status = await self._index_status(repository, row)
        if index_status is not None:
            return repository, FindingsPage(shown, index_status, None, None, {}, [], None, False)
        state = (await self.store.states([row.id])).get(row.id)
        if state is None:
            raise ScanNotFound(_not_found(shown, name, repository.account_id))
        status = ScanStatus(state.status, state.description)
        if state.status != COMPLETE:
            return repository, FindingsPage(shown, status, None, None, {}, [], None, False)
        findings = await self._findings(row.id)
        start = self._start(token, repository, row.id)
        size = limit or DEFAULT_PAGE
        more = start + size < len(findings)
        next_token = self.pages.issue(_OPERATION, f"{repository.id}:{row.id}", start + size) if more else None
        updated = (await self.database.state()).updated_at
        counts = _counts(f.severity for f in findings)
        page = FindingsPage(
            shown,
            status,
            state.completed_at,
            updated,
            counts,
            findings[start : start + size],
            next_token,
            True,
        )
        return repository, page

    def _start(self, token: str | None, repository: EcrRepository, manifest_id: int) -> int:
        if token is None:
            return 0
        try:
            return int(self.pages.read(token, _OPERATION, f"{repository.id}:{manifest_id}"))
        except ValueError:
            raise parameter_error("nextToken", "Invalid NextToken") from None

    async def _findings(self, manifest_id: int) -> list[Finding]:
        rows = await self.inventories.findings(manifest_id)
        infos = await self.database.advisories({r.advisory_id for r in rows})
        findings = [_finding(row, infos.get(row.advisory_id)) for row in rows]
        findings.sort(key=lambda f: (_RANK.get(f.severity, 99), f.name, f.attributes))
        return findings

    async def _index_status(self, repository: EcrRepository, row: ImageRow) -> ScanStatus | None:
        record = await self.registry.store.get_manifest(repository.account_id, repository.name, row.digest)
        if record is None:
            return None
        parsed = parse_manifest(record.content, row.media_type)
        if not parsed.is_index:
            return None
        platforms = ", ".join(_platforms(record.content))
        text = "Image indexes are not scanned; each platform image is scanned under its own digest"
        return ScanStatus(UNSUPPORTED_IMAGE, f"{text}: {platforms}" if platforms else text)

    # -- DescribeImages' summaries --------------------------------------------------------------------

    async def summaries(self, rows: Sequence[ImageRow]) -> dict[int, ScanSummary]:
        """The scan status (and, for completed scans, the counts) of each image that has one."""
        states = await self.store.states([row.id for row in rows])
        complete = [m for m, s in states.items() if s.status == COMPLETE]
        counts = await self.inventories.severity_counts(complete) if complete else {}
        updated = (await self.database.state()).updated_at if complete else None
        return {m: _summary(state, counts.get(m), updated) for m, state in states.items()}


def _summary(state: ScanState, counts: dict[str, int] | None, updated: Any) -> ScanSummary:
    status = ScanStatus(state.status, state.description)
    if state.status != COMPLETE:
        return ScanSummary(status)
    return ScanSummary(status, state.completed_at, updated, dict(counts or {}))


def _counts(severities: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for severity in severities:
        counts[severity] = counts.get(severity, 0) + 1
    return counts


def _platforms(content: bytes) -> list[str]:
    """``os/architecture[/variant] digest`` of each entry of an index (parsed and checked at push)."""
    shown = []
    for entry in json.loads(content).get("manifests", []):
        platform = entry.get("platform") or {}
        parts = [platform.get("os"), platform.get("architecture"), platform.get("variant")]
        name = "/".join(str(p) for p in parts if p) or "unknown platform"
        shown.append(f"{name} {entry.get('digest')}")
    return shown


def _not_found(image_id: ImageId, name: str, account: str) -> str:
    return (
        f"Image scan does not exist for the image with '{{imageDigest:'{image_id.digest or 'null'}', "
        f"imageTag:'{image_id.tag or 'null'}'}}' in the repository with name '{name}' "
        f"in the registry with id '{account}'"
    )


def _finding(row: FindingRow, info: Any) -> Finding:
    package = row.package
    attributes = [("package_name", package.name), ("package_version", package.version)]
    if row.fixed_in:
        attributes.append(("fixed_in_version", row.fixed_in))
    if info is not None:
        for key, value in (
            ("CVSS3_SCORE", info.cvss3_score),
            ("CVSS3_VECTOR", info.cvss3_vector),
            ("CVSS2_SCORE", info.cvss2_score),
            ("CVSS2_VECTOR", info.cvss2_vector),
        ):
            if value is not None:
                attributes.append((key, str(value)))
    attributes += [("advisory_id", row.advisory_id), ("purl", package.purl)]
    name = info.name if info is not None else row.advisory_id
    description = info.description if info is not None else ""
    uri = info.uri if info is not None else f"https://osv.dev/vulnerability/{row.advisory_id}"
    return Finding(name, description, uri, row.severity, tuple(attributes))
