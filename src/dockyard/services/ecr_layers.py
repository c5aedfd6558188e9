"""ECR's layer use cases: BatchCheckLayerAvailability, GetDownloadUrlForLayer, and the upload trio
InitiateLayerUpload / UploadLayerPart / CompleteLayerUpload over the registry's resumable upload sessions.

Part rules (ECR's): InitiateLayerUpload suggests 10 MiB parts; every part but the last must be at least
5 MiB (else LayerPartTooSmallException at completion); a part carries at most 20 MiB (the model's limit);
parts arrive in order, each starting at the byte after the last one received (else InvalidLayerPartException
naming the last valid byte). Completion verifies the digest before the layer becomes visible.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from urllib.parse import urlencode

from dockyard.domain.digest import Digest
from dockyard.domain.errors import BlobUploadUnknown, DigestInvalid, RangeInvalid, Unsupported
from dockyard.metadata.ecr_store import EcrStore
from dockyard.ports import Clock
from dockyard.services.ecr import EcrConfig, EcrRepositories, RegistryRef, parameter_error
from dockyard.services.ecr_tokens import UrlSigner
from dockyard.services.ecr_types import (
    EcrRepository,
    EmptyUpload,
    InvalidLayer,
    InvalidLayerPart,
    LayerAlreadyExists,
    LayerPartTooSmall,
    LayersNotFound,
    UploadNotFound,
)
from dockyard.services.registry import RegistryService

PART_SIZE = 10 * 1024 * 1024
MIN_PART_SIZE = 5 * 1024 * 1024
DOWNLOAD_PATH = "/_dockyard/ecr/layer"


@dataclass(frozen=True, slots=True)
class LayerState:
    digest: str
    size: int | None  # None: not in the repository


@dataclass(frozen=True, slots=True)
class LayerFailure:
    digest: str
    code: str
    reason: str


async def _single(data: bytes) -> AsyncIterator[bytes]:
    yield data


class EcrLayers:
    def __init__(
        self,
        repositories: EcrRepositories,
        store: EcrStore,
        registry: RegistryService,
        clock: Clock,
        config: EcrConfig,
        signer: UrlSigner,
    ) -> None:
        self.repositories = repositories
        self.store = store
        self.registry = registry
        self.clock = clock
        self.config = config
        self.signer = signer

    async def availability(
        self, name: str, registry: RegistryRef, digests: Sequence[str]
    ) -> tuple[EcrRepository, list[LayerState], list[LayerFailure]]:
        repository = await self.repositories.get(name, registry)
        layers, failures = [], []
        for text in dict.fromkeys(digests):
            if not text:
                failures.append(LayerFailure(text, "MissingLayerDigest", "The layer digest is missing."))
                continue
            try:
                digest = str(Digest.parse(text))
            except (DigestInvalid, Unsupported):
                failures.append(
                    LayerFailure(text, "InvalidLayerDigest", f"Invalid layer digest: {text[:200]}")
                )
                continue
            layers.append(
                LayerState(digest, await self.registry.store.linked_blob_size(repository.id, digest))
            )
        return repository, layers, failures

    async def download_url(self, name: str, registry: RegistryRef, digest: str, base_url: str) -> str:
        """A short-lived URL the client GETs directly, signed over repository, digest and expiry."""
        repository = await self.repositories.get(name, registry)
        try:
            parsed = Digest.parse(digest)
        except (DigestInvalid, Unsupported):
            raise parameter_error("layerDigest", "Invalid layer digest") from None
        if await self.registry.store.linked_blob_size(repository.id, str(parsed)) is None:
            raise LayersNotFound(
                f"The layer with digest '{parsed}' does not exist in the repository with name '{name}' "
                f"in the registry with id '{repository.account_id}'"
            )
        direct = await self.registry.blob_url(parsed)
        if direct is not None:  # blobs in S3: a presigned S3 URL, as ECR's own
            return direct
        expires = self.clock.now() + self.config.download_lifetime
        query = self.signer.sign(repository.account_id, name, str(parsed), expires)
        return f"{base_url.rstrip('/')}{DOWNLOAD_PATH}?{urlencode(query)}"

    # -- uploads --------------------------------------------------------------------------------------

    async def initiate(self, name: str, registry: RegistryRef) -> tuple[EcrRepository, str, int]:
        repository = await self.repositories.get(name, registry)
        state = await self.registry.start_upload(repository.account_id, name)
        return repository, state.id, PART_SIZE

    async def _session_size(self, repository: EcrRepository, upload_id: str) -> int:
        try:
            return (await self.registry.upload(repository.account_id, repository.name, upload_id)).size
        except BlobUploadUnknown:
            raise UploadNotFound(
                f"The upload with id '{upload_id}' does not exist in the repository with name "
                f"'{repository.name}' in the registry with id '{repository.account_id}'"
            ) from None

    async def upload_part(
        self, name: str, registry: RegistryRef, upload_id: str, first: int, last: int, data: bytes
    ) -> tuple[EcrRepository, int]:
        """Append one part; returns the last byte received so far."""
        repository = await self.repositories.get(name, registry)
        received = await self._session_size(repository, upload_id)
        if first != received or last < first or last - first + 1 != len(data):
            raise InvalidLayerPart(
                f"The layer part from byte {first} to byte {last} is not valid: {len(data)} bytes were sent "
                f"and the next part must start at byte {received}",
                last_valid_byte=max(received - 1, 0),
            )
        try:
            state = await self.registry.append(
                repository.account_id, name, upload_id, _single(data), first, len(data)
            )
        except RangeInvalid as exc:  # another part got in first
            raise InvalidLayerPart(
                "The layer part does not continue the upload", last_valid_byte=max(exc.size - 1, 0)
            ) from None
        await self.store.note_upload_part(upload_id, len(data), MIN_PART_SIZE)
        return repository, state.size - 1

    async def complete(
        self, name: str, registry: RegistryRef, upload_id: str, digests: Sequence[str]
    ) -> tuple[EcrRepository, str]:
        repository = await self.repositories.get(name, registry)
        if len(digests) != 1:
            raise parameter_error("layerDigests", "exactly one layer digest must be given")
        try:
            digest = Digest.parse(digests[0])
        except (DigestInvalid, Unsupported):
            raise parameter_error("layerDigests", "Invalid layer digest") from None
        size = await self._session_size(repository, upload_id)
        if size == 0:
            raise EmptyUpload(f"The upload with id '{upload_id}' contains no layer parts")
        if await self.store.small_inner_part(upload_id):
            raise LayerPartTooSmall(f"Every layer part but the last must be at least {MIN_PART_SIZE} bytes")
        if await self.registry.store.linked_blob_size(repository.id, str(digest)) is not None:
            await self.registry.cancel(repository.account_id, name, upload_id)
            raise LayerAlreadyExists(
                f"The layer '{digest}' already exists in the repository with name '{name}' in registry "
                f"with id '{repository.account_id}'"
            )
        try:
            await self.registry.complete(repository.account_id, name, upload_id, digest)
        except DigestInvalid:
            raise InvalidLayer(
                f"The layer digest '{digest}' does not match the digest of the uploaded content"
            ) from None
        return repository, str(digest)
