"""A read-through cache in front of any :class:`~dockyard.ports.MetadataStore` (a decorator, as in
Distribution's storage stack).

What is cached: the lookups on the pull path (repository by name, manifest by tag and by digest, a
repository's blob link, pages of tag names), including "not found". How it stays correct: every write
through any process bumps the shared :class:`~dockyard.ports.ChangeSignal` after it commits; a reader
that sees the signal move drops the whole cache. A lookup result is stored only when the signal did not
move while it ran, so a value read before a concurrent write can live at most until that writer's bump,
which precedes the writer's own response.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar

from dockyard.caching import SignalCache
from dockyard.domain.records import ImageSummary, ManifestRecord, NewManifest, Referrer, Repository, Upload
from dockyard.ports import ChangeSignal, MetadataStore

T = TypeVar("T")
_ENTRY_OVERHEAD = 256
DEFAULT_CACHE_BYTES = 64 * 1024 * 1024


def _weight(value: Any) -> int:
    if isinstance(value, ManifestRecord):
        return _ENTRY_OVERHEAD + len(value.content)
    if isinstance(value, list):  # a page of tag names
        return _ENTRY_OVERHEAD + sum(len(name) + 56 for name in value)
    return _ENTRY_OVERHEAD


REPOSITORY_ENTRIES = 65536


class CachedMetadataStore:
    def __init__(
        self,
        inner: MetadataStore,
        signal: ChangeSignal,
        max_bytes: int = DEFAULT_CACHE_BYTES,
        *,
        access: ChangeSignal | None = None,
    ) -> None:
        """``access``, when given, is also bumped when a repository comes or goes (the access caches hold
        decisions and policies per repository)."""
        self._inner = inner
        self._signal = signal
        self._access = access
        self._data = SignalCache(signal, max_bytes, getsizeof=_weight)
        # Repositories come and go only with a bump of the access slot, so pushes leave this one warm.
        self._repositories = SignalCache(access or signal, REPOSITORY_ENTRIES)

    async def _cached(self, key: tuple[str, ...], load: Callable[[], Awaitable[T]]) -> T:
        return await self._data.get(key, load)

    async def _write(self, result: Awaitable[T]) -> T:
        try:
            return await result
        finally:
            self._signal.bump()

    # -- cached reads ---------------------------------------------------------------------------------

    async def get_repository(self, account: str, name: str) -> Repository | None:
        return await self._repositories.get(
            ("repo", account, name), lambda: self._inner.get_repository(account, name)
        )

    async def get_manifest(self, account: str, repository: str, digest: str) -> ManifestRecord | None:
        return await self._cached(
            ("digest", account, repository, digest),
            lambda: self._inner.get_manifest(account, repository, digest),
        )

    async def get_tagged_manifest(self, account: str, repository: str, tag: str) -> ManifestRecord | None:
        return await self._cached(
            ("tag", account, repository, tag),
            lambda: self._inner.get_tagged_manifest(account, repository, tag),
        )

    async def linked_blob_size(self, repository_id: int, digest: str) -> int | None:
        return await self._cached(
            ("link", str(repository_id), digest), lambda: self._inner.linked_blob_size(repository_id, digest)
        )

    # -- uncached reads -------------------------------------------------------------------------------

    async def list_repositories(self, account: str, last: str | None, limit: int | None) -> list[str]:
        return await self._inner.list_repositories(account, last, limit)

    async def blob_size(self, digest: str) -> int | None:
        return await self._inner.blob_size(digest)

    async def repositories_with_blob(self, account: str, digest: str, limit: int = 50) -> list[str]:
        return await self._inner.repositories_with_blob(account, digest, limit)

    async def get_upload(self, repository_id: int, upload_id: str) -> Upload | None:
        return await self._inner.get_upload(repository_id, upload_id)

    async def stale_uploads(self, before: datetime) -> list[str]:
        return await self._inner.stale_uploads(before)

    async def list_tags(self, repository_id: int, last: str | None, limit: int | None) -> list[str]:
        key = ("tags", str(repository_id), last or "", str(limit))
        page = await self._cached(key, lambda: self._inner.list_tags(repository_id, last, limit))
        return list(page)  # the caller may trim it

    async def list_referrers(self, repository_id: int, subject: str) -> list[Referrer]:
        return await self._inner.list_referrers(repository_id, subject)

    async def list_images(self, repository_id: int) -> list[ImageSummary]:
        return await self._inner.list_images(repository_id)

    # -- writes that change what is cached ------------------------------------------------------------

    async def create_repository(self, account: str, name: str) -> Repository:
        try:
            return await self._write(self._inner.create_repository(account, name))
        finally:
            self._bump_access()

    async def delete_repository(self, account: str, name: str) -> bool:
        try:
            return await self._write(self._inner.delete_repository(account, name))
        finally:
            self._bump_access()

    def _bump_access(self) -> None:
        if self._access is not None:
            self._access.bump()

    async def claim_blob(self, digest: str, size: int) -> bool:
        return await self._inner.claim_blob(digest, size)  # nothing cached depends on a blob's row

    async def link_blob(self, repository_id: int, digest: str, size: int) -> None:
        await self._write(self._inner.link_blob(repository_id, digest, size))

    async def unlink_blob(self, repository_id: int, digest: str) -> bool:
        return await self._write(self._inner.unlink_blob(repository_id, digest))

    async def put_manifest(
        self, repository_id: int, new: NewManifest, *, immutable_tag: bool = False
    ) -> None:
        await self._write(self._inner.put_manifest(repository_id, new, immutable_tag=immutable_tag))

    async def delete_manifest(self, repository_id: int, digest: str) -> bool:
        return await self._write(self._inner.delete_manifest(repository_id, digest))

    async def delete_tag(self, repository_id: int, tag: str) -> bool:
        return await self._write(self._inner.delete_tag(repository_id, tag))

    # -- upload sessions: nothing cached depends on them ----------------------------------------------

    async def create_upload(self, upload: Upload) -> None:
        await self._inner.create_upload(upload)

    async def set_upload_size(self, upload_id: str, size: int, at: datetime) -> None:
        await self._inner.set_upload_size(upload_id, size, at)

    async def delete_upload(self, upload_id: str) -> None:
        await self._inner.delete_upload(upload_id)

    async def finish_upload(self, upload_id: str, repository_id: int, digest: str, size: int) -> None:
        await self._write(self._inner.finish_upload(upload_id, repository_id, digest, size))
