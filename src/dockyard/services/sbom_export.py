"""SBOMs of scanned images: an image's stored inventory as CycloneDX or SPDX (:mod:`dockyard.sbom`), and
the SBOM attached to the image as an OCI referrer (an artifact manifest whose ``subject`` is the image, its
``artifactType`` the SBOM's media type), so ``oras discover`` and the referrers API find it.

The document is a pure function of the inventory and the scan's completion time: two exports of one scan
are byte-identical, and attaching twice stores the same artifact once.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass

from dockyard import __version__
from dockyard.domain.digest import Digest
from dockyard.domain.scanning.inventory import Inventory
from dockyard.metadata.scan_inventory import os_of
from dockyard.sbom import MEDIA_TYPES, SbomSubject, render
from dockyard.services.ecr import RegistryRef, parameter_error
from dockyard.services.ecr_types import EcrRepository, ImageId
from dockyard.services.manifests import ManifestService
from dockyard.services.scan_types import ScanNotFound
from dockyard.services.scanning import COMPLETE, Scanning

EMPTY_CONFIG = "application/vnd.oci.empty.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


@dataclass(frozen=True, slots=True)
class Sbom:
    repository: EcrRepository
    subject: SbomSubject
    media_type: str
    content: bytes


class SbomExport:
    def __init__(self, scanning: Scanning, manifests: ManifestService) -> None:
        self.scanning = scanning
        self.manifests = manifests

    async def export(self, name: str, registry: RegistryRef, image_id: ImageId, kind: str) -> Sbom:
        """The image's SBOM in ``kind`` (``cyclonedx`` or ``spdx``); ScanNotFound unless it was scanned."""
        if kind not in MEDIA_TYPES:
            raise parameter_error("format", f"format must be one of {', '.join(MEDIA_TYPES)}")
        repository, details = await self.scanning.images.describe_ids(name, registry, [image_id])
        detail = details[0]
        state = (await self.scanning.store.states([detail.row.id])).get(detail.row.id)
        if state is None or state.status != COMPLETE or state.completed_at is None:
            raise ScanNotFound(f"The image {detail.row.digest} in '{name}' has no completed scan")
        packages = await self.scanning.inventories.inventory(detail.row.id)
        inventory = Inventory(os_of(state), tuple(sorted(packages, key=lambda p: (p.type, p.name, p.path))))
        host = self.scanning.repositories.endpoint_host(repository.account_id)
        subject = SbomSubject(name, detail.row.digest, host, tuple(sorted(detail.tags)))
        content = render(kind, inventory, subject, __version__, state.completed_at)
        return Sbom(repository, subject, MEDIA_TYPES[kind], content)

    async def attach(
        self, name: str, registry: RegistryRef, image_id: ImageId, kind: str
    ) -> tuple[Sbom, str]:
        """Push the SBOM as a referrer of the image; the SBOM and the artifact manifest's digest."""
        sbom = await self.export(name, registry, image_id, kind)
        account = sbom.repository.account_id
        registry_service = self.scanning.registry
        blobs = {EMPTY_CONFIG: b"{}", sbom.media_type: sbom.content}
        for data in blobs.values():
            await registry_service.upload_blob(account, name, Digest.of(data), _once(data), len(data))
        manifest = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": sbom.media_type,
            "config": _descriptor(EMPTY_CONFIG, b"{}"),
            "layers": [_descriptor(sbom.media_type, sbom.content)],
            "subject": await self._subject(account, name, sbom),
            "annotations": {"org.opencontainers.image.created": _created(sbom.content)},
        }
        body = json.dumps(manifest, separators=(",", ":"), sort_keys=True).encode()
        pushed = await self.manifests.put(account, name, str(Digest.of(body)), body, OCI_MANIFEST)
        return sbom, pushed.digest

    async def _subject(self, account: str, name: str, sbom: Sbom) -> dict[str, object]:
        record = await self.scanning.registry.store.get_manifest(account, name, sbom.subject.digest)
        if record is None:
            raise ScanNotFound(f"The image {sbom.subject.digest} in '{name}' was deleted")
        return _descriptor(record.media_type, record.content)


def _descriptor(media_type: str, data: bytes) -> dict[str, object]:
    return {"mediaType": media_type, "digest": str(Digest.of(data)), "size": len(data)}


def _created(content: bytes) -> str:
    """The SBOM's own creation time (CycloneDX ``metadata.timestamp``, SPDX ``creationInfo.created``)."""
    document = json.loads(content)
    created = document.get("metadata", {}).get("timestamp") or document.get("creationInfo", {}).get("created")
    return str(created)


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data
