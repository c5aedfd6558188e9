"""Immutable value objects the metadata store hands to the services.

They are plain data: no lazy loading, no database handles (Quay's lesson).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Repository:
    id: int
    name: str
    created_at: datetime
    account_id: str


@dataclass(frozen=True, slots=True)
class Upload:
    id: str
    repository_id: int
    size: int
    started_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class ManifestRecord:
    """A stored manifest; ``content`` is the exact bytes that were pushed."""

    digest: str
    media_type: str
    content: bytes
    artifact_type: str | None = None
    subject: str | None = None
    annotations: dict[str, str] = field(default_factory=dict)
    created_at: datetime | None = None

    @property
    def size(self) -> int:
        return len(self.content)


@dataclass(frozen=True, slots=True)
class NewManifest:
    """What a manifest PUT asks the store to record, in one transaction."""

    record: ManifestRecord
    blob_references: tuple[str, ...]
    manifest_references: tuple[str, ...]
    tag: str | None


@dataclass(frozen=True, slots=True)
class Referrer:
    digest: str
    media_type: str
    size: int
    artifact_type: str | None
    annotations: dict[str, str]


@dataclass(frozen=True, slots=True)
class ImageSummary:
    """One manifest of a repository with its tags; ``size`` sums the blobs it references."""

    digest: str
    media_type: str
    size: int
    pushed_at: datetime
    tags: tuple[str, ...]
