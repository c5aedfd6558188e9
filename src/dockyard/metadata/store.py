"""The SQLAlchemy implementation of :class:`dockyard.ports.MetadataStore`.

Portable SQL only (SQLite and PostgreSQL): upserts through each dialect's ``ON CONFLICT``, lexical order
through the ``C`` collation where the database would otherwise sort by locale.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, func, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from dockyard.domain.errors import BlobDeleting, ManifestBlobUnknown, NameUnknown, TagImmutable
from dockyard.domain.records import ImageSummary, ManifestRecord, NewManifest, Referrer, Repository, Upload
from dockyard.metadata.base import SqlStore
from dockyard.metadata.gc_sql import claim_blob
from dockyard.metadata.statements import core_statements
from dockyard.metadata.tables import (
    blobs,
    manifest_references,
    manifests,
    repositories,
    repository_blobs,
    tags,
    uploads,
)
from dockyard.ports import Clock


class SqlMetadataStore(SqlStore):
    def __init__(self, engine: AsyncEngine, clock: Clock) -> None:
        super().__init__(engine, clock)
        self._sql = core_statements(self._dialect)

    async def _repository_write(self, fn: Callable[..., None], /, *args: Any) -> None:
        """A write into a repository, which may be deleted while a push to it is under way: the foreign
        key then refuses the rows, and the caller hears ``NAME_UNKNOWN`` (the only constraint these writes
        can break; every other conflict is settled with ``ON CONFLICT``)."""
        try:
            await self._write_unit(fn, *args)
        except IntegrityError:
            raise NameUnknown("repository name not known to registry") from None

    # -- repositories ---------------------------------------------------------------------------------

    async def create_repository(self, account: str, name: str) -> Repository:
        return await self._write_unit(self._create_repository, account, name)

    def _create_repository(self, conn: Connection, account: str, name: str) -> Repository:
        conn.execute(
            self._insert(repositories)
            .values(account_id=account, name=name, created_at=self._clock.now())
            .on_conflict_do_nothing(index_elements=["account_id", "name"])
        )
        return _repository(conn.execute(self._sql.get_repository, {"account": account, "name": name}).one())

    async def get_repository(self, account: str, name: str) -> Repository | None:
        row = await self._read_unit(_first, self._sql.get_repository, {"account": account, "name": name})
        return None if row is None else _repository(row)

    async def delete_repository(self, account: str, name: str) -> bool:
        query = delete(repositories).where(repositories.c.account_id == account, repositories.c.name == name)
        return await self._write_unit(_deleted, query)

    async def list_repositories(self, account: str, last: str | None, limit: int | None) -> list[str]:
        name = self._lexical(repositories.c.name)
        query = select(repositories.c.name).where(repositories.c.account_id == account).order_by(name)
        if last is not None:
            query = query.where(name > _before_nul(last))
        if limit is not None:
            query = query.limit(limit)
        return await self._read_unit(_scalars, query)

    # -- blobs ----------------------------------------------------------------------------------------

    async def claim_blob(self, digest: str, size: int) -> bool:
        return await self._write_unit(claim_blob, self._sql, digest, size, self._clock.now())

    async def link_blob(self, repository_id: int, digest: str, size: int) -> None:
        await self._repository_write(self._link, repository_id, digest, size)

    def _link(self, conn: Connection, repository_id: int, digest: str, size: int) -> None:
        """The blob's row held (shared) to the commit, so GC cannot tombstone it meanwhile (docs/gc.md)."""
        now = self._clock.now()
        if not claim_blob(conn, self._sql, digest, size, now):
            raise BlobDeleting(digest=digest)
        conn.execute(self._sql.link_blob, {"repository_id": repository_id, "digest": digest, "now": now})

    async def linked_blob_size(self, repository_id: int, digest: str) -> int | None:
        values = {"repository_id": repository_id, "digest": digest}
        return await self._read_unit(_scalar_int, self._sql.linked_blob_size, values)

    async def blob_size(self, digest: str) -> int | None:
        return await self._read_unit(_scalar_int, select(blobs.c.size).where(blobs.c.digest == digest))

    async def repositories_with_blob(self, account: str, digest: str, limit: int = 50) -> list[str]:
        query = (
            select(repositories.c.name)
            .join(repository_blobs, repository_blobs.c.repository_id == repositories.c.id)
            .where(repository_blobs.c.digest == digest, repositories.c.account_id == account)
            .order_by(repositories.c.name)
            .limit(limit)
        )
        return await self._read_unit(_scalars, query)

    async def unlink_blob(self, repository_id: int, digest: str) -> bool:
        query = delete(repository_blobs).where(
            repository_blobs.c.repository_id == repository_id, repository_blobs.c.digest == digest
        )
        return await self._write_unit(_deleted, query)

    # -- uploads --------------------------------------------------------------------------------------

    async def create_upload(self, upload: Upload) -> None:
        values = {
            "id": upload.id,
            "repository_id": upload.repository_id,
            "size": upload.size,
            "started_at": upload.started_at,
            "updated_at": upload.updated_at,
        }
        await self._repository_write(_execute, self._sql.create_upload, values)

    async def get_upload(self, repository_id: int, upload_id: str) -> Upload | None:
        if "\x00" in upload_id:  # a client's string; PostgreSQL text cannot hold NUL, and no id has one
            return None
        values = {"upload_id": upload_id, "repository_id": repository_id}
        row = await self._read_unit(_first, self._sql.get_upload, values)
        return (
            None
            if row is None
            else Upload(row.id, row.repository_id, row.size, row.started_at, row.updated_at)
        )

    async def set_upload_size(self, upload_id: str, size: int, at: datetime) -> None:
        values = {"upload_id": upload_id, "size": size, "at": at}
        await self._write_unit(_execute, self._sql.set_upload_size, values)

    async def finish_upload(self, upload_id: str, repository_id: int, digest: str, size: int) -> None:
        await self._repository_write(self._finish_upload, upload_id, repository_id, digest, size)

    def _finish_upload(
        self, conn: Connection, upload_id: str, repository_id: int, digest: str, size: int
    ) -> None:
        self._link(conn, repository_id, digest, size)
        conn.execute(self._sql.delete_upload, {"upload_id": upload_id})

    async def delete_upload(self, upload_id: str) -> None:
        await self._write_unit(_execute, self._sql.delete_upload, {"upload_id": upload_id})

    async def stale_uploads(self, before: datetime) -> list[str]:
        return await self._read_unit(_scalars, select(uploads.c.id).where(uploads.c.updated_at < before))

    # -- manifests and tags ---------------------------------------------------------------------------

    async def put_manifest(
        self, repository_id: int, new: NewManifest, *, immutable_tag: bool = False
    ) -> None:
        await self._repository_write(self._put_manifest, repository_id, new, immutable_tag)

    def _put_manifest(
        self, conn: Connection, repository_id: int, new: NewManifest, immutable_tag: bool
    ) -> None:
        sql = self._sql
        _require(conn, sql.linked_digests, "blob", repository_id, new.blob_references)
        _require(conn, sql.manifest_digests, "manifest", repository_id, new.manifest_references)
        manifest_id = self._upsert_manifest(conn, repository_id, new)
        if new.tag is not None:
            values = {"repository_id": repository_id, "tag": new.tag, "manifest_id": manifest_id}
            if not immutable_tag:
                conn.execute(sql.upsert_tag, {**values, "now": self._clock.now()})
            elif not conn.execute(sql.insert_tag, {**values, "now": self._clock.now()}).rowcount:
                # The tag exists (or a concurrent push just made it): the unit rolls back, nothing stored.
                raise TagImmutable(f"tag {new.tag} exists and is immutable", tag=new.tag)

    def _upsert_manifest(self, conn: Connection, repository_id: int, new: NewManifest) -> int:
        record = new.record
        values = {
            "repository_id": repository_id,
            "digest": record.digest,
            "media_type": record.media_type,
            "artifact_type": record.artifact_type,
            "subject_digest": record.subject,
            "annotations": record.annotations or None,
            "content": record.content,
            "size": len(record.content),
            "created_at": self._clock.now(),
        }
        manifest_id = conn.execute(self._sql.insert_manifest, values).scalar()
        if manifest_id is None:
            where = {"repository_id": repository_id, "digest": record.digest}
            found: int = conn.execute(self._sql.manifest_id, where).scalar_one()
            return found
        references = [{"manifest_id": manifest_id, "digest": d, "kind": "blob"} for d in new.blob_references]
        references += [
            {"manifest_id": manifest_id, "digest": d, "kind": "manifest"} for d in new.manifest_references
        ]
        if references:
            conn.execute(self._sql.insert_references, references)
        return int(manifest_id)

    async def get_manifest(self, account: str, repository: str, digest: str) -> ManifestRecord | None:
        values = {"account": account, "name": repository, "digest": digest}
        row = await self._read_unit(_first, self._sql.get_manifest, values)
        return None if row is None else _manifest(row)

    async def get_tagged_manifest(self, account: str, repository: str, tag: str) -> ManifestRecord | None:
        values = {"account": account, "name": repository, "tag": tag}
        row = await self._read_unit(_first, self._sql.get_tagged_manifest, values)
        return None if row is None else _manifest(row)

    async def delete_manifest(self, repository_id: int, digest: str) -> bool:
        query = delete(manifests).where(
            manifests.c.repository_id == repository_id, manifests.c.digest == digest
        )
        return await self._write_unit(_deleted, query)

    async def delete_tag(self, repository_id: int, tag: str) -> bool:
        query = delete(tags).where(tags.c.repository_id == repository_id, tags.c.name == tag)
        return await self._write_unit(_deleted, query)

    async def list_tags(self, repository_id: int, last: str | None, limit: int | None) -> list[str]:
        name = self._lexical(tags.c.name)
        query = select(tags.c.name).where(tags.c.repository_id == repository_id).order_by(name)
        if last is not None:
            query = query.where(name > _before_nul(last))
        if limit is not None:
            query = query.limit(limit)
        return await self._read_unit(_scalars, query)

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
        rows = await self._read_unit(_all, query)
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
        tag_query = (
            select(tags.c.manifest_id, tags.c.name)
            .where(tags.c.repository_id == repository_id)
            .order_by(self._lexical(tags.c.name))
        )
        rows, tag_rows = await self._read_unit(_all_of_both, query, tag_query)
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


def _execute(conn: Connection, query: Any, values: dict[str, Any] | None = None) -> None:
    conn.execute(query, values)


def _deleted(conn: Connection, query: Any) -> bool:
    return bool(conn.execute(query).rowcount)


def _first(conn: Connection, query: Any, values: dict[str, Any] | None = None) -> Any:
    return conn.execute(query, values).first()


def _all(conn: Connection, query: Any) -> list[Any]:
    return list(conn.execute(query).all())


def _all_of_both(conn: Connection, first: Any, second: Any) -> tuple[list[Any], list[Any]]:
    return list(conn.execute(first).all()), list(conn.execute(second).all())


def _scalars(conn: Connection, query: Any) -> list[Any]:
    return list(conn.execute(query).scalars())


def _scalar_int(conn: Connection, query: Any, values: dict[str, Any] | None = None) -> int | None:
    value: int | None = conn.execute(query, values).scalar()
    return value


def _require(conn: Connection, query: Any, kind: str, repository_id: int, digests: Iterable[str]) -> None:
    """Every one of ``digests`` is in the repository (``query`` selects those that are)."""
    wanted = list(digests)
    if not wanted:
        return
    found = set(conn.execute(query, {"repository_id": repository_id, "digests": wanted}).scalars())
    for digest in wanted:
        if digest not in found:
            raise ManifestBlobUnknown(f"blob unknown to registry: {digest}", digest=digest, kind=kind)


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
