"""SQL for the ECR control plane: repository settings, resource tags, policies, image listings and sizes,
deletes with ECR's semantics, pull times and upload part sizes.

Reads the core tables (``repositories``, ``manifests``, ``tags``…) directly, in the same database; every
write that can change a cached lookup bumps the shared change signal after it commits, as
:class:`~dockyard.metadata.cache.CachedMetadataStore` does.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Any, Literal, TypeVar

from sqlalchemy import bindparam, delete, exists, or_, select
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from dockyard.metadata.base import SqlStore
from dockyard.metadata.ecr_tables import (
    ecr_registry_policies,
    ecr_repositories,
    ecr_resource_tags,
    ecr_upload_parts,
)
from dockyard.metadata.tables import manifests, repositories
from dockyard.metadata.unit_sql import all_rows, execute, first, scalar
from dockyard.ports import ChangeSignal, Clock
from dockyard.services.ecr_types import EcrRepository, Mutability, RepositorySettings

T = TypeVar("T")
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
_REPOSITORY_QUERY = select(*_REPOSITORY_COLUMNS).select_from(
    repositories.outerjoin(ecr_repositories, ecr_repositories.c.repository_id == repositories.c.id)
)
# The lookups every ECR call makes, built once (values bound per call).
_REPOSITORY_BY_NAME = _REPOSITORY_QUERY.where(
    repositories.c.account_id == bindparam("account"), repositories.c.name == bindparam("name")
)
_REPOSITORY_BY_ID = _REPOSITORY_QUERY.where(repositories.c.id == bindparam("id"))
_REGISTRY_POLICY = select(ecr_registry_policies.c.policy_text).where(
    ecr_registry_policies.c.account_id == bindparam("account")
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

    async def _write_unit(self, fn: Callable[..., T], /, *args: Any, bump: bool = True) -> T:
        """The unit, committed; then (``bump``) the change signal, also when the unit raised or the caller
        was cancelled (:meth:`SqlStore._write_unit` lets a cancelled caller go only after the commit)."""
        try:
            return await super()._write_unit(fn, *args)
        finally:
            if bump:
                self._signal.bump()


class EcrStore(EcrSql):
    """Repositories with their ECR settings, resource tags, registry policies, upload part sizes."""

    def __init__(self, engine: AsyncEngine, clock: Clock, signal: ChangeSignal, default_account: str) -> None:
        super().__init__(engine, clock, signal)
        self.default_account = default_account

    # -- repositories ---------------------------------------------------------------------------------

    async def create_repository(
        self, name: str, account_id: str, settings: RepositorySettings, resource_tags: Mapping[str, str]
    ) -> EcrRepository | None:
        """The new repository, or ``None`` when ``name`` is taken (settled by the unique constraint)."""
        insert = (
            self._insert(repositories)
            .values(account_id=account_id, name=name, created_at=self._clock.now())
            .on_conflict_do_nothing(index_elements=["account_id", "name"])
            .returning(repositories.c.id)
        )
        return await self._write_unit(_create_repository, insert, account_id, settings, dict(resource_tags))

    async def repository(self, account_id: str, name: str) -> EcrRepository | None:
        row = await self._read_unit(first, _REPOSITORY_BY_NAME, {"account": account_id, "name": name})
        return None if row is None else _ecr_repository(row)

    async def repository_by_id(self, repository_id: int) -> EcrRepository | None:
        row = await self._read_unit(first, _REPOSITORY_BY_ID, {"id": repository_id})
        return None if row is None else _ecr_repository(row)

    async def list_repositories(self, account_id: str, after: str | None, limit: int) -> list[EcrRepository]:
        name = self._lexical(repositories.c.name)
        query = _REPOSITORY_QUERY.where(repositories.c.account_id == account_id).order_by(name).limit(limit)
        if after is not None:
            query = query.where(name > after)
        return [_ecr_repository(row) for row in await self._read_unit(all_rows, query)]

    async def update_settings(self, repository: EcrRepository, **columns: Any) -> None:
        """Set some ``ecr_repositories`` columns, creating the row (with defaults) when there is none."""
        initial = {"account_id": repository.account_id, **settings_columns(repository.settings), **columns}
        statement = (
            self._insert(ecr_repositories)
            .values(repository_id=repository.id, **initial)
            .on_conflict_do_update(index_elements=["repository_id"], set_=columns)
        )
        await self._write_unit(execute, statement)

    async def delete_repository(
        self, repository_id: int, force: bool
    ) -> Literal["deleted", "not_empty", "gone"]:
        return await self._write_unit(_delete_repository, repository_id, force)

    # -- resource tags --------------------------------------------------------------------------------

    async def resource_tags(self, repository_id: int) -> list[tuple[str, str]]:
        query = (
            select(ecr_resource_tags.c.key, ecr_resource_tags.c.value)
            .where(ecr_resource_tags.c.repository_id == repository_id)
            .order_by(self._lexical(ecr_resource_tags.c.key))
        )
        return [(row.key, row.value) for row in await self._read_unit(all_rows, query)]

    async def put_resource_tags(self, repository_id: int, new: Mapping[str, str], limit: int) -> bool:
        """Add or overwrite ``new``; ``False`` (and no change) when the resource would exceed ``limit``."""
        return await self._write_unit(self._put_resource_tags, repository_id, dict(new), limit, bump=False)

    def _put_resource_tags(
        self, conn: Connection, repository_id: int, new: dict[str, str], limit: int
    ) -> bool:
        query = select(ecr_resource_tags.c.key).where(ecr_resource_tags.c.repository_id == repository_id)
        keys = set(conn.execute(query).scalars())
        if len(keys | set(new)) > limit:
            return False
        for key, value in new.items():
            conn.execute(
                self._insert(ecr_resource_tags)
                .values(repository_id=repository_id, key=key, value=value)
                .on_conflict_do_update(index_elements=["repository_id", "key"], set_={"value": value})
            )
        return True

    async def remove_resource_tags(self, repository_id: int, keys: Collection[str]) -> None:
        statement = delete(ecr_resource_tags).where(
            ecr_resource_tags.c.repository_id == repository_id,
            ecr_resource_tags.c.key.in_(list(keys)),
        )
        await self._write_unit(execute, statement, bump=False)

    # -- registry policy ------------------------------------------------------------------------------

    async def registry_policy(self, account_id: str) -> str | None:
        text: str | None = await self._read_unit(scalar, _REGISTRY_POLICY, {"account": account_id})
        return text

    async def put_registry_policy(self, account_id: str, text: str) -> None:
        now = self._clock.now()
        statement = (
            self._insert(ecr_registry_policies)
            .values(account_id=account_id, policy_text=text, updated_at=now)
            .on_conflict_do_update(
                index_elements=["account_id"], set_={"policy_text": text, "updated_at": now}
            )
        )
        await self._write_unit(execute, statement)

    async def delete_registry_policy(self, account_id: str) -> str | None:
        statement = (
            delete(ecr_registry_policies)
            .where(ecr_registry_policies.c.account_id == account_id)
            .returning(ecr_registry_policies.c.policy_text)
        )
        text: str | None = await self._write_unit(scalar, statement)
        return text

    # -- upload parts ---------------------------------------------------------------------------------

    async def note_upload_part(self, upload_id: str, size: int, min_part: int) -> None:
        """Remember the part just received; a part below ``min_part`` followed by another is flagged."""
        parts = ecr_upload_parts.c
        statement = (
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
        await self._write_unit(execute, statement, bump=False)

    async def small_inner_part(self, upload_id: str) -> bool:
        query = select(ecr_upload_parts.c.small_part_before_last).where(
            ecr_upload_parts.c.upload_id == upload_id
        )
        return bool(await self._read_unit(scalar, query))


def _create_repository(
    conn: Connection,
    insert: Any,
    account_id: str,
    settings: RepositorySettings,
    resource_tags: dict[str, str],
) -> EcrRepository | None:
    """Insert the repository, its settings and tags; read it back in the same transaction."""
    repository_id = conn.execute(insert).scalar()
    if repository_id is None:
        return None
    conn.execute(
        ecr_repositories.insert().values(
            repository_id=repository_id, account_id=account_id, **settings_columns(settings)
        )
    )
    rows = [{"repository_id": repository_id, "key": k, "value": v} for k, v in resource_tags.items()]
    if rows:
        conn.execute(ecr_resource_tags.insert(), rows)
    return _ecr_repository(conn.execute(_REPOSITORY_BY_ID, {"id": repository_id}).one())


def _delete_repository(
    conn: Connection, repository_id: int, force: bool
) -> Literal["deleted", "not_empty", "gone"]:
    if not force:
        has_images = exists().where(manifests.c.repository_id == repository_id)
        if conn.execute(select(has_images)).scalar():
            return "not_empty"
    result = conn.execute(delete(repositories).where(repositories.c.id == repository_id))
    return "deleted" if result.rowcount else "gone"


def _ecr_repository(row: Any) -> EcrRepository:
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
