"""The Protocols between the services and their adapters.

Services depend on these only; ``app.py`` picks the implementations. Every implementation of a Protocol
passes the same contract suite (``tests/contract``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Protocol

from dockyard.domain.records import ImageSummary, ManifestRecord, NewManifest, Referrer, Repository, Upload


class Clock(Protocol):
    def now(self) -> datetime: ...


class ChangeSignal(Protocol):
    """A value every process of the registry sees change right after any metadata write commits.

    Readers compare it before and after a cached lookup; it is not a counter, only "has anything moved".
    """

    def current(self) -> int: ...
    def bump(self) -> None: ...


class BlobDriver(Protocol):
    """A dumb, path-level byte store. Content addressing lives above it (``blobstore.content``).

    Paths are ``/``-separated and relative. A path written by :meth:`write_at` is private scratch space
    until :meth:`commit` moves it, durably and atomically, to its final path.
    """

    async def stat(self, path: str) -> int | None:
        """Size of the object at ``path``, or ``None`` when there is none."""

    def local_path(self, path: str) -> Path | None:
        """A filesystem path the server may send zero-copy, or ``None`` when the driver has none."""

    def read(self, path: str, offset: int = 0, length: int | None = None) -> AsyncIterator[bytes]:
        """Stream ``length`` bytes (to the end when ``None``) from ``offset``."""

    async def write_at(self, path: str, offset: int, data: bytes, *, truncate: bool) -> None:
        """Write ``data`` at ``offset``; with ``truncate`` drop anything past the written end first."""

    async def commit(self, src: str, dst: str) -> None:
        """Make ``src`` durable and move it to ``dst``; an existing ``dst`` is kept and ``src`` dropped."""

    async def delete(self, path: str) -> None:
        """Remove ``path`` (and, for a scratch directory, everything below it). Missing is not an error."""

    async def list(self, prefix: str) -> list[tuple[str, datetime]]:
        """``(path, last modified)`` of the objects whose path starts with ``prefix``."""


class TagRules(Protocol):
    """Repository settings a manifest push obeys (ECR's tag immutability)."""

    async def is_immutable(self, repository_id: int, tag: str) -> bool: ...


class MetadataStore(Protocol):
    """Repositories, blob links, manifests, tags and upload sessions.

    Repositories are named within an account: every lookup by name takes the account first.

    Each method is one transaction. Races (two pushes of one tag, two creations of one repository) are
    settled by constraints, never by check-then-insert.
    """

    async def create_repository(self, account: str, name: str) -> Repository: ...
    async def get_repository(self, account: str, name: str) -> Repository | None: ...
    async def delete_repository(self, account: str, name: str) -> bool: ...
    async def list_repositories(self, account: str, last: str | None, limit: int | None) -> list[str]: ...

    async def link_blob(self, repository_id: int, digest: str, size: int) -> None: ...
    async def linked_blob_size(self, repository_id: int, digest: str) -> int | None: ...
    async def blob_size(self, digest: str) -> int | None: ...
    async def repositories_with_blob(self, account: str, digest: str, limit: int = 50) -> list[str]: ...
    async def unlink_blob(self, repository_id: int, digest: str) -> bool: ...

    async def create_upload(self, upload: Upload) -> None: ...
    async def get_upload(self, repository_id: int, upload_id: str) -> Upload | None: ...
    async def set_upload_size(self, upload_id: str, size: int, at: datetime) -> None: ...
    async def delete_upload(self, upload_id: str) -> None: ...
    async def finish_upload(self, upload_id: str, repository_id: int, digest: str, size: int) -> None:
        """Link the uploaded blob and end its session, in one transaction."""

    async def stale_uploads(self, before: datetime) -> list[str]: ...

    async def put_manifest(
        self, repository_id: int, new: NewManifest, *, immutable_tag: bool = False
    ) -> None:
        """Store the manifest and move its tag; raise ``ManifestBlobUnknown`` for a missing reference.

        With ``immutable_tag`` a tag that exists already is not moved: ``TagImmutable``, nothing stored.
        """

    async def get_manifest(self, account: str, repository: str, digest: str) -> ManifestRecord | None: ...
    async def get_tagged_manifest(self, account: str, repository: str, tag: str) -> ManifestRecord | None: ...
    async def delete_manifest(self, repository_id: int, digest: str) -> bool: ...
    async def delete_tag(self, repository_id: int, tag: str) -> bool: ...
    async def list_tags(self, repository_id: int, last: str | None, limit: int | None) -> list[str]: ...
    async def list_referrers(self, repository_id: int, subject: str) -> list[Referrer]: ...
    async def list_images(self, repository_id: int) -> list[ImageSummary]: ...
