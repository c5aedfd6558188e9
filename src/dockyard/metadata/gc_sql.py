"""The SQL of online garbage collection (``docs/gc.md``), as units of work (:mod:`dockyard.metadata.units`).

::

    repository_blobs.created_at   last linked; a link no manifest of its repository references and not
                                  linked again for the grace window is reclaimed (under row locks)
    blobs.marked_at               when a run first found the blob referenced by nothing (no link, no
                                  manifest reference); any link clears it
    blobs.deleting_at             the tombstone: set under row locks after re-checking references, before
                                  the bytes are deleted; a tombstoned blob is never linked again, and its
                                  row goes once its bytes are gone

Every decision to delete is taken twice: candidates are read without locks, then a write unit locks them
(``FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite serialises writers) and re-checks references in a new
statement, which on PostgreSQL's READ COMMITTED sees every reference committed before the lock was taken.
Writers that create references hold the matching lock (``FOR SHARE``) while they check what they need.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, bindparam, delete, exists, func, select, update
from sqlalchemy.engine import Connection

from dockyard.metadata.statements import CoreStatements
from dockyard.metadata.tables import blobs, manifest_references, manifests, repository_blobs

Link = tuple[int, str]  # (repository id, digest)

_linked = exists().where(repository_blobs.c.digest == blobs.c.digest)
_in_manifest = exists().where(
    manifest_references.c.digest == blobs.c.digest, manifest_references.c.kind == "blob"
)
_referenced = _linked | _in_manifest
# A link is used when a manifest of the same repository references its blob.
_link_used = exists().where(
    manifest_references.c.digest == repository_blobs.c.digest,
    manifest_references.c.kind == "blob",
    manifests.c.id == manifest_references.c.manifest_id,
    manifests.c.repository_id == repository_blobs.c.repository_id,
)


@dataclass(frozen=True)
class GuardStatements:
    """What a link takes on the blob row: a shared lock while it reads the tombstone, and the mark cleared."""

    blob_state: Any
    unmark: Any


def guard_statements() -> GuardStatements:
    digest: Any = bindparam("blob")  # not "digest": a column's name is reserved in an UPDATE
    return GuardStatements(
        blob_state=select(blobs.c.deleting_at, blobs.c.marked_at)
        .where(blobs.c.digest == digest)
        .with_for_update(read=True),
        unmark=update(blobs).where(blobs.c.digest == digest).values(marked_at=None),
    )


GUARD = guard_statements()


def claim_blob(conn: Connection, sql: CoreStatements, digest: str, size: int, now: datetime) -> bool:
    """Make sure the blob's row exists, unmarked, and hold it (shared) to the end of the transaction;
    ``False`` when it is tombstoned (GC is deleting its bytes: it must not be linked)."""
    conn.execute(sql.insert_blob, {"digest": digest, "size": size, "now": now})
    row = conn.execute(GUARD.blob_state, {"blob": digest}).first()
    if row is None or row.deleting_at is not None:  # None: GC forgot the row after the insert found it
        return False
    if row.marked_at is not None:
        conn.execute(GUARD.unmark, {"blob": digest})
    return True


# -- links ------------------------------------------------------------------------------------------------


def stale_links(conn: Connection, cutoff: datetime, after: Link, limit: int) -> list[Link]:
    """Links no manifest of their repository uses, last made before ``cutoff``, after ``after``."""
    query = (
        select(repository_blobs.c.repository_id, repository_blobs.c.digest)
        .where(repository_blobs.c.created_at < cutoff, ~_link_used, _after_link(after))
        .order_by(repository_blobs.c.repository_id, repository_blobs.c.digest)
        .limit(limit)
    )
    return [(row.repository_id, row.digest) for row in conn.execute(query)]


def _after_link(after: Link) -> Any:
    repository_id, digest = after
    return (repository_blobs.c.repository_id > repository_id) | and_(
        repository_blobs.c.repository_id == repository_id, repository_blobs.c.digest > digest
    )


def reclaim_links(conn: Connection, links: list[Link], cutoff: datetime) -> int:
    """Delete those of ``links`` still stale, under row locks; how many went."""
    removed = 0
    for repository_id, digests in _by_repository(links).items():
        where = _links_of(repository_id, digests)
        locked = select(repository_blobs.c.digest).where(where, repository_blobs.c.created_at < cutoff)
        held = list(conn.execute(locked.with_for_update(skip_locked=True)).scalars())
        if not held:
            continue
        used = select(repository_blobs.c.digest).where(
            repository_blobs.c.repository_id == repository_id, repository_blobs.c.digest.in_(held), _link_used
        )
        gone = sorted(set(held) - set(conn.execute(used).scalars()))
        if gone:
            removed += int(
                conn.execute(delete(repository_blobs).where(_links_of(repository_id, gone))).rowcount or 0
            )
    return removed


def _links_of(repository_id: int, digests: list[str]) -> Any:
    return and_(repository_blobs.c.repository_id == repository_id, repository_blobs.c.digest.in_(digests))


def _by_repository(links: list[Link]) -> dict[int, list[str]]:
    grouped: dict[int, list[str]] = {}
    for repository_id, digest in links:
        grouped.setdefault(repository_id, []).append(digest)
    return grouped


# -- marks ------------------------------------------------------------------------------------------------


def mark(conn: Connection, now: datetime) -> tuple[int, int]:
    """Mark the blobs nothing references, then clear the marks of those referenced: (marked, cleared).

    The second statement starts after the first ends, so a link committed while the first ran (and which
    it could not see) is seen by the second: no referenced blob keeps a mark.
    """
    live = blobs.c.deleting_at.is_(None)
    marked = conn.execute(
        update(blobs).where(blobs.c.marked_at.is_(None), live, ~_referenced).values(marked_at=now)
    ).rowcount
    cleared = conn.execute(
        update(blobs).where(blobs.c.marked_at.is_not(None), live, _referenced).values(marked_at=None)
    ).rowcount
    return int(marked or 0), int(cleared or 0)


# -- sweep ------------------------------------------------------------------------------------------------


def sweepable(conn: Connection, cutoff: datetime, after: str, limit: int) -> list[tuple[str, int]]:
    """Blobs marked before ``cutoff`` and not tombstoned, digests after ``after`` (no locks: candidates)."""
    query = (
        select(blobs.c.digest, blobs.c.size)
        .where(blobs.c.marked_at < cutoff, blobs.c.deleting_at.is_(None), blobs.c.digest > after)
        .order_by(blobs.c.digest)
        .limit(limit)
    )
    return [(row.digest, row.size) for row in conn.execute(query)]


def tombstone(conn: Connection, digests: list[str], cutoff: datetime, now: datetime) -> list[tuple[str, int]]:
    """Lock the candidates, re-check that nothing references them, and tombstone those: they are the
    blobs whose bytes may now be deleted."""
    candidates = select(blobs.c.digest, blobs.c.size).where(
        blobs.c.digest.in_(digests), blobs.c.marked_at < cutoff, blobs.c.deleting_at.is_(None)
    )
    held = {row.digest: row.size for row in conn.execute(candidates.with_for_update(skip_locked=True))}
    if not held:
        return []
    referenced = set(_referenced_among(conn, list(held)))
    doomed = sorted(digest for digest in held if digest not in referenced)
    if doomed:
        conn.execute(update(blobs).where(blobs.c.digest.in_(doomed)).values(deleting_at=now))
    return [(digest, held[digest]) for digest in doomed]


def _referenced_among(conn: Connection, digests: list[str]) -> list[str]:
    linked = select(repository_blobs.c.digest).where(repository_blobs.c.digest.in_(digests))
    used = select(manifest_references.c.digest).where(
        manifest_references.c.digest.in_(digests), manifest_references.c.kind == "blob"
    )
    return list(conn.execute(linked.union(used)).scalars())


def tombstoned(conn: Connection, before: datetime, limit: int) -> list[tuple[str, int]]:
    """Tombstones set before ``before``: left by a run that stopped between tombstone and forget."""
    query = (
        select(blobs.c.digest, blobs.c.size)
        .where(blobs.c.deleting_at < before)
        .order_by(blobs.c.digest)
        .limit(limit)
    )
    return [(row.digest, row.size) for row in conn.execute(query)]


def forget(conn: Connection, digests: list[str]) -> int:
    """Delete the tombstoned rows of ``digests`` (their bytes are gone)."""
    statement = delete(blobs).where(blobs.c.digest.in_(digests), blobs.c.deleting_at.is_not(None))
    return int(conn.execute(statement).rowcount or 0)


# -- reports ----------------------------------------------------------------------------------------------


def unreferenced(conn: Connection, cutoff: datetime) -> tuple[list[tuple[str, int]], int, int]:
    """Blobs a sweep would delete now (digest, size), and the count and bytes of those still in grace."""
    free = select(blobs.c.digest, blobs.c.size, blobs.c.marked_at).where(
        blobs.c.deleting_at.is_(None), ~_referenced
    )
    due: list[tuple[str, int]] = []
    waiting = waiting_bytes = 0
    for row in conn.execute(free.order_by(blobs.c.digest)):
        if row.marked_at is not None and row.marked_at < cutoff:
            due.append((row.digest, row.size))
        else:
            waiting, waiting_bytes = waiting + 1, waiting_bytes + row.size
    return due, waiting, waiting_bytes


def repository_usage(conn: Connection, repository_ids: list[int]) -> dict[int, tuple[int, int, int]]:
    """Per repository: (bytes of the distinct blobs it links, blobs linked, bytes of its manifests)."""
    linked: Select[Any] = (
        select(repository_blobs.c.repository_id, func.sum(blobs.c.size), func.count())
        .join(blobs, blobs.c.digest == repository_blobs.c.digest)
        .where(repository_blobs.c.repository_id.in_(repository_ids))
        .group_by(repository_blobs.c.repository_id)
    )
    own: Select[Any] = (
        select(manifests.c.repository_id, func.sum(manifests.c.size))
        .where(manifests.c.repository_id.in_(repository_ids))
        .group_by(manifests.c.repository_id)
    )
    usage = {repository_id: (0, 0, 0) for repository_id in repository_ids}
    for repository_id, size, count in conn.execute(linked):
        usage[repository_id] = (int(size or 0), int(count), 0)
    for repository_id, size in conn.execute(own):
        blob_bytes, count, _ = usage[repository_id]
        usage[repository_id] = (blob_bytes, count, int(size or 0))
    return usage
