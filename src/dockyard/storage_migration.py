"""``dockyard migrate-storage``: move a single-node registry (SQLite + filesystem) to replicas' storage
(PostgreSQL + S3), or between any two configured layouts.

What moves, in order:

1. **Metadata**: every table of the schema, parents before children, rows with their ids (so every
   reference stays valid), then PostgreSQL's id sequences set past the copied ids. Rows already in the
   target (same primary key) are kept, so an interrupted run is simply run again. Upload sessions in
   progress are not moved (their bytes are scratch space of the old storage): clients restart them.
2. **Server keys**: the data directory's registry-token key ring and ECR signing key go into the target
   database (sealed with the secret keys), so registry passwords and signed URLs issued before the move
   stay valid. IAM secrets stay sealed as they are: replicas need the same secret keys
   (``DOCKYARD_SECRET_KEYS`` = the lines of ``<data_dir>/secret-keys``).
3. **Blobs**: each blob the metadata knows, streamed from the source storage to the target's, its sha256
   checked while it streams and before it is committed (a blob whose bytes do not match its digest is
   reported and not copied). A blob already in the target with the right size is skipped.

The source should not take writes meanwhile (stop it, or run once more after stopping it: every step is
idempotent, and a second run copies only what is new).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Integer, Table, func, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

import dockyard.metadata.ecr_public_tables
import dockyard.metadata.ecr_tables
import dockyard.metadata.iam_tables  # noqa: F401  (the schema's tables, registered on ``metadata``)
from dockyard.blobstore.content import BlobStore
from dockyard.domain.digest import Digest
from dockyard.metadata.cluster_tables import jobs, server_keys
from dockyard.metadata.ecr_tables import ecr_upload_parts
from dockyard.metadata.tables import blobs, metadata, uploads

BATCH = 1000
SKIPPED = frozenset({uploads.name, ecr_upload_parts.name, jobs.name, server_keys.name})

Progress = Callable[[str, int], None]  # (what, amount done since the last call)


@dataclass
class Report:
    rows: dict[str, int] = field(default_factory=dict)  # table: rows in the source
    blobs_copied: int = 0
    blobs_present: int = 0
    bytes_copied: int = 0
    corrupt: list[str] = field(default_factory=list)  # digests whose source bytes do not match
    missing: list[str] = field(default_factory=list)  # digests the source storage does not have


def tables() -> list[Table]:
    """The tables to copy, parents first."""
    return [table for table in metadata.sorted_tables if table.name not in SKIPPED]


async def count_rows(source: AsyncEngine) -> dict[str, int]:
    counts = {}
    async with source.connect() as conn:
        for table in tables():
            counts[table.name] = int(
                (await conn.execute(select(text("count(*)")).select_from(table))).scalar_one()
            )
    return counts


async def copy_metadata(source: AsyncEngine, target: AsyncEngine, progress: Progress) -> dict[str, int]:
    """Copy every table's rows (keeping rows the target has already); rows per table in the source."""
    copied = {}
    insert = postgresql.insert if target.dialect.name == "postgresql" else sqlite.insert
    async with source.connect() as reader:
        for table in tables():
            order = list(table.primary_key.columns) or list(table.columns)
            copied[table.name] = 0
            offset = 0
            while True:
                query = select(table).order_by(*order).limit(BATCH).offset(offset)
                rows = [dict(row._mapping) for row in await reader.execute(query)]
                if not rows:
                    break
                async with target.begin() as writer:
                    await writer.execute(insert(table).on_conflict_do_nothing(), rows)
                offset += len(rows)
                copied[table.name] += len(rows)
                progress(table.name, len(rows))
    if target.dialect.name == "postgresql":
        await _advance_sequences(target)
    return copied


async def _advance_sequences(target: AsyncEngine) -> None:
    """Set each serial id's sequence past the largest copied id (new rows must not collide)."""
    async with target.begin() as conn:
        for table in tables():
            for column in table.primary_key.columns:
                if isinstance(column.type, Integer) and column.autoincrement in (True, "auto"):
                    sequence = (
                        await conn.execute(
                            text("SELECT pg_get_serial_sequence(:table, :column)"),
                            {"table": table.name, "column": column.name},
                        )
                    ).scalar()
                    if sequence is None:
                        continue
                    following = select(func.coalesce(func.max(column), 0) + 1).scalar_subquery()
                    await conn.execute(select(func.setval(sequence, following, False)))


async def blob_list(engine: AsyncEngine) -> list[tuple[str, int]]:
    async with engine.connect() as conn:
        rows = await conn.execute(select(blobs.c.digest, blobs.c.size).order_by(blobs.c.digest))
        return [(row.digest, int(row.size)) for row in rows]


async def copy_blobs(
    source: BlobStore, target: BlobStore, wanted: list[tuple[str, int]], report: Report, progress: Progress
) -> None:
    """Copy every blob of ``wanted`` the target lacks, verifying each against its digest."""
    for digest_text, size in wanted:
        digest = Digest.parse(digest_text)
        if await target.stat(digest) == size:
            report.blobs_present += 1
            progress("blobs", size)
            continue
        if await source.stat(digest) is None:
            report.missing.append(digest_text)
            continue
        if await _copy_blob(source, target, digest):
            report.blobs_copied += 1
            report.bytes_copied += size
        else:
            report.corrupt.append(digest_text)
        progress("blobs", size)


async def _copy_blob(source: BlobStore, target: BlobStore, digest: Digest) -> bool:
    """Stream one blob into a scratch writer of the target; commit only when the bytes match."""
    scratch = BlobStore.data_path(f"migrate-{digest.encoded[:32]}")
    writer = await target.driver.writer(scratch, BlobStore.blob_path(digest))
    hasher: Any = hashlib.new(digest.algorithm)
    try:
        async for chunk in source.read(digest):
            hasher.update(chunk)
            await writer.write(chunk)
        if hasher.hexdigest() != digest.encoded:
            await writer.abandon()
            return False
        await writer.commit(BlobStore.blob_path(digest))
        return True
    finally:
        await target.driver.delete(BlobStore.upload_path(f"migrate-{digest.encoded[:32]}"))
