"""The registry's hot statements, built once per dialect with bound parameters.

Building a statement (``select(...).where(...)``) and computing its cache key cost more than SQLite takes to
run it; a statement object built once keeps its cache key, so each push and pull only binds values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite

from dockyard.metadata.tables import (
    blobs,
    manifest_references,
    manifests,
    repositories,
    repository_blobs,
    tags,
    uploads,
)

MANIFEST_COLUMNS = (
    manifests.c.digest,
    manifests.c.media_type,
    manifests.c.content,
    manifests.c.artifact_type,
    manifests.c.subject_digest,
    manifests.c.annotations,
    manifests.c.created_at,
)


@dataclass(frozen=True)
class CoreStatements:
    get_repository: Any
    insert_blob: Any
    link_blob: Any
    linked_blob_size: Any
    create_upload: Any
    get_upload: Any
    set_upload_size: Any
    delete_upload: Any
    linked_digests: Any
    manifest_digests: Any
    insert_manifest: Any
    manifest_id: Any
    insert_references: Any
    upsert_tag: Any
    insert_tag: Any  # an immutable tag: inserted only when absent (rowcount 0: it exists)
    get_manifest: Any
    get_tagged_manifest: Any


def core_statements(dialect: str) -> CoreStatements:
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    upsert_tag = insert(tags).values(
        repository_id=bindparam("repository_id"),
        name=bindparam("tag"),
        manifest_id=bindparam("manifest_id"),
        updated_at=bindparam("now"),
    )
    upsert_tag = upsert_tag.on_conflict_do_update(
        index_elements=["repository_id", "name"],
        set_={"manifest_id": upsert_tag.excluded.manifest_id, "updated_at": upsert_tag.excluded.updated_at},
    )
    insert_tag = insert(tags).values(
        repository_id=bindparam("repository_id"),
        name=bindparam("tag"),
        manifest_id=bindparam("manifest_id"),
        updated_at=bindparam("now"),
    )
    insert_tag = insert_tag.on_conflict_do_nothing(index_elements=["repository_id", "name"])
    # A link made again (upload, mount) is young again: GC reclaims only links unused for its grace.
    link_blob = insert(repository_blobs).values(
        repository_id=bindparam("repository_id"), digest=bindparam("digest"), created_at=bindparam("now")
    )
    link_blob = link_blob.on_conflict_do_update(
        index_elements=["repository_id", "digest"], set_={"created_at": link_blob.excluded.created_at}
    )
    return CoreStatements(
        get_repository=select(repositories).where(
            repositories.c.account_id == bindparam("account"), repositories.c.name == bindparam("name")
        ),
        insert_blob=insert(blobs)
        .values(digest=bindparam("digest"), size=bindparam("size"), created_at=bindparam("now"))
        .on_conflict_do_nothing(index_elements=["digest"]),
        link_blob=link_blob,
        linked_blob_size=select(blobs.c.size)
        .join(repository_blobs, repository_blobs.c.digest == blobs.c.digest)
        .where(
            repository_blobs.c.repository_id == bindparam("repository_id"),
            blobs.c.digest == bindparam("digest"),
        ),
        create_upload=uploads.insert(),
        get_upload=select(uploads).where(
            uploads.c.id == bindparam("upload_id"), uploads.c.repository_id == bindparam("repository_id")
        ),
        set_upload_size=update(uploads)
        .where(uploads.c.id == bindparam("upload_id"))
        .values(size=bindparam("size"), updated_at=bindparam("at")),
        delete_upload=delete(uploads).where(uploads.c.id == bindparam("upload_id")),
        # FOR SHARE on PostgreSQL: GC's link reclaim cannot delete a link a manifest push relies on
        # (docs/gc.md); SQLite serialises writers and renders no lock clause.
        linked_digests=select(repository_blobs.c.digest)
        .where(
            repository_blobs.c.repository_id == bindparam("repository_id"),
            repository_blobs.c.digest.in_(bindparam("digests", expanding=True)),
        )
        .with_for_update(read=True),
        manifest_digests=select(manifests.c.digest).where(
            manifests.c.repository_id == bindparam("repository_id"),
            manifests.c.digest.in_(bindparam("digests", expanding=True)),
        ),
        insert_manifest=insert(manifests)
        .on_conflict_do_nothing(index_elements=["repository_id", "digest"])
        .returning(manifests.c.id),
        manifest_id=select(manifests.c.id).where(
            manifests.c.repository_id == bindparam("repository_id"), manifests.c.digest == bindparam("digest")
        ),
        insert_references=manifest_references.insert(),
        upsert_tag=upsert_tag,
        insert_tag=insert_tag,
        get_manifest=select(*MANIFEST_COLUMNS)
        .join(repositories, repositories.c.id == manifests.c.repository_id)
        .where(
            repositories.c.account_id == bindparam("account"),
            repositories.c.name == bindparam("name"),
            manifests.c.digest == bindparam("digest"),
        ),
        get_tagged_manifest=select(*MANIFEST_COLUMNS)
        .join(tags, tags.c.manifest_id == manifests.c.id)
        .join(repositories, repositories.c.id == tags.c.repository_id)
        .where(
            repositories.c.account_id == bindparam("account"),
            repositories.c.name == bindparam("name"),
            tags.c.name == bindparam("tag"),
        ),
    )
