"""SQL for ECR's view of images: listings with tag filters, sizes as ECR computes them, deletes with ECR's
semantics (a tag's last removal removes the image), and pull times.

Reads the core tables (``manifests``, ``tags``, ``manifest_references``, ``blobs``) of the same database.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import ColumnElement, and_, delete, exists, func, literal, select, tuple_
from sqlalchemy.engine import Connection

from dockyard.metadata.ecr_store import EcrSql
from dockyard.metadata.ecr_tables import ecr_image_pulls
from dockyard.metadata.tables import UTCDateTime, blobs, manifest_references, manifests, repositories, tags
from dockyard.metadata.unit_sql import all_rows, execute, scalar, scalars
from dockyard.services.ecr_types import ImageRow

TagStatus = Literal["TAGGED", "UNTAGGED", "ANY"]
MAX_INDEX_DEPTH = 3

_IMAGE_COLUMNS = (
    manifests.c.id,
    manifests.c.digest,
    manifests.c.media_type,
    manifests.c.artifact_type,
    manifests.c.subject_digest,
    manifests.c.created_at,
)


@dataclass(frozen=True, slots=True)
class DeleteOutcome:
    """What deleting one image found: nothing, a blocking parent index, or the tags it removed."""

    found: bool
    digest: str | None = None
    tags: tuple[str, ...] = ()
    referenced_by: tuple[str, ...] = ()
    manifest_deleted: bool = False


@dataclass(frozen=True, slots=True)
class ImageIdRow:
    manifest_id: int
    digest: str
    tag: str | None


@dataclass(slots=True)
class ImageFacts:
    tags: dict[int, list[str]] = field(default_factory=dict)
    sizes: dict[int, int] = field(default_factory=dict)
    pulls: dict[int, datetime] = field(default_factory=dict)


class EcrImageStore(EcrSql):
    """Images of a repository as the ECR API lists, sizes and deletes them."""

    # -- images: listing ------------------------------------------------------------------------------

    def _tag_filter(self, status: TagStatus) -> ColumnElement[bool] | None:
        tagged = exists().where(tags.c.manifest_id == manifests.c.id)
        return {"TAGGED": tagged, "UNTAGGED": ~tagged}.get(status)

    async def image_page(
        self, repository_id: int, after: int | None, limit: int, status: TagStatus
    ) -> list[ImageRow]:
        query = select(*_IMAGE_COLUMNS).where(manifests.c.repository_id == repository_id)
        condition = self._tag_filter(status)
        if condition is not None:
            query = query.where(condition)
        if after is not None:
            query = query.where(manifests.c.id > after)
        rows = await self._read_unit(all_rows, query.order_by(manifests.c.id).limit(limit))
        return [_image_row(row) for row in rows]

    async def images_by_digest(self, repository_id: int, digests: Collection[str]) -> dict[str, ImageRow]:
        query = select(*_IMAGE_COLUMNS).where(
            manifests.c.repository_id == repository_id, manifests.c.digest.in_(list(digests))
        )
        return {row.digest: _image_row(row) for row in await self._read_unit(all_rows, query)}

    async def images_by_tag(self, repository_id: int, names: Collection[str]) -> dict[str, ImageRow]:
        query = (
            select(tags.c.name.label("tag"), *_IMAGE_COLUMNS)
            .join(manifests, manifests.c.id == tags.c.manifest_id)
            .where(tags.c.repository_id == repository_id, tags.c.name.in_(list(names)))
        )
        return {row.tag: _image_row(row) for row in await self._read_unit(all_rows, query)}

    async def image_id_page(
        self, repository_id: int, after: tuple[int, str] | None, limit: int, status: TagStatus
    ) -> list[ImageIdRow]:
        """One row per (image, tag), and one per untagged image; ordered by image, then tag."""
        tag_name = func.coalesce(self._lexical(tags.c.name), "")
        query = (
            select(manifests.c.id, manifests.c.digest, tags.c.name)
            .select_from(manifests.outerjoin(tags, tags.c.manifest_id == manifests.c.id))
            .where(manifests.c.repository_id == repository_id)
        )
        if status == "TAGGED":
            query = query.where(tags.c.name.is_not(None))
        elif status == "UNTAGGED":
            query = query.where(tags.c.name.is_(None))
        if after is not None:
            query = query.where(
                tuple_(manifests.c.id, tag_name) > tuple_(literal(after[0]), literal(after[1]))
            )
        rows = await self._read_unit(all_rows, query.order_by(manifests.c.id, tag_name).limit(limit))
        return [ImageIdRow(row.id, row.digest, row.name) for row in rows]

    async def image_facts(self, repository_id: int, ids: Collection[int]) -> ImageFacts:
        """Tags, sizes (ECR's: config + layers; an index, its largest child) and pull times of ``ids``."""
        if not ids:
            return ImageFacts()
        wanted = list(ids)
        tag_query = (
            select(tags.c.manifest_id, tags.c.name)
            .where(tags.c.manifest_id.in_(wanted))
            .order_by(self._lexical(tags.c.name))
        )
        return await self._read_unit(_image_facts, repository_id, wanted, tag_query)

    async def has_parent_index(self, repository_id: int, digest: str) -> list[str]:
        return await self._read_unit(_parents, repository_id, digest)

    # -- images: deleting -----------------------------------------------------------------------------

    async def delete_image_tag(self, repository_id: int, tag: str) -> DeleteOutcome:
        """Remove ``tag``; when it was the image's last tag remove the image too (ECR), unless an index in
        the repository still references it."""
        return await self._write_unit(_delete_image_tag, repository_id, tag)

    async def delete_image(self, repository_id: int, digest: str) -> DeleteOutcome:
        """Remove the image and all its tags, unless an index in the repository references it."""
        return await self._write_unit(_delete_image, repository_id, digest)

    # -- pull times -----------------------------------------------------------------------------------

    def _manifest_id(self, account: str, repository: str, digest: str) -> Any:
        return (
            select(manifests.c.id)
            .join(repositories, repositories.c.id == manifests.c.repository_id)
            .where(
                repositories.c.account_id == account,
                repositories.c.name == repository,
                manifests.c.digest == digest,
            )
        )

    async def pull_time(self, account: str, repository: str, digest: str) -> datetime | None:
        query = select(ecr_image_pulls.c.last_pulled_at).where(
            ecr_image_pulls.c.manifest_id == self._manifest_id(account, repository, digest).scalar_subquery()
        )
        found: datetime | None = await self._read_unit(scalar, query)
        return found

    async def record_pull(
        self, account: str, repository: str, digest: str, now: datetime, stale_before: datetime
    ) -> None:
        """Set the pull time to ``now`` unless one at or after ``stale_before`` is recorded already."""
        source = self._manifest_id(account, repository, digest).add_columns(literal(now, UTCDateTime()))
        statement = (
            self._insert(ecr_image_pulls)
            .from_select(["manifest_id", "last_pulled_at"], source)
            .on_conflict_do_update(
                index_elements=["manifest_id"],
                set_={"last_pulled_at": now},
                where=ecr_image_pulls.c.last_pulled_at < stale_before,
            )
        )
        await self._write_unit(execute, statement, bump=False)


def _image_row(row: Any) -> ImageRow:
    return ImageRow(row.id, row.digest, row.media_type, row.artifact_type, row.subject_digest, row.created_at)


def _image_facts(conn: Connection, repository_id: int, wanted: list[int], tag_query: Any) -> ImageFacts:
    facts = ImageFacts()
    for manifest_id, name in conn.execute(tag_query).all():
        facts.tags.setdefault(manifest_id, []).append(name)
    facts.sizes = _sizes(conn, repository_id, set(wanted), 0)
    pull_query = select(ecr_image_pulls).where(ecr_image_pulls.c.manifest_id.in_(wanted))
    facts.pulls = {r.manifest_id: r.last_pulled_at for r in conn.execute(pull_query).all()}
    return facts


def _sizes(conn: Connection, repository_id: int, ids: set[int], depth: int) -> dict[int, int]:
    sums_query = (
        select(manifest_references.c.manifest_id, func.sum(blobs.c.size))
        .join(blobs, blobs.c.digest == manifest_references.c.digest)
        .where(manifest_references.c.manifest_id.in_(list(ids)), manifest_references.c.kind == "blob")
        .group_by(manifest_references.c.manifest_id)
    )
    sums = {mid: int(total or 0) for mid, total in conn.execute(sums_query).all()}
    child = manifests.alias("child")
    children_query = (
        select(manifest_references.c.manifest_id, child.c.id)
        .join(
            child,
            and_(child.c.digest == manifest_references.c.digest, child.c.repository_id == repository_id),
        )
        .where(manifest_references.c.manifest_id.in_(list(ids)), manifest_references.c.kind == "manifest")
    )
    children: dict[int, list[int]] = {}
    for parent, child_id in conn.execute(children_query).all():
        children.setdefault(parent, []).append(child_id)
    nested = {c for found in children.values() for c in found}
    child_sizes = _sizes(conn, repository_id, nested, depth + 1) if nested and depth < MAX_INDEX_DEPTH else {}
    return {
        i: max((child_sizes.get(c, 0) for c in children[i]), default=0) if i in children else sums.get(i, 0)
        for i in ids
    }


def _parents(conn: Connection, repository_id: int, digest: str) -> list[str]:
    query = (
        select(manifests.c.digest)
        .join(manifest_references, manifest_references.c.manifest_id == manifests.c.id)
        .where(
            manifests.c.repository_id == repository_id,
            manifest_references.c.digest == digest,
            manifest_references.c.kind == "manifest",
        )
    )
    return scalars(conn, query)


def _delete_image_tag(conn: Connection, repository_id: int, tag: str) -> DeleteOutcome:
    # The delete says which manifest the tag named when it went, so a push moving the tag meanwhile
    # cannot make us report (or remove) the image it used to name.
    removed = delete(tags).where(tags.c.repository_id == repository_id, tags.c.name == tag)
    manifest_id = conn.execute(removed.returning(tags.c.manifest_id)).scalar()
    if manifest_id is None:
        return DeleteOutcome(found=False)
    digest: str = conn.execute(select(manifests.c.digest).where(manifests.c.id == manifest_id)).scalar_one()
    orphan = False
    if not _parents(conn, repository_id, digest):
        untagged = ~exists().where(tags.c.manifest_id == manifest_id)
        gone = conn.execute(delete(manifests).where(manifests.c.id == manifest_id, untagged))
        orphan = bool(gone.rowcount)
    return DeleteOutcome(found=True, digest=digest, tags=(tag,), manifest_deleted=orphan)


def _delete_image(conn: Connection, repository_id: int, digest: str) -> DeleteOutcome:
    query = select(manifests.c.id).where(
        manifests.c.repository_id == repository_id, manifests.c.digest == digest
    )
    manifest_id = conn.execute(query).scalar()
    if manifest_id is None:
        return DeleteOutcome(found=False)
    parents = _parents(conn, repository_id, digest)
    if parents:
        return DeleteOutcome(found=True, digest=digest, referenced_by=tuple(parents))
    tag_query = select(tags.c.name).where(tags.c.manifest_id == manifest_id).order_by(tags.c.name)
    names = tuple(conn.execute(tag_query).scalars())
    # A concurrent delete (BatchDeleteImage, lifecycle) may have removed the row since the read above: the
    # DELETE then waits for it and removes nothing, and only the one that removed the row reports it.
    if not conn.execute(delete(manifests).where(manifests.c.id == manifest_id)).rowcount:
        return DeleteOutcome(found=False)
    return DeleteOutcome(found=True, digest=digest, tags=names, manifest_deleted=True)


def delete_image_in(conn: Connection, repository_id: int, digest: str) -> DeleteOutcome:
    """BatchDeleteImage's delete of one image by digest, inside a caller's unit of work (lifecycle expiry
    uses it, so an expired image leaves exactly as a deleted one does)."""
    return _delete_image(conn, repository_id, digest)
