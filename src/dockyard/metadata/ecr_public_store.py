"""SQL for ECR Public: public registries (aliases), public repositories, their catalog data and policies,
and tag listings.

The layout is drawn at the top of :mod:`dockyard.metadata.ecr_public_tables`. A public repository is a core
``repositories`` row of the registry ``'public'`` plus its ``ecr_public_repositories`` row, written in one
transaction; races (two creates of one name, two accounts drawing one alias) are settled by the unique
constraints. Writes bump the change signal after they commit (the read cache and the access caches hold
repositories and policies).
"""

from __future__ import annotations

from typing import Any, Literal

from sqlalchemy import delete, exists, select, update
from sqlalchemy.engine import Connection

from dockyard.metadata.ecr_image_store import _IMAGE_COLUMNS, _image_row
from dockyard.metadata.ecr_public_tables import (
    PUBLIC_REGISTRY,
    ecr_public_registries,
    ecr_public_repositories,
)
from dockyard.metadata.ecr_store import EcrSql
from dockyard.metadata.ecr_tables import ecr_resource_tags
from dockyard.metadata.tables import manifests, repositories, tags
from dockyard.metadata.unit_sql import all_rows, changed, execute, first
from dockyard.services.ecr_public_types import CatalogData, PublicRegistry, PublicRepository, TagRow

_REGISTRY = ecr_public_registries.c
_PUBLIC = ecr_public_repositories.c
_REPOSITORY_COLUMNS = (
    repositories.c.id,
    repositories.c.created_at,
    _PUBLIC.account_id,
    _PUBLIC.name,
    _PUBLIC.description,
    _PUBLIC.about_text,
    _PUBLIC.usage_text,
    _PUBLIC.architectures,
    _PUBLIC.operating_systems,
    _PUBLIC.policy_text,
    _REGISTRY.alias,
)


def catalog_columns(catalog: CatalogData) -> dict[str, Any]:
    return {
        "description": catalog.description,
        "about_text": catalog.about_text,
        "usage_text": catalog.usage_text,
        "architectures": None if catalog.architectures is None else list(catalog.architectures),
        "operating_systems": None if catalog.operating_systems is None else list(catalog.operating_systems),
    }


def _registry(row: Any) -> PublicRegistry:
    return PublicRegistry(row.account_id, row.alias, row.display_name, row.created_at)


def _repository(row: Any) -> PublicRepository:
    catalog = CatalogData(
        row.description,
        row.about_text,
        row.usage_text,
        None if row.architectures is None else tuple(row.architectures),
        None if row.operating_systems is None else tuple(row.operating_systems),
    )
    return PublicRepository(
        row.id, row.account_id, row.alias, row.name, row.created_at, catalog, row.policy_text
    )


class EcrPublicStore(EcrSql):
    # -- registries -----------------------------------------------------------------------------------

    async def registry(self, account_id: str) -> PublicRegistry | None:
        query = select(ecr_public_registries).where(_REGISTRY.account_id == account_id)
        row = await self._read_unit(first, query)
        return None if row is None else _registry(row)

    async def registry_by_alias(self, alias: str) -> PublicRegistry | None:
        query = select(ecr_public_registries).where(_REGISTRY.alias == alias)
        row = await self._read_unit(first, query)
        return None if row is None else _registry(row)

    async def create_registry(self, account_id: str, alias: str) -> PublicRegistry | None:
        """The account's registry, made with ``alias`` unless it has one; ``None`` when ``alias`` belongs
        to another account (pick another)."""
        insert = (
            self._insert(ecr_public_registries)
            .values(account_id=account_id, alias=alias, display_name="", created_at=self._clock.now())
            .on_conflict_do_nothing()
        )
        await self._write_unit(execute, insert)
        return await self.registry(account_id)

    async def set_display_name(self, account_id: str, display_name: str) -> None:
        query = (
            update(ecr_public_registries)
            .where(_REGISTRY.account_id == account_id)
            .values(display_name=display_name)
        )
        await self._write_unit(execute, query, bump=False)

    # -- repositories ---------------------------------------------------------------------------------

    def _repository_query(self) -> Any:
        joined = repositories.join(ecr_public_repositories, _PUBLIC.repository_id == repositories.c.id).join(
            ecr_public_registries, _REGISTRY.account_id == _PUBLIC.account_id
        )
        return select(*_REPOSITORY_COLUMNS).select_from(joined)

    async def create_repository(
        self, registry: PublicRegistry, name: str, catalog: CatalogData, resource_tags: dict[str, str]
    ) -> PublicRepository | None:
        """The new repository, or ``None`` when ``name`` is taken in the account's public registry."""
        insert = (
            self._insert(repositories)
            .values(account_id=PUBLIC_REGISTRY, name=f"{registry.alias}/{name}", created_at=self._clock.now())
            .on_conflict_do_nothing(index_elements=["account_id", "name"])
            .returning(repositories.c.id)
        )
        public = {"account_id": registry.account_id, "name": name, **catalog_columns(catalog)}
        created = await self._write_unit(_create_repository, insert, public, resource_tags)
        return None if not created else await self.repository(registry.account_id, name)

    async def repository(self, account_id: str, name: str) -> PublicRepository | None:
        query = self._repository_query().where(_PUBLIC.account_id == account_id, _PUBLIC.name == name)
        row = await self._read_unit(first, query)
        return None if row is None else _repository(row)

    async def list_repositories(
        self, account_id: str, after: str | None, limit: int
    ) -> list[PublicRepository]:
        name = self._lexical(_PUBLIC.name)
        query = self._repository_query().where(_PUBLIC.account_id == account_id).order_by(name).limit(limit)
        if after is not None:
            query = query.where(name > after)
        return [_repository(row) for row in await self._read_unit(all_rows, query)]

    async def update_repository(self, repository_id: int, **columns: Any) -> bool:
        """Set catalog or policy columns; ``False`` when the repository is gone."""
        query = (
            update(ecr_public_repositories).where(_PUBLIC.repository_id == repository_id).values(**columns)
        )
        return bool(await self._write_unit(changed, query))

    async def delete_repository(
        self, repository_id: int, force: bool
    ) -> Literal["deleted", "not_empty", "gone"]:
        """Delete the repository with its images (``force``), or only when it has none."""
        outcome: Literal["deleted", "not_empty", "gone"] = await self._write_unit(
            _delete_repository, repository_id, force
        )
        return outcome

    # -- tags -----------------------------------------------------------------------------------------

    async def tag_page(self, repository_id: int, after: str | None, limit: int) -> list[TagRow]:
        """Tags of the repository in lexical order, each with its image."""
        name = self._lexical(tags.c.name)
        query = (
            select(tags.c.name.label("tag"), tags.c.updated_at, *_IMAGE_COLUMNS)
            .join(manifests, manifests.c.id == tags.c.manifest_id)
            .where(tags.c.repository_id == repository_id)
            .order_by(name)
            .limit(limit)
        )
        if after is not None:
            query = query.where(name > after)
        rows = await self._read_unit(all_rows, query)
        return [TagRow(row.tag, row.updated_at, _image_row(row)) for row in rows]


def _create_repository(
    conn: Connection, insert: Any, public: dict[str, Any], resource_tags: dict[str, str]
) -> bool:
    """The core row, then its public row and resource tags, in one transaction; ``False`` when the name
    is taken (settled by the unique constraint)."""
    repository_id = conn.execute(insert).scalar()
    if repository_id is None:
        return False
    conn.execute(ecr_public_repositories.insert().values(repository_id=repository_id, **public))
    rows = [{"repository_id": repository_id, "key": k, "value": v} for k, v in resource_tags.items()]
    if rows:
        conn.execute(ecr_resource_tags.insert(), rows)
    return True


def _delete_repository(
    conn: Connection, repository_id: int, force: bool
) -> Literal["deleted", "not_empty", "gone"]:
    if (
        not force
        and conn.execute(select(exists().where(manifests.c.repository_id == repository_id))).scalar()
    ):
        return "not_empty"
    result = conn.execute(delete(repositories).where(repositories.c.id == repository_id))
    return "deleted" if result.rowcount else "gone"
