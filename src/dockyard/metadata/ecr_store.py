"""SQL for the ECR control plane: repository settings, resource tags, policies, image listings and sizes,
deletes with ECR's semantics, pull times and upload part sizes.

Reads the core tables (``repositories``, ``manifests``, ``tags``…) directly, in the same database; every
write that can change a cached lookup bumps the shared change signal after it commits, as
:class:`~dockyard.metadata.cache.CachedMetadataStore` does.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Mapping
from contextlib import asynccontextmanager
from typing import Any, Literal

from sqlalchemy import delete, exists, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from dockyard.metadata.base import SqlStore
from dockyard.metadata.ecr_tables import (
    ecr_registry_policies,
    ecr_repositories,
    ecr_resource_tags,
    ecr_upload_parts,
)
from dockyard.metadata.tables import manifests, repositories
from dockyard.ports import ChangeSignal, Clock
from dockyard.services.ecr_types import EcrRepository, Mutability, RepositorySettings

TagStatus = Literal["TAGGED", "UNTAGGED", "ANY"]
MAX_INDEX_DEPTH = 3

_REPOSITORY_COLUMNS = (
    repositories.c.id,
    repositories.c.name,
    repositories.c.created_at,
    repositories.c.account_id,
    ecr_repositories.c.image_tag_mutability,
    ecr_repositories.c.mutability_exclusions,
    ecr_repositories.c.scan_on_push,
    ecr_repositories.c.encryption_type,
    ecr_repositories.c.kms_key,
    ecr_repositories.c.policy_text,
)
_IMAGE_COLUMNS = (
    manifests.c.id,
    manifests.c.digest,
    manifests.c.media_type,
    manifests.c.artifact_type,
    manifests.c.subject_digest,
    manifests.c.created_at,
)


def settings_columns(settings: RepositorySettings) -> dict[str, Any]:
    return {
        "image_tag_mutability": settings.mutability.value,
        "mutability_exclusions": list(settings.exclusion_filters) or None,
        "scan_on_push": settings.scan_on_push,
        "encryption_type": settings.encryption_type,
        "kms_key": settings.kms_key,
    }


class EcrSql(SqlStore):
    """The shared SQL plumbing plus the change-signal bump every ECR write owes the read caches."""

    def __init__(self, engine: AsyncEngine, clock: Clock, signal: ChangeSignal) -> None:
        super().__init__(engine, clock)
        self._signal = signal

    @asynccontextmanager
    async def _write(self, *, bump: bool = True) -> AsyncIterator[AsyncConnection]:
        try:
            async with super()._write() as conn:
                yield conn
        finally:
            if bump:
                self._signal.bump()


class EcrStore(EcrSql):
    """Repositories with their ECR settings, resource tags, registry policies, upload part sizes."""

    def __init__(self, engine: AsyncEngine, clock: Clock, signal: ChangeSignal, default_account: str) -> None:
        super().__init__(engine, clock, signal)
        self.default_account = default_account

    # -- repositories ---------------------------------------------------------------------------------

    def _repository_query(self) -> Any:
        joined = repositories.outerjoin(
            ecr_repositories, ecr_repositories.c.repository_id == repositories.c.id
        )
        return select(*_REPOSITORY_COLUMNS).select_from(joined)

    def _repository(self, row: Any) -> EcrRepository:
        if row.image_tag_mutability is None:  # no ECR row: a repository created by a /v2/ push
            return EcrRepository(row.id, row.name, row.created_at, row.account_id)
        settings = RepositorySettings(
            mutability=Mutability(row.image_tag_mutability),
            exclusion_filters=tuple(row.mutability_exclusions or ()),
            scan_on_push=bool(row.scan_on_push),
            encryption_type=row.encryption_type,
            kms_key=row.kms_key,
        )
        return EcrRepository(row.id, row.name, row.created_at, row.account_id, settings, row.policy_text)

    async def create_repository(
        self, name: str, account_id: str, settings: RepositorySettings, resource_tags: Mapping[str, str]
    ) -> EcrRepository | None:
        """The new repository, or ``None`` when ``name`` is taken (settled by the unique constraint)."""
        async with self._write() as conn:
            inserted = await conn.execute(
                self._insert(repositories)
                .values(account_id=account_id, name=name, created_at=self._clock.now())
                .on_conflict_do_nothing(index_elements=["account_id", "name"])
                .returning(repositories.c.id)
            )
            repository_id = inserted.scalar()
            if repository_id is None:
                return None
            await conn.execute(
                ecr_repositories.insert().values(
                    repository_id=repository_id, account_id=account_id, **settings_columns(settings)
                )
            )
            rows = [{"repository_id": repository_id, "key": k, "value": v} for k, v in resource_tags.items()]
            if rows:
                await conn.execute(ecr_resource_tags.insert(), rows)
        return await self.repository(account_id, name)

    async def repository(self, account_id: str, name: str) -> EcrRepository | None:
        query = self._repository_query().where(
            repositories.c.account_id == account_id, repositories.c.name == name
        )
        async with self._read() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else self._repository(row)

    async def repository_by_id(self, repository_id: int) -> EcrRepository | None:
        query = self._repository_query().where(repositories.c.id == repository_id)
        async with self._read() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else self._repository(row)

    async def list_repositories(self, account_id: str, after: str | None, limit: int) -> list[EcrRepository]:
        name = self._lexical(repositories.c.name)
        query = (
            self._repository_query()
            .where(repositories.c.account_id == account_id)
            .order_by(name)
            .limit(limit)
        )
        if after is not None:
            query = query.where(name > after)
        async with self._read() as conn:
            return [self._repository(row) for row in (await conn.execute(query)).all()]

    async def update_settings(self, repository: EcrRepository, **columns: Any) -> None:
        """Set some ``ecr_repositories`` columns, creating the row (with defaults) when there is none."""
        initial = {"account_id": repository.account_id, **settings_columns(repository.settings), **columns}
        async with self._write() as conn:
            await conn.execute(
                self._insert(ecr_repositories)
                .values(repository_id=repository.id, **initial)
                .on_conflict_do_update(index_elements=["repository_id"], set_=columns)
            )

    async def delete_repository(
        self, repository_id: int, force: bool
    ) -> Literal["deleted", "not_empty", "gone"]:
        async with self._write() as conn:
            if not force:
                has_images = exists().where(manifests.c.repository_id == repository_id)
                if (await conn.execute(select(has_images))).scalar():
                    return "not_empty"
            result = await conn.execute(delete(repositories).where(repositories.c.id == repository_id))
        return "deleted" if result.rowcount else "gone"

    # -- resource tags --------------------------------------------------------------------------------

    async def resource_tags(self, repository_id: int) -> list[tuple[str, str]]:
        query = (
            select(ecr_resource_tags.c.key, ecr_resource_tags.c.value)
            .where(ecr_resource_tags.c.repository_id == repository_id)
            .order_by(self._lexical(ecr_resource_tags.c.key))
        )
        async with self._read() as conn:
            return [(row.key, row.value) for row in (await conn.execute(query)).all()]

    async def put_resource_tags(self, repository_id: int, new: Mapping[str, str], limit: int) -> bool:
        """Add or overwrite ``new``; ``False`` (and no change) when the resource would exceed ``limit``."""
        async with self._write(bump=False) as conn:
            query = select(ecr_resource_tags.c.key).where(ecr_resource_tags.c.repository_id == repository_id)
            keys = set((await conn.execute(query)).scalars())
            if len(keys | set(new)) > limit:
                return False
            for key, value in new.items():
                await conn.execute(
                    self._insert(ecr_resource_tags)
                    .values(repository_id=repository_id, key=key, value=value)
                    .on_conflict_do_update(index_elements=["repository_id", "key"], set_={"value": value})
                )
        return True

    async def remove_resource_tags(self, repository_id: int, keys: Collection[str]) -> None:
        async with self._write(bump=False) as conn:
            await conn.execute(
                delete(ecr_resource_tags).where(
                    ecr_resource_tags.c.repository_id == repository_id,
                    ecr_resource_tags.c.key.in_(list(keys)),
                )
            )

    # -- registry policy ------------------------------------------------------------------------------

    async def registry_policy(self, account_id: str) -> str | None:
        query = select(ecr_registry_policies.c.policy_text).where(
            ecr_registry_policies.c.account_id == account_id
        )
        async with self._read() as conn:
            text: str | None = (await conn.execute(query)).scalar()
        return text

    async def put_registry_policy(self, account_id: str, text: str) -> None:
        now = self._clock.now()
        async with self._write() as conn:
            await conn.execute(
                self._insert(ecr_registry_policies)
                .values(account_id=account_id, policy_text=text, updated_at=now)
                .on_conflict_do_update(
                    index_elements=["account_id"], set_={"policy_text": text, "updated_at": now}
                )
            )

    async def delete_registry_policy(self, account_id: str) -> str | None:
        async with self._write() as conn:
            found = await conn.execute(
                delete(ecr_registry_policies)
                .where(ecr_registry_policies.c.account_id == account_id)
                .returning(ecr_registry_policies.c.policy_text)
            )
            text: str | None = found.scalar()
        return text

    # -- upload parts ---------------------------------------------------------------------------------

    async def note_upload_part(self, upload_id: str, size: int, min_part: int) -> None:
        """Remember the part just received; a part below ``min_part`` followed by another is flagged."""
        parts = ecr_upload_parts.c
        async with self._write(bump=False) as conn:
            await conn.execute(
                self._insert(ecr_upload_parts)
                .values(upload_id=upload_id, last_part_size=size, small_part_before_last=False)
                .on_conflict_do_update(
                    index_elements=["upload_id"],
                    set_={
                        "last_part_size": size,
                        "small_part_before_last": or_(
                            parts.small_part_before_last, parts.last_part_size < min_part
                        ),
                    },
                )
            )

    async def small_inner_part(self, upload_id: str) -> bool:
        query = select(ecr_upload_parts.c.small_part_before_last).where(
            ecr_upload_parts.c.upload_id == upload_id
        )
        async with self._read() as conn:
            return bool((await conn.execute(query)).scalar())
