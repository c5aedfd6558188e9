"""Garbage collection's values: its policy (grace windows) and what a run found or did (``docs/gc.md``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True)
class GcPolicy:
    """``grace``: how long a blob stays after a run first finds it unreferenced, and how long a link no
    manifest uses stays after it was last made. It must outlast any presigned URL handed out for a blob
    (``redirect_ttl_seconds``) and the longest time between an upload's claim of a blob and its link.
    ``orphan_after``: a tombstone this old was left by a run that stopped; another run finishes it.
    """

    grace: timedelta = timedelta(days=1)
    orphan_after: timedelta = timedelta(minutes=5)
    batch: int = 500

    def __post_init__(self) -> None:
        if self.grace < timedelta(0) or self.orphan_after <= timedelta(0) or self.batch < 1:
            raise ValueError("grace must be >= 0, orphan_after > 0 and batch >= 1")

    def cutoff(self, now: datetime) -> datetime:
        """Marks and links older than this are past their grace."""
        return now - self.grace


@dataclass(frozen=True, slots=True)
class GcPlan:
    """What a run would delete now (``dockyard gc --dry-run``), and what waits for its grace to pass."""

    links: list[tuple[str, str]]  # (repository "account/name", digest) links no manifest uses
    blobs: list[tuple[str, int]]  # (digest, size) blobs a sweep would delete
    waiting_blobs: int = 0
    waiting_bytes: int = 0

    @property
    def bytes(self) -> int:
        return sum(size for _, size in self.blobs)


@dataclass(slots=True)
class GcResult:
    """What a run did."""

    links_removed: int = 0
    marked: int = 0
    unmarked: int = 0
    blobs_deleted: int = 0
    bytes_deleted: int = 0
    deleted: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class RepositoryUsage:
    """Storage a repository uses: the distinct blobs it links and its manifests (a blob shared by several
    repositories counts in each)."""

    name: str
    blob_bytes: int
    blobs: int
    manifest_bytes: int

    @property
    def total(self) -> int:
        return self.blob_bytes + self.manifest_bytes
