"""SQL for lifecycle policies: the policy and preview rows, a repository's image facts for the evaluator, and
expiry (BatchDeleteImage's delete, :func:`~dockyard.metadata.ecr_image_store.delete_image_in`, plus the
event row, in one transaction per batch). Schema: :mod:`dockyard.metadata.lifecycle_tables`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.engine import Connection

from dockyard.domain.lifecycle import Expiry, ImageFacts
from dockyard.metadata.ecr_image_store import delete_image_in
from dockyard.metadata.ecr_store import EcrSql
from dockyard.metadata.ecr_tables import ecr_image_pulls
from dockyard.metadata.lifecycle_tables import lifecycle_events, lifecycle_policies, lifecycle_previews
from dockyard.metadata.tables import manifest_references, manifests, repositories, tags
from dockyard.metadata.unit_sql import all_rows, changed, execute, first

EXPIRE_BATCH = 200  # images per write transaction: short enough not to hold the writer long


@dataclass(frozen=True, slots=True)
class StoredPolicy:
    text: str
    updated_at: datetime
    last_evaluated_at: datetime | None


@dataclass(frozen=True, slots=True)
class StoredPreview:
    text: str
    status: str
    results: list[dict[str, Any]]
    started_at: datetime


@dataclass(frozen=True, slots=True)
class ExpiryRun:
    """Who runs an expiry, for its events."""

    account_id: str
    repository_name: str
    run_id: str
    policy_sha256: str


@dataclass(frozen=True, slots=True)
class LifecycleEvent:
    id: int
    account_id: str
    repository_name: str
    run_id: str
    policy_sha256: str
    rule_priority: int
    action: str
    digest: str
    tags: list[str]
    pushed_at: datetime
    occurred_at: datetime


class LifecycleStore(EcrSql):
    # -- policies and previews ------------------------------------------------------------------------

    async def put_policy(self, repository_id: int, text: str) -> None:
        now = self._clock.now()
        statement = (
            self._insert(lifecycle_policies)
            .values(repository_id=repository_id, policy_text=text, updated_at=now)
            .on_conflict_do_update(
                index_elements=["repository_id"], set_={"policy_text": text, "updated_at": now}
            )
        )
        await self._write_unit(execute, statement, bump=False)

    async def policy(self, repository_id: int) -> StoredPolicy | None:
        query = select(lifecycle_policies).where(lifecycle_policies.c.repository_id == repository_id)
        row = await self._read_unit(first, query)
        return None if row is None else StoredPolicy(row.policy_text, row.updated_at, row.last_evaluated_at)

    async def delete_policy(self, repository_id: int) -> StoredPolicy | None:
        statement = (
            delete(lifecycle_policies)
            .where(lifecycle_policies.c.repository_id == repository_id)
            .returning(*lifecycle_policies.c)
        )
        row = await self._write_unit(first, statement, bump=False)
        return None if row is None else StoredPolicy(row.policy_text, row.updated_at, row.last_evaluated_at)

    async def policy_repositories(self) -> list[tuple[str, str]]:
        """(account, repository name) of every repository with a lifecycle policy."""
        query = (
            select(repositories.c.account_id, repositories.c.name)
            .join(lifecycle_policies, lifecycle_policies.c.repository_id == repositories.c.id)
            .order_by(repositories.c.account_id, repositories.c.name)
        )
        return [(row.account_id, row.name) for row in await self._read_unit(all_rows, query)]

    async def save_preview(self, repository_id: int, preview: StoredPreview) -> None:
        values = {
            "policy_text": preview.text,
            "status": preview.status,
            "results": preview.results,
            "started_at": preview.started_at,
        }
        statement = (
            self._insert(lifecycle_previews)
            .values(repository_id=repository_id, **values)
            .on_conflict_do_update(index_elements=["repository_id"], set_=values)
        )
        await self._write_unit(execute, statement, bump=False)

    async def preview(self, repository_id: int) -> StoredPreview | None:
        query = select(lifecycle_previews).where(lifecycle_previews.c.repository_id == repository_id)
        row = await self._read_unit(first, query)
        if row is None:
            return None
        return StoredPreview(row.policy_text, row.status, list(row.results), row.started_at)

    # -- evaluation and expiry ------------------------------------------------------------------------

    async def image_facts(self, repository_id: int) -> list[ImageFacts]:
        """Every image of the repository with its tags, pull time, referencing indexes and subject."""
        return await self._read_unit(_image_facts, repository_id)

    async def expire(
        self, repository_id: int, run: ExpiryRun, expiries: Sequence[Expiry], now: datetime
    ) -> list[Expiry]:
        """Delete ``expiries`` in their order and record an event for each; the ones done. An image whose
        tags changed since evaluation, that is gone, or that an index still references is skipped."""
        done: list[Expiry] = []
        for start in range(0, len(expiries), EXPIRE_BATCH):
            batch = list(expiries[start : start + EXPIRE_BATCH])
            done.extend(await self._write_unit(_expire, repository_id, run, batch, now))
        stamp = (
            update(lifecycle_policies)
            .where(lifecycle_policies.c.repository_id == repository_id)
            .values(last_evaluated_at=now)
        )
        await self._write_unit(changed, stamp, bump=bool(done))
        return done

    async def events(
        self, account_id: str | None, repository: str | None, limit: int
    ) -> list[LifecycleEvent]:
        """The newest ``limit`` events, newest first, optionally of one account and repository."""
        query = select(lifecycle_events).order_by(lifecycle_events.c.id.desc()).limit(limit)
        if account_id is not None:
            query = query.where(lifecycle_events.c.account_id == account_id)
        if repository is not None:
            query = query.where(lifecycle_events.c.repository_name == repository)
        rows = await self._read_unit(all_rows, query)
        return [LifecycleEvent(**{**row._mapping, "tags": list(row.tags)}) for row in rows]


def _image_facts(conn: Connection, repository_id: int) -> list[ImageFacts]:
    in_repository = manifests.c.repository_id == repository_id
    tag_rows = conn.execute(
        select(tags.c.manifest_id, tags.c.name).where(tags.c.repository_id == repository_id)
    )
    names: dict[int, list[str]] = {}
    for manifest_id, name in tag_rows:
        names.setdefault(manifest_id, []).append(name)
    pulls = dict(
        conn.execute(
            select(ecr_image_pulls.c.manifest_id, ecr_image_pulls.c.last_pulled_at)
            .join(manifests, manifests.c.id == ecr_image_pulls.c.manifest_id)
            .where(in_repository)
        ).all()
    )
    parent_rows = conn.execute(
        select(manifest_references.c.digest, manifests.c.digest)
        .join(manifests, manifests.c.id == manifest_references.c.manifest_id)
        .where(in_repository, manifest_references.c.kind == "manifest")
    )
    parents: dict[str, set[str]] = {}
    for child, parent in parent_rows:
        parents.setdefault(child, set()).add(parent)
    rows = conn.execute(
        select(manifests.c.id, manifests.c.digest, manifests.c.created_at, manifests.c.subject_digest).where(
            in_repository
        )
    )
    return [
        ImageFacts(
            digest,
            pushed_at,
            tuple(sorted(names.get(manifest_id, ()))),
            pulls.get(manifest_id),
            frozenset(parents.get(digest, ())),
            subject,
        )
        for manifest_id, digest, pushed_at, subject in rows
    ]


def _expire(
    conn: Connection, repository_id: int, run: ExpiryRun, batch: list[Expiry], now: datetime
) -> list[Expiry]:
    done: list[Expiry] = []
    for expiry in batch:
        current = conn.execute(
            select(tags.c.name)
            .join(manifests, manifests.c.id == tags.c.manifest_id)
            .where(manifests.c.repository_id == repository_id, manifests.c.digest == expiry.digest)
        ).scalars()
        if tuple(sorted(current)) != expiry.tags:
            continue  # retagged since evaluation: the next run decides again
        outcome = delete_image_in(conn, repository_id, expiry.digest)
        if not outcome.manifest_deleted:
            continue
        conn.execute(
            lifecycle_events.insert().values(
                account_id=run.account_id,
                repository_name=run.repository_name,
                run_id=run.run_id,
                policy_sha256=run.policy_sha256,
                rule_priority=expiry.rule_priority,
                action="expire",
                digest=expiry.digest,
                tags=list(expiry.tags),
                pushed_at=expiry.pushed_at,
                occurred_at=now,
            )
        )
        done.append(expiry)
    return done
