"""The registry's use cases: repositories, blobs, uploads, manifests, tags, referrers.

Write order is always bytes first (blob store), then metadata in one transaction; anything the metadata
does not reference is invisible to clients and reclaimable.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterable, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

from dockyard.blobstore.content import BlobStore, Claim
from dockyard.blobstore.content import Upload as BlobUpload
from dockyard.domain.digest import Digest
from dockyard.domain.errors import (
    BlobDeleting,
    BlobUnknown,
    BlobUploadUnknown,
    ManifestUnknown,
    NameUnknown,
    RangeInvalid,
)
from dockyard.domain.records import Repository, Upload
from dockyard.domain.reference import validate_name
from dockyard.ports import Clock, MetadataStore

ReadCheck = Callable[[str, str], Awaitable[bool]]  # (account, repository name): may the caller read it?
DIRECT_PREFIX = "direct-"
CLAIM_ATTEMPTS = 100  # times CLAIM_PAUSE: how long an upload waits for a collection of its blob to end
CLAIM_PAUSE = 0.1


async def _allow_all(_account: str, _name: str) -> bool:
    return True


@dataclass(frozen=True, slots=True)
class RegistryPolicy:
    create_on_push: bool = True
    upload_expiry: timedelta = timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class UploadState:
    repository: str  # the name, within its account
    id: str
    size: int


@dataclass(frozen=True, slots=True)
class MountResult:
    """Either the blob was mounted (``digest`` set) or a fresh upload was started (``upload`` set)."""

    digest: Digest | None
    upload: UploadState | None


class RegistryService:
    def __init__(self, store: MetadataStore, blobs: BlobStore, clock: Clock, policy: RegistryPolicy) -> None:
        self.store = store
        self.blobs = blobs
        self.clock = clock
        self.policy = policy
        self._upload_locks: dict[str, asyncio.Lock] = {}

    # -- repositories ---------------------------------------------------------------------------------

    async def repository(self, account: str, name: str) -> Repository:
        """The existing repository ``name`` of ``account``; :class:`NameUnknown` when there is none."""
        validate_name(name)
        repository = await self.store.get_repository(account, name)
        if repository is None:
            raise NameUnknown("repository name not known to registry", name=name)
        return repository

    async def repository_for_push(self, account: str, name: str) -> Repository:
        validate_name(name)
        repository = await self.store.get_repository(account, name)
        if repository is not None:
            return repository
        if not self.policy.create_on_push:
            raise NameUnknown("repository name not known to registry", name=name)
        return await self.store.create_repository(account, name)

    async def create_repository(self, account: str, name: str) -> Repository:
        return await self.store.create_repository(account, validate_name(name))

    async def delete_repository(self, account: str, name: str) -> None:
        validate_name(name)
        if not await self.store.delete_repository(account, name):
            raise NameUnknown("repository name not known to registry", name=name)

    async def catalog(self, account: str, limit: int | None, last: str | None) -> list[str]:
        return await self.store.list_repositories(account, last, limit)

    # -- blobs ----------------------------------------------------------------------------------------

    async def blob_size(self, account: str, name: str, digest: Digest) -> int:
        repository = await self.repository(account, name)
        size = await self.store.linked_blob_size(repository.id, str(digest))
        if size is None:
            raise BlobUnknown("blob unknown to registry", digest=str(digest))
        return size

    async def blob_url(self, digest: Digest) -> str | None:
        """A short-lived direct URL for a blob the caller was found able to read, when storage has one."""
        return await self.blobs.download_url(digest)

    async def delete_blob(self, account: str, name: str, digest: Digest) -> None:
        repository = await self.repository(account, name)
        if not await self.store.unlink_blob(repository.id, str(digest)):
            raise BlobUnknown("blob unknown to registry", digest=str(digest))

    # -- uploads --------------------------------------------------------------------------------------

    async def start_upload(self, account: str, name: str) -> UploadState:
        repository = await self.repository_for_push(account, name)
        now = self.clock.now()
        upload = Upload(str(uuid.uuid4()), repository.id, 0, now, now)
        await self.store.create_upload(upload)
        return UploadState(name, upload.id, 0)

    async def mount(
        self, account: str, name: str, digest: Digest, source: str | None, can_read: ReadCheck = _allow_all
    ) -> MountResult:
        """Link ``digest`` into ``name`` from ``source`` (or, without one, from any readable repository).

        A source the caller cannot read, or that lacks the blob, gives a fresh upload session: the answer
        never reveals whether the blob exists where the caller cannot see.
        """
        repository = await self.repository_for_push(account, name)
        size = await self._mountable_size(account, digest, source, can_read)
        if size is None or await self.blobs.stat(digest) is None:
            return MountResult(None, await self.start_upload(account, name))
        try:
            await self.store.link_blob(repository.id, str(digest), size)
        except BlobDeleting:  # garbage collection is deleting it: the client uploads it instead
            return MountResult(None, await self.start_upload(account, name))
        return MountResult(digest, None)

    async def _mountable_size(
        self, account: str, digest: Digest, source: str | None, can_read: ReadCheck
    ) -> int | None:
        if source is not None:
            try:
                validate_name(source)
            except Exception:
                return None
            if not await can_read(account, source):
                return None
            origin = await self.store.get_repository(account, source)
            return None if origin is None else await self.store.linked_blob_size(origin.id, str(digest))
        for candidate in await self.store.repositories_with_blob(account, str(digest)):
            if await can_read(account, candidate):
                return await self.store.blob_size(str(digest))
        return None

    async def upload(self, account: str, name: str, upload_id: str) -> UploadState:
        repository = await self.repository(account, name)
        upload = await self.store.get_upload(repository.id, upload_id)
        if upload is None:
            raise BlobUploadUnknown("blob upload unknown to registry", upload=upload_id[:64])
        return UploadState(name, upload.id, upload.size)

    def _lock(self, upload_id: str) -> asyncio.Lock:
        return self._upload_locks.setdefault(upload_id, asyncio.Lock())

    async def append(
        self,
        account: str,
        name: str,
        upload_id: str,
        stream: AsyncIterable[bytes],
        start: int | None = None,
        length: int | None = None,
    ) -> UploadState:
        """Append a chunk. ``start`` (from ``Content-Range``) must equal the bytes received so far."""
        async with self._lock(upload_id):
            state = await self.upload(account, name, upload_id)
            if start is not None and start != state.size:
                raise RangeInvalid("chunk out of order", size=state.size)
            size = await self.blobs.append(upload_id, state.size, stream, length)
            await self.store.set_upload_size(upload_id, size, self.clock.now())
            return UploadState(name, upload_id, size)

    async def complete(
        self,
        account: str,
        name: str,
        upload_id: str,
        digest: Digest,
        stream: AsyncIterable[bytes] | None = None,
        start: int | None = None,
        length: int | None = None,
    ) -> None:
        """Append the optional last chunk, verify ``digest`` and link the blob; the session ends."""
        async with self._lock(upload_id):
            state = await self.upload(account, name, upload_id)
            if start is not None and start != state.size:
                raise RangeInvalid("chunk out of order", size=state.size)
            upload = await self.blobs.open(upload_id, state.size, digest)
            if stream is not None:
                await upload.receive(stream, length)
            repository = await self.repository(account, name)
            try:
                await upload.commit(digest, self._claim(digest, upload))
            except Exception:
                await self._end_upload(upload_id)
                raise
            await self.store.finish_upload(upload_id, repository.id, str(digest), upload.size)
            await self.blobs.discard(upload_id)
            self._upload_locks.pop(upload_id, None)

    async def upload_blob(
        self, account: str, name: str, digest: Digest, stream: AsyncIterable[bytes], length: int | None = None
    ) -> None:
        """A whole blob in one request (``POST ?digest=``): no session row, since no client can resume it.

        Its scratch bytes are named ``direct-…``; if the process dies mid-way the expiry sweep removes them.
        """
        repository = await self.repository_for_push(account, name)
        scratch = f"{DIRECT_PREFIX}{uuid.uuid4()}"
        try:
            upload = await self.blobs.open(scratch, 0, digest)
            size = await upload.receive(stream, length)
            await upload.commit(digest, self._claim(digest, upload))
        finally:
            await self.blobs.discard(scratch)
        await self.store.link_blob(repository.id, str(digest), size)

    def _claim(self, digest: Digest, upload: BlobUpload) -> Claim:
        """Garbage collection's claim (``docs/gc.md``): the blob's row exists and is unmarked before its
        bytes reach its path, so no collection that could delete them is under way or can start before
        the link. A blob being collected is waited for (its tombstone goes right after its bytes)."""

        async def claim() -> None:
            for _ in range(CLAIM_ATTEMPTS):
                if await self.store.claim_blob(str(digest), upload.size):
                    return
                await asyncio.sleep(CLAIM_PAUSE)
            raise BlobDeleting(digest=str(digest))

        return claim

    async def cancel(self, account: str, name: str, upload_id: str) -> None:
        await self.upload(account, name, upload_id)
        await self._end_upload(upload_id)

    async def _end_upload(self, upload_id: str) -> None:
        await self.store.delete_upload(upload_id)
        await self.blobs.discard(upload_id)
        self._upload_locks.pop(upload_id, None)

    async def expire_uploads(self) -> int:
        """Remove upload sessions idle past the expiry; returns how many."""
        cutoff = self.clock.now() - self.policy.upload_expiry
        stale = await self.store.stale_uploads(cutoff)
        for upload_id in stale:
            await self._end_upload(upload_id)
        orphans = await self.blobs.stale_scratch(DIRECT_PREFIX, cutoff)
        for scratch in orphans:
            await self.blobs.discard(scratch)
        return len(stale) + len(orphans)

    # -- tags -----------------------------------------------------------------------------------------

    async def tags(self, account: str, name: str, limit: int | None, last: str | None) -> list[str]:
        repository = await self.repository(account, name)
        return await self.store.list_tags(repository.id, last, limit)

    async def require_manifest(self, account: str, name: str, digest: str) -> None:
        if await self.store.get_manifest(account, name, digest) is None:
            raise ManifestUnknown("manifest unknown", digest=digest)
