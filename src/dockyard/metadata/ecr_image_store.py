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
from sqlalchemy.ext.asyncio import AsyncConnection

from dockyard.metadata.ecr_store import EcrSql
from dockyard.metadata.ecr_tables import ecr_image_pulls
from dockyard.metadata.tables import UTCDateTime, blobs, manifest_references, manifests, repositories, tags
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
        async with self._read() as conn:
            rows = (await conn.execute(query.order_by(manifests.c.id).limit(limit))).all()
        return [_image_row(row) for row in rows]

    async def images_by_digest(self, repository_id: int, digests: Collection[str]) -> dict[str, ImageRow]:
        query = select(*_IMAGE_COLUMNS).where(
            manifests.c.repository_id == repository_id, manifests.c.digest.in_(list(digests))
        )
        async with self._read() as conn:
            return {row.digest: _image_row(row) for row in (await conn.execute(query)).all()}

    async def images_by_tag(self, repository_id: int, names: Collection[str]) -> dict[str, ImageRow]:
        query = (
            select(tags.c.name.label("tag"), *_IMAGE_COLUMNS)
            .join(manifests, manifests.c.id == tags.c.manifest_id)
            .where(tags.c.repository_id == repository_id, tags.c.name.in_(list(names)))
        )
        async with self._read() as conn:
            return {row.tag: _image_row(row) for row in (await conn.execute(query)).all()}

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
        async with self._read() as conn:
            rows = (await conn.execute(query.order_by(manifests.c.id, tag_name).limit(limit))).all()
        return [ImageIdRow(row.id, row.digest, row.name) for row in rows]

    async def image_facts(self, repository_id: int, ids: Collection[int]) -> ImageFacts:
        """Tags, sizes (ECR's: config + layers; an index, its largest child) and pull times of ``ids``."""
        facts = ImageFacts()
        if not ids:
            return facts
        wanted = list(ids)
        async with self._read() as conn:
            tag_query = (
                select(tags.c.manifest_id, tags.c.name)
                .where(tags.c.manifest_id.in_(wanted))
                .order_by(self._lexical(tags.c.name))
            )
            for manifest_id, name in (await conn.execute(tag_query)).all():
                facts.tags.setdefault(manifest_id, []).append(name)
            facts.sizes = await self._sizes(conn, repository_id, set(wanted), 0)
            pull_query = select(ecr_image_pulls).where(ecr_image_pulls.c.manifest_id.in_(wanted))
            facts.pulls = {r.manifest_id: r.last_pulled_at for r in (await conn.execute(pull_query)).all()}
        return facts

    async def _sizes(
        self, conn: AsyncConnection, repository_id: int, ids: set[int], depth: int
    ) -> dict[int, int]:
        sums_query = (
            select(manifest_references.c.manifest_id, func.sum(blobs.c.size))
            .join(blobs, blobs.c.digest == manifest_references.c.digest)
            .where(manifest_references.c.manifest_id.in_(list(ids)), manifest_references.c.kind == "blob")
            .group_by(manifest_references.c.manifest_id)
        )
        sums = {mid: int(total or 0) for mid, total in (await conn.execute(sums_query)).all()}
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
        for parent, child_id in (await conn.execute(children_query)).all():
            children.setdefault(parent, []).append(child_id)
        nested = {c for found in children.values() for c in found}
        child_sizes = (
            await self._sizes(conn, repository_id, nested, depth + 1)
            if nested and depth < MAX_INDEX_DEPTH
            else {}
        )
        return {
            i: max((child_sizes.get(c, 0) for c in children[i]), default=0)
            if i in children
            else sums.get(i, 0)
            for i in ids
        }

    async def has_parent_index(self, repository_id: int, digest: str) -> list[str]:
        async with self._read() as conn:
            return await self._parents(conn, repository_id, digest)

    async def _parents(self, conn: AsyncConnection, repository_id: int, digest: str) -> list[str]:
        query = (
            select(manifests.c.digest)
            .join(manifest_references, manifest_references.c.manifest_id == manifests.c.id)
            .where(
                manifests.c.repository_id == repository_id,
                manifest_references.c.digest == digest,
                manifest_references.c.kind == "manifest",
            )
        )
        return list((await conn.execute(query)).scalars())

    # -- images: deleting -----------------------------------------------------------------------------

    async def delete_image_tag(self, repository_id: int, tag: str) -> DeleteOutcome:
        """Remove ``tag``; when it was the image's last tag remove the image too (ECR), unless an index in
        the repository still references it."""
        async with self._write() as conn:
            query = (
                select(manifests.c.id, manifests.c.digest)
                .join(tags, tags.c.manifest_id == manifests.c.id)
                .where(tags.c.repository_id == repository_id, tags.c.name == tag)
            )
            row = (await conn.execute(query)).first()
            if row is None:
                return DeleteOutcome(found=False)
            await conn.execute(delete(tags).where(tags.c.repository_id == repository_id, tags.c.name == tag))
            others = select(exists().where(tags.c.manifest_id == row.id))
            orphan = not (await conn.execute(others)).scalar() and not await self._parents(
                conn, repository_id, row.digest
            )
            if orphan:
                await conn.execute(delete(manifests).where(manifests.c.id == row.id))
        return DeleteOutcome(found=True, digest=row.digest, tags=(tag,), manifest_deleted=orphan)

    async def delete_image(self, repository_id: int, digest: str) -> DeleteOutcome:
        """Remove the image and all its tags, unless an index in the repository references it."""
        async with self._write() as conn:
            query = select(manifests.c.id).where(
                manifests.c.repository_id == repository_id, manifests.c.digest == digest
            )
            manifest_id = (await conn.execute(query)).scalar()
            if manifest_id is None:
                return DeleteOutcome(found=False)
            parents = await self._parents(conn, repository_id, digest)
            if parents:
                return DeleteOutcome(found=True, digest=digest, referenced_by=tuple(parents))
            tag_query = select(tags.c.name).where(tags.c.manifest_id == manifest_id).order_by(tags.c.name)
            names = tuple((await conn.execute(tag_query)).scalars())
            await conn.execute(delete(manifests).where(manifests.c.id == manifest_id))
        return DeleteOutcome(found=True, digest=digest, tags=names, manifest_deleted=True)

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
        async with self._read() as conn:
            found: datetime | None = (await conn.execute(query)).scalar()
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
        async with self._write(bump=False) as conn:
            await conn.execute(statement)


def _image_row(row: Any) -> ImageRow:
    return ImageRow(row.id, row.digest, row.media_type, row.artifact_type, row.subject_digest, row.created_at)
