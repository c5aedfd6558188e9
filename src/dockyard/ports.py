"""The Protocols between the services and their adapters.

Services depend on these only; ``app.py`` picks the implementations. Every implementation of a Protocol
passes the same contract suite (``tests/contract``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Collection, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Protocol

from dockyard.domain.gc import GcPlan, RepositoryUsage
from dockyard.domain.jobs import JobSchedule
from dockyard.domain.records import ImageSummary, ManifestRecord, NewManifest, Referrer, Repository, Upload
from dockyard.domain.scanning.inventory import Inventory, LayerBlob
from dockyard.domain.vulns.ecosystems import MatchQuery
from dockyard.domain.vulns.info import AdvisoryInfo
from dockyard.domain.vulns.matching import Match


class Clock(Protocol):
    def now(self) -> datetime: ...


class ChangeSignal(Protocol):
    """A value every process of the registry sees change right after any metadata write commits.

    Readers compare it before and after a cached lookup; it is not a counter, only "has anything moved".
    """

    def current(self) -> int: ...
    def bump(self) -> None: ...


class BlobWriter(Protocol):
    """The bytes of one upload in progress at a scratch path, invisible until :meth:`commit`.

    A writer lives for one request. :meth:`save` persists what it holds so that
    ``BlobDriver.resume(path, size)`` continues it on any process (no state stays in memory);
    :meth:`abandon` drops what was written since it was opened or resumed.
    """

    @property
    def size(self) -> int:
        """Bytes written so far, from the start of the upload."""

    async def write(self, data: bytes) -> None:
        """Append ``data`` (the driver may buffer it until :meth:`save` or :meth:`commit`)."""

    async def save(self, state: bytes = b"") -> None:
        """Persist the bytes written and ``state`` (opaque, small) for a resume at :attr:`size`."""

    async def commit(self, dst: str) -> None:
        """Make the bytes durable and move them to ``dst`` (atomically: all or nothing visible there).

        An existing ``dst`` is kept (content-addressed paths hold the same bytes). ``dst`` may be the
        writer's own path: the bytes become a finished object there, readable with ``read``.
        """

    async def abandon(self) -> None:
        """Stop; bytes written since the writer was opened are dropped by the next resume."""


class BlobDriver(Protocol):
    """A dumb, path-level byte store. Content addressing lives above it (``blobstore.content``).

    Paths are ``/``-separated and relative. A path being written by a :class:`BlobWriter` is private
    scratch space until the writer commits it; :meth:`delete` of a scratch directory removes every
    writer and object below it.
    """

    async def stat(self, path: str) -> int | None:
        """Size of the finished object at ``path``, or ``None`` when there is none."""

    def local_path(self, path: str) -> Path | None:
        """A filesystem path the server may send zero-copy, or ``None`` when the driver has none."""

    async def download_url(self, path: str, expires_in: int) -> str | None:
        """A URL any client may GET the object from for ``expires_in`` seconds, or ``None``."""

    def read(self, path: str, offset: int = 0, length: int | None = None) -> AsyncIterator[bytes]:
        """Stream ``length`` bytes (to the end when ``None``) of a finished object from ``offset``."""

    async def writer(self, path: str, destination: str | None = None) -> BlobWriter:
        """A new, empty writer at ``path`` (whatever was written there before is dropped).

        ``destination``: where the caller will commit it, when that is known before the first byte (a blob
        whose digest came with it). A driver may then stage the bytes there, invisible until the commit,
        and save the move; such a writer commits only to ``destination``. :meth:`delete` of ``path`` (or a
        directory above it) still removes everything the writer left.
        """

    async def resume(self, path: str, size: int) -> tuple[BlobWriter, bytes] | None:
        """The writer a ``save`` left at exactly ``size`` bytes and the state saved with it, or ``None``.

        Callers resume only at the size they last acknowledged; saves at other sizes may be dropped.
        """

    async def commit(self, src: str, dst: str) -> None:
        """Move the finished object ``src`` to ``dst`` durably; an existing ``dst`` is kept, ``src`` goes."""

    async def delete(self, path: str) -> None:
        """Remove the object at ``path`` and everything below ``path/``: objects and the writers opened there
        (staged ones included). Missing is not an error. A writer staged at ``path`` itself is left alone:
        it goes with the directory it was opened in."""

    async def list(self, prefix: str) -> list[tuple[str, datetime]]:
        """``(path, last modified)`` of what lies under ``prefix`` (objects and scratch entries)."""


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

    async def claim_blob(self, digest: str, size: int) -> bool:
        """Before an upload's bytes move to the blob's path: make sure the blob's row exists and is not
        marked by GC (``docs/gc.md``); ``False`` while GC is deleting it (try again shortly)."""

    async def link_blob(self, repository_id: int, digest: str, size: int) -> None:
        """Link the blob (creating its row if needed); ``BlobDeleting`` when GC is deleting it."""

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


class KeyRingStore(Protocol):
    """Sealed server key rings shared by replicas, one value per purpose."""

    async def load(self, purpose: str) -> bytes | None: ...

    async def create(self, purpose: str, sealed: bytes) -> bytes:
        """Store ``sealed`` unless a value exists (the first replica wins); the value stored now."""

    async def replace(self, purpose: str, change: Callable[[bytes | None], bytes]) -> bytes:
        """Rewrite the value as ``change(current)`` atomically (no lost update); the new value."""


class JobLeases(Protocol):
    """Leases on background jobs, so that each due run happens on one replica at a time.

    A job is due at ``due_at``; :meth:`claim` takes it for ``owner`` until ``until`` only when it is due
    and nobody holds an unexpired lease (one statement, so concurrent claims have one winner). The holder
    renews before its lease lapses; a holder that dies stops renewing and another replica claims the job
    when the lease has lapsed.
    """

    async def ensure(self, name: str, due_at: datetime) -> None: ...
    async def claimable(self, now: datetime) -> JobSchedule:
        """The jobs due at ``now`` that nobody holds, and the soonest time another one may become claimable
        (a read, so idle replicas poll without writing)."""
        ...

    async def claim(self, name: str, owner: str, now: datetime, until: datetime) -> bool: ...
    async def renew(self, name: str, owner: str, until: datetime) -> bool: ...
    async def finish(self, name: str, owner: str, now: datetime, due_at: datetime) -> None: ...
    async def release(self, name: str, owner: str) -> None: ...


Link = tuple[int, str]  # (repository id, digest)


class GcStore(Protocol):
    """Garbage collection's units of work (``docs/gc.md``): candidates are read without locks, then each
    deciding write locks them and re-checks references before it reclaims anything."""

    async def stale_links(self, cutoff: datetime, after: Link, limit: int) -> list[Link]:
        """(repository id, digest) links no manifest of the repository uses, last made before ``cutoff``."""

    async def reclaim_links(self, links: list[Link], cutoff: datetime) -> int: ...

    async def mark(self, now: datetime) -> tuple[int, int]:
        """Mark unreferenced blobs, clear the marks of referenced ones: (marked, cleared)."""

    async def sweepable(self, cutoff: datetime, after: str, limit: int) -> list[tuple[str, int]]: ...

    async def tombstone(self, digests: list[str], cutoff: datetime, now: datetime) -> list[tuple[str, int]]:
        """Of ``digests``, tombstone those still marked before ``cutoff`` and unreferenced; those (digest,
        size): their bytes may be deleted."""

    async def tombstoned(self, before: datetime, limit: int) -> list[tuple[str, int]]: ...

    async def forget(self, digests: list[str]) -> int:
        """Delete the tombstoned rows (after their bytes)."""

    async def plan(self, cutoff: datetime) -> GcPlan: ...
    async def usage(self, account: str) -> list[RepositoryUsage]: ...


class InventoryBuilder(Protocol):
    """Reads an image's layers (untrusted) into its package inventory; blocking, CPU-bound work.

    Raises :class:`~dockyard.domain.scanning.inventory.ScanFailed` for layers it will not read (hostile or
    broken, with the reason) and ``UnsupportedImage`` for images it cannot read."""

    def __call__(self, layers: Sequence[LayerBlob], scratch: Path) -> Inventory: ...


class VulnerabilityDatabaseState(Protocol):
    @property
    def generation(self) -> int: ...
    @property
    def updated_at(self) -> datetime | None: ...


class VulnerabilityDatabase(Protocol):
    """The imported advisories (``services/vulndb.py``), as image scanning consults them."""

    async def state(self) -> VulnerabilityDatabaseState:
        """The database's generation (moves on every import that changes it) and when its data was last
        updated (ECR's ``vulnerabilitySourceUpdatedAt``)."""
        ...

    async def match(self, queries: Collection[MatchQuery]) -> Mapping[MatchQuery, Sequence[Match]]: ...
    async def advisories(self, ids: Collection[str]) -> Mapping[str, AdvisoryInfo]: ...
