"""The SQLAlchemy implementation of :class:`dockyard.ports.MetadataStore`.

Portable SQL only (SQLite and PostgreSQL): upserts through each dialect's ``ON CONFLICT``, lexical order
through the ``C`` collation where the database would otherwise sort by locale.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Table, and_, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from dockyard.domain.errors import ManifestBlobUnknown, TagImmutable
from dockyard.domain.records import ImageSummary, ManifestRecord, NewManifest, Referrer, Repository, Upload
from dockyard.metadata.base import SqlStore
from dockyard.metadata.tables import (
    blobs,
    manifest_references,
    manifests,
    repositories,
    repository_blobs,
    tags,
    uploads,
)

_MANIFEST_COLUMNS = (
    manifests.c.digest,
    manifests.c.media_type,
    manifests.c.content,
    manifests.c.artifact_type,
    manifests.c.subject_digest,
    manifests.c.annotations,
    manifests.c.created_at,
)


class SqlMetadataStore(SqlStore):
    # -- repositories ---------------------------------------------------------------------------------

    async def create_repository(self, account: str, name: str) -> Repository:
        async with self._write() as conn:
            await conn.execute(
                self._insert(repositories)
                .values(account_id=account, name=name, created_at=self._clock.now())
                .on_conflict_do_nothing(index_elements=["account_id", "name"])
            )
            row = (await conn.execute(_repository_query(account, name))).one()
        return _repository(row)

    async def get_repository(self, account: str, name: str) -> Repository | None:
        async with self._read() as conn:
            row = (await conn.execute(_repository_query(account, name))).first()
        return None if row is None else _repository(row)

    async def delete_repository(self, account: str, name: str) -> bool:
        async with self._write() as conn:
            result = await conn.execute(
                delete(repositories).where(repositories.c.account_id == account, repositories.c.name == name)
            )
        return bool(result.rowcount)

    async def list_repositories(self, account: str, last: str | None, limit: int | None) -> list[str]:
        name = self._lexical(repositories.c.name)
        query = select(repositories.c.name).where(repositories.c.account_id == account).order_by(name)
        if last is not None:
            query = query.where(name > _before_nul(last))
        if limit is not None:
            query = query.limit(limit)
        async with self._read() as conn:
            return list((await conn.execute(query)).scalars())

    # -- blobs ----------------------------------------------------------------------------------------

    async def link_blob(self, repository_id: int, digest: str, size: int) -> None:
        async with self._write() as conn:
            await self._link(conn, repository_id, digest, size)

    async def _link(self, conn: AsyncConnection, repository_id: int, digest: str, size: int) -> None:
        now = self._clock.now()
        await conn.execute(
            self._insert(blobs)
            .values(digest=digest, size=size, created_at=now)
            .on_conflict_do_nothing(index_elements=["digest"])
        )
        await conn.execute(
            self._insert(repository_blobs)
            .values(repository_id=repository_id, digest=digest, created_at=now)
            .on_conflict_do_nothing(index_elements=["repository_id", "digest"])
        )

    async def linked_blob_size(self, repository_id: int, digest: str) -> int | None:
        query = (
            select(blobs.c.size)
            .join(repository_blobs, repository_blobs.c.digest == blobs.c.digest)
            .where(repository_blobs.c.repository_id == repository_id, blobs.c.digest == digest)
        )
        async with self._read() as conn:
            size: int | None = (await conn.execute(query)).scalar()
        return size

    async def blob_size(self, digest: str) -> int | None:
        async with self._read() as conn:
            size: int | None = (
                await conn.execute(select(blobs.c.size).where(blobs.c.digest == digest))
            ).scalar()
        return size

    async def repositories_with_blob(self, account: str, digest: str, limit: int = 50) -> list[str]:
        query = (
            select(repositories.c.name)
            .join(repository_blobs, repository_blobs.c.repository_id == repositories.c.id)
            .where(repository_blobs.c.digest == digest, repositories.c.account_id == account)
            .order_by(repositories.c.name)
            .limit(limit)
        )
        async with self._read() as conn:
            return list((await conn.execute(query)).scalars())

    async def unlink_blob(self, repository_id: int, digest: str) -> bool:
        async with self._write() as conn:
            result = await conn.execute(
                delete(repository_blobs).where(
                    repository_blobs.c.repository_id == repository_id, repository_blobs.c.digest == digest
                )
            )
        return bool(result.rowcount)

    # -- uploads --------------------------------------------------------------------------------------

    async def create_upload(self, upload: Upload) -> None:
        async with self._write() as conn:
            await conn.execute(
                uploads.insert().values(
                    id=upload.id,
                    repository_id=upload.repository_id,
                    size=upload.size,
                    started_at=upload.started_at,
                    updated_at=upload.updated_at,
                )
            )

    async def get_upload(self, repository_id: int, upload_id: str) -> Upload | None:
        if "\x00" in upload_id:  # a client's string; PostgreSQL text cannot hold NUL, and no id has one
            return None
        query = select(uploads).where(uploads.c.id == upload_id, uploads.c.repository_id == repository_id)
        async with self._read() as conn:
            row = (await conn.execute(query)).first()
        return (
            None
            if row is None
            else Upload(row.id, row.repository_id, row.size, row.started_at, row.updated_at)
        )

    async def set_upload_size(self, upload_id: str, size: int, at: datetime) -> None:
        async with self._write() as conn:
            await conn.execute(
                update(uploads).where(uploads.c.id == upload_id).values(size=size, updated_at=at)
            )

    async def finish_upload(self, upload_id: str, repository_id: int, digest: str, size: int) -> None:
        async with self._write() as conn:
            await self._link(conn, repository_id, digest, size)
            await conn.execute(delete(uploads).where(uploads.c.id == upload_id))

    async def delete_upload(self, upload_id: str) -> None:
        async with self._write() as conn:
            await conn.execute(delete(uploads).where(uploads.c.id == upload_id))

    async def stale_uploads(self, before: datetime) -> list[str]:
        async with self._read() as conn:
            rows = await conn.execute(select(uploads.c.id).where(uploads.c.updated_at < before))
            return list(rows.scalars())

    # -- manifests and tags ---------------------------------------------------------------------------

    async def put_manifest(
        self, repository_id: int, new: NewManifest, *, immutable_tag: bool = False
    ) -> None:
        async with self._write() as conn:
            if immutable_tag and new.tag is not None:
                await self._refuse_existing_tag(conn, repository_id, new.tag)
            await self._require(conn, repository_blobs, repository_id, new.blob_references)
            await self._require(conn, manifests, repository_id, new.manifest_references)
            manifest_id = await self._upsert_manifest(conn, repository_id, new)
            if new.tag is not None:
                now = self._clock.now()
                await conn.execute(
                    self._insert(tags)
                    .values(
                        repository_id=repository_id, name=new.tag, manifest_id=manifest_id, updated_at=now
                    )
                    .on_conflict_do_update(
                        index_elements=["repository_id", "name"],
                        set_={"manifest_id": manifest_id, "updated_at": now},
                    )
                )

    async def _refuse_existing_tag(self, conn: AsyncConnection, repository_id: int, tag: str) -> None:
        query = select(tags.c.manifest_id).where(tags.c.repository_id == repository_id, tags.c.name == tag)
        if (await conn.execute(query)).first() is not None:
            raise TagImmutable(f"tag {tag} exists and is immutable", tag=tag)

    async def _require(
        self, conn: AsyncConnection, table: Table, repository_id: int, digests: Iterable[str]
    ) -> None:
        wanted = list(digests)
        if not wanted:
            return
        query = select(table.c.digest).where(
            table.c.repository_id == repository_id, table.c.digest.in_(wanted)
        )
        found = set((await conn.execute(query)).scalars())
        for digest in wanted:
            if digest not in found:
                kind = "manifest" if table is manifests else "blob"
                raise ManifestBlobUnknown(f"blob unknown to registry: {digest}", digest=digest, kind=kind)

    async def _upsert_manifest(self, conn: AsyncConnection, repository_id: int, new: NewManifest) -> int:
        record = new.record
        inserted = await conn.execute(
            self._insert(manifests)
            .values(
                repository_id=repository_id,
                digest=record.digest,
                media_type=record.media_type,
                artifact_type=record.artifact_type,
                subject_digest=record.subject,
                annotations=record.annotations or None,
                content=record.content,
                size=len(record.content),
                created_at=self._clock.now(),
            )
            .on_conflict_do_nothing(index_elements=["repository_id", "digest"])
            .returning(manifests.c.id)
        )
        manifest_id = inserted.scalar()
        if manifest_id is None:
            query = select(manifests.c.id).where(
                manifests.c.repository_id == repository_id, manifests.c.digest == record.digest
            )
            found: int = (await conn.execute(query)).scalar_one()
            return found
        references = [{"manifest_id": manifest_id, "digest": d, "kind": "blob"} for d in new.blob_references]
        references += [
            {"manifest_id": manifest_id, "digest": d, "kind": "manifest"} for d in new.manifest_references
        ]
        if references:
            await conn.execute(manifest_references.insert(), references)
        return int(manifest_id)

    async def get_manifest(self, account: str, repository: str, digest: str) -> ManifestRecord | None:
        query = (
            select(*_MANIFEST_COLUMNS)
            .join(repositories, repositories.c.id == manifests.c.repository_id)
            .where(
                repositories.c.account_id == account,
                repositories.c.name == repository,
                manifests.c.digest == digest,
            )
        )
        async with self._read() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else _manifest(row)

    async def get_tagged_manifest(self, account: str, repository: str, tag: str) -> ManifestRecord | None:
        query = (
            select(*_MANIFEST_COLUMNS)
            .join(tags, tags.c.manifest_id == manifests.c.id)
            .join(repositories, repositories.c.id == tags.c.repository_id)
            .where(
                repositories.c.account_id == account, repositories.c.name == repository, tags.c.name == tag
            )
        )
        async with self._read() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else _manifest(row)

    async def delete_manifest(self, repository_id: int, digest: str) -> bool:
        async with self._write() as conn:
            result = await conn.execute(
                delete(manifests).where(
                    manifests.c.repository_id == repository_id, manifests.c.digest == digest
                )
            )
        return bool(result.rowcount)

    async def delete_tag(self, repository_id: int, tag: str) -> bool:
        async with self._write() as conn:
            result = await conn.execute(
                delete(tags).where(tags.c.repository_id == repository_id, tags.c.name == tag)
            )
        return bool(result.rowcount)

    async def list_tags(self, repository_id: int, last: str | None, limit: int | None) -> list[str]:
        name = self._lexical(tags.c.name)
        query = select(tags.c.name).where(tags.c.repository_id == repository_id).order_by(name)
        if last is not None:
            query = query.where(name > _before_nul(last))
        if limit is not None:
            query = query.limit(limit)
        async with self._read() as conn:
            return list((await conn.execute(query)).scalars())

    async def list_referrers(self, repository_id: int, subject: str) -> list[Referrer]:
        query = (
            select(
                manifests.c.digest,
                manifests.c.media_type,
                manifests.c.artifact_type,
                manifests.c.annotations,
                manifests.c.size,
            )
            .where(and_(manifests.c.repository_id == repository_id, manifests.c.subject_digest == subject))
            .order_by(manifests.c.id)
        )
        async with self._read() as conn:
            rows = (await conn.execute(query)).all()
        return [
            Referrer(r.digest, r.media_type, r.size, r.artifact_type, dict(r.annotations or {})) for r in rows
        ]

    async def list_images(self, repository_id: int) -> list[ImageSummary]:
        sizes = (
            select(manifest_references.c.manifest_id, func.sum(blobs.c.size).label("blob_bytes"))
            .join(blobs, blobs.c.digest == manifest_references.c.digest)
            .where(manifest_references.c.kind == "blob")
            .group_by(manifest_references.c.manifest_id)
            .subquery()
        )
        query = (
            select(
                manifests.c.id,
                manifests.c.digest,
                manifests.c.media_type,
                manifests.c.size,
                manifests.c.created_at,
                sizes.c.blob_bytes,
            )
            .outerjoin(sizes, sizes.c.manifest_id == manifests.c.id)
            .where(manifests.c.repository_id == repository_id)
            .order_by(manifests.c.created_at.desc(), manifests.c.id.desc())
        )
        tag_query = select(tags.c.manifest_id, tags.c.name).where(tags.c.repository_id == repository_id)
        async with self._read() as conn:
            rows = (await conn.execute(query)).all()
            tag_rows = (await conn.execute(tag_query.order_by(self._lexical(tags.c.name)))).all()
        by_manifest: dict[int, list[str]] = {}
        for manifest_id, name in tag_rows:
            by_manifest.setdefault(manifest_id, []).append(name)
        return [
            ImageSummary(
                r.digest,
                r.media_type,
                r.size + int(r.blob_bytes or 0),
                r.created_at,
                tuple(by_manifest.get(r.id, ())),
            )
            for r in rows
        ]


def _repository_query(account: str, name: str) -> Any:
    return select(repositories).where(repositories.c.account_id == account, repositories.c.name == name)


def _repository(row: Any) -> Repository:
    return Repository(row.id, row.name, row.created_at, row.account_id)


def _before_nul(last: str) -> str:
    """``last`` cut at its first NUL, which PostgreSQL text cannot hold. No stored name or tag contains NUL
    (the smallest character), so ``value > last`` and ``value > last[:first NUL]`` agree for all of them."""
    return last.split("\x00", 1)[0]


def _manifest(row: Any) -> ManifestRecord:
    return ManifestRecord(
        digest=row.digest,
        media_type=row.media_type,
        content=bytes(row.content),
        artifact_type=row.artifact_type,
        subject=row.subject_digest,
        annotations=dict(row.annotations or {}),
        created_at=row.created_at,
    )
