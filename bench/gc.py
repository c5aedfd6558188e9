"""Garbage collection over 100,000 blobs, on SQLite and on PostgreSQL (``docs/gc.md``).

Setup (untimed): a fresh migrated database; ``--blobs`` blob rows, each with a file under a temporary
filesystem storage; one repository per 1,000 blobs. Half the blobs are in use (linked, and referenced by a
manifest per 10 blobs); a quarter were linked long ago and never used by a manifest (stale links); a quarter
are linked nowhere at all (an interrupted upload, a deleted repository).

Timed, with a clock moved by hand past the grace between runs:

1. ``plan``: ``dockyard gc --dry-run`` (nothing due yet);
2. ``mark``: the first run: reclaims the stale links, marks the half nothing references any more;
3. ``sweep``: the run after the grace: tombstones, deletes the files, forgets the rows of that half;
4. ``idle``: a run with nothing to do (what the scheduled job costs when the registry is clean).

    .venv/bin/python -m bench.gc [--blobs 100000] [--databases sqlite,postgresql] [--postgres DSN]

PostgreSQL: ``--postgres`` or ``TEST_POSTGRES_SERVER`` (default ``postgresql://postgres@127.0.0.1:5432``);
a database is created for the run and dropped afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from dockyard.blobstore.content import BlobStore
from dockyard.blobstore.filesystem import FilesystemDriver
from dockyard.domain.digest import Digest
from dockyard.domain.gc import GcPolicy
from dockyard.metadata.engine import create_engine, database_url
from dockyard.metadata.gc_store import SqlGcStore
from dockyard.metadata.migrate import upgrade
from dockyard.metadata.tables import blobs, manifest_references, manifests, repositories, repository_blobs
from dockyard.services.gc import GarbageCollector

GRACE = timedelta(hours=1)
PER_REPOSITORY = 1000
PER_MANIFEST = 10


class Clock:
    def __init__(self) -> None:
        self.current = datetime(2026, 1, 1, tzinfo=UTC)

    def now(self) -> datetime:
        return self.current


def digest_of(n: int) -> str:
    return "sha256:" + hashlib.sha256(n.to_bytes(8, "big")).hexdigest()


async def populate(engine: AsyncEngine, root: Path, count: int, clock: Clock) -> None:
    """The blob rows, their files, repositories, links and manifests described in the module docstring."""
    store = BlobStore(FilesystemDriver(root))
    for n in range(count):
        path = root / store.blob_path(Digest.parse(digest_of(n)))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    now = clock.now()
    repository_count = (count + PER_REPOSITORY - 1) // PER_REPOSITORY
    async with engine.begin() as conn:
        await conn.execute(
            insert(repositories),
            [
                {"id": r + 1, "account_id": "111122223333", "name": f"bench/r{r}", "created_at": now}
                for r in range(repository_count)
            ],
        )
        rows = [{"digest": digest_of(n), "size": 1000 + n, "created_at": now} for n in range(count)]
        for start in range(0, count, 10_000):
            await conn.execute(insert(blobs), rows[start : start + 10_000])
        links = [
            {"repository_id": n // PER_REPOSITORY + 1, "digest": digest_of(n), "created_at": now}
            for n in range(count)
            if n % 4 != 3  # a quarter linked nowhere
        ]
        for start in range(0, len(links), 10_000):
            await conn.execute(insert(repository_blobs), links[start : start + 10_000])
        await _manifests(conn, count, now)


async def _manifests(conn: Any, count: int, now: datetime) -> None:
    """A manifest per 10 in-use blobs (n % 4 in 0, 1); links of n % 4 == 2 are stale."""
    in_use = [n for n in range(count) if n % 4 in (0, 1)]
    for m, start in enumerate(range(0, len(in_use), PER_MANIFEST)):
        group = in_use[start : start + PER_MANIFEST]
        repository_id = group[0] // PER_REPOSITORY + 1
        group = [n for n in group if n // PER_REPOSITORY + 1 == repository_id]
        content = f"manifest {m}".encode()
        values = {
            "repository_id": repository_id,
            "digest": "sha256:" + hashlib.sha256(content).hexdigest(),
            "media_type": "application/vnd.oci.image.manifest.v1+json",
            "size": len(content),
            "content": content,
            "created_at": now,
        }
        manifest_id = (
            await conn.execute(insert(manifests).values(values).returning(manifests.c.id))
        ).scalar()
        refs = [{"manifest_id": manifest_id, "digest": digest_of(n), "kind": "blob"} for n in group]
        await conn.execute(insert(manifest_references), refs)


async def bench_one(url: str, count: int) -> list[tuple[str, int, float]]:
    clock = Clock()
    engine = create_engine(url)
    try:
        await upgrade(engine)
        with tempfile.TemporaryDirectory(prefix="dockyard-gc-bench-") as scratch:
            root = Path(scratch)
            await populate(engine, root, count, clock)
            if (
                engine.dialect.name == "postgresql"
            ):  # fresh bulk-loaded tables: statistics, as autovacuum keeps
                async with engine.begin() as conn:
                    await conn.exec_driver_sql("ANALYZE")
            clock.current += GRACE * 2  # the stale links are past their grace
            store = SqlGcStore(engine, clock)
            collector = GarbageCollector(
                store, BlobStore(FilesystemDriver(root)), clock, GcPolicy(grace=GRACE)
            )
            figures = []
            started = time.perf_counter()
            plan = await collector.plan()
            figures.append(("plan", len(plan.links) + plan.waiting_blobs, time.perf_counter() - started))
            started = time.perf_counter()
            marked = await collector.collect()
            figures.append(("mark", marked.links_removed + marked.marked, time.perf_counter() - started))
            clock.current += GRACE + timedelta(seconds=1)
            started = time.perf_counter()
            swept = await collector.collect()
            figures.append(("sweep", swept.blobs_deleted, time.perf_counter() - started))
            started = time.perf_counter()
            idle = await collector.collect()
            figures.append(("idle", count - swept.blobs_deleted, time.perf_counter() - started))
            assert marked.links_removed == count // 4, marked
            assert swept.blobs_deleted == count // 2, swept
            assert idle.blobs_deleted == 0, idle
            return figures
    finally:
        await engine.dispose()


async def with_postgres(server: str, count: int) -> list[tuple[str, int, float]]:
    name = f"dockyard_gc_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(f"{server}/postgres")
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            return await bench_one(database_url(f"{server}/{name}", Path(".")), count)
        finally:
            await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--blobs", type=int, default=100_000)
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument(
        "--postgres", default=os.environ.get("TEST_POSTGRES_SERVER", "postgresql://postgres@127.0.0.1:5432")
    )
    args = parser.parse_args()
    print(f"{'database':<11} {'step':<6} {'rows':>8} {'seconds':>8} {'rows/s':>9}")
    for database in args.databases.split(","):
        if database == "sqlite":
            with tempfile.TemporaryDirectory(prefix="dockyard-gc-bench-db-") as directory:
                figures = await bench_one(database_url(None, Path(directory)), args.blobs)
        else:
            figures = await with_postgres(args.postgres, args.blobs)
        for step, rows, seconds in figures:
            print(f"{database:<11} {step:<6} {rows:>8,} {seconds:>8.2f} {rows / seconds:>9,.0f}")


if __name__ == "__main__":
    asyncio.run(main())
