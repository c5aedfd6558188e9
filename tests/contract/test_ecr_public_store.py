"""The ECR Public store on SQLite and PostgreSQL: registries and aliases, public repositories in their own
namespace, catalog data, policies, deletes and tag listings, each race settled by a constraint."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator

import pytest

from clocks import StepClock
from dockyard.domain.manifest import OCI_MANIFEST
from dockyard.domain.records import ManifestRecord, NewManifest
from dockyard.metadata.ecr_public_store import EcrPublicStore, catalog_columns
from dockyard.metadata.ecr_public_tables import PUBLIC_REGISTRY
from dockyard.metadata.engine import create_engine
from dockyard.metadata.signal import LocalChangeSignal
from dockyard.metadata.store import SqlMetadataStore
from dockyard.services.ecr_public_types import CatalogData

ACCOUNT = "111122223333"
OTHER = "444455556666"


@pytest.fixture
async def stores(
    db_url: str, clock: StepClock
) -> AsyncIterator[tuple[EcrPublicStore, SqlMetadataStore, LocalChangeSignal]]:
    engine = create_engine(db_url)
    signal = LocalChangeSignal()
    try:
        yield EcrPublicStore(engine, clock, signal), SqlMetadataStore(engine, clock), signal
    finally:
        await engine.dispose()


async def test_a_registry_keeps_its_first_alias_and_aliases_are_unique(
    stores: tuple[EcrPublicStore, SqlMetadataStore, LocalChangeSignal],
) -> None:
    store, _, _ = stores
    assert await store.registry(ACCOUNT) is None
    made = await store.create_registry(ACCOUNT, "acme")
    assert made is not None
    assert (made.alias, made.display_name) == ("acme", "")
    again = await store.create_registry(ACCOUNT, "other")
    assert again is not None
    assert again.alias == "acme"
    assert await store.create_registry(OTHER, "acme") is None  # taken: the caller draws another
    assert (await store.registry_by_alias("acme")).account_id == ACCOUNT  # type: ignore[union-attr]
    assert await store.registry_by_alias("nobody") is None
    await store.set_display_name(ACCOUNT, "Acme Corp")
    assert (await store.registry(ACCOUNT)).display_name == "Acme Corp"  # type: ignore[union-attr]


async def test_public_repositories_are_their_own_namespace(
    stores: tuple[EcrPublicStore, SqlMetadataStore, LocalChangeSignal],
) -> None:
    store, core, signal = stores
    registry = await store.create_registry(ACCOUNT, "acme")
    assert registry is not None
    private = await core.create_repository(ACCOUNT, "app")
    before = signal.current()
    catalog = CatalogData("hello", architectures=("x86-64",))
    created = await store.create_repository(registry, "app", catalog, {"team": "core"})
    assert created is not None
    assert signal.current() != before  # the read cache and the access caches hear of it
    assert (created.alias, created.name, created.path, created.account_id) == (
        "acme",
        "app",
        "acme/app",
        ACCOUNT,
    )
    assert created.catalog == catalog
    assert created.id != private.id
    assert (await core.get_repository(PUBLIC_REGISTRY, "acme/app")).id == created.id  # type: ignore[union-attr]
    assert (await core.get_repository(ACCOUNT, "app")).id == private.id  # type: ignore[union-attr]
    assert await store.repository(ACCOUNT, "acme/app") is None
    assert await store.repository(OTHER, "app") is None
    assert await store.create_repository(registry, "app", CatalogData(), {}) is None
    assert [r.name for r in await store.list_repositories(ACCOUNT, None, 10)] == ["app"]
    assert await store.list_repositories(OTHER, None, 10) == []


async def test_concurrent_creates_of_one_name_make_one_repository(
    stores: tuple[EcrPublicStore, SqlMetadataStore, LocalChangeSignal],
) -> None:
    store, _, _ = stores
    registry = await store.create_registry(ACCOUNT, "acme")
    assert registry is not None
    results = await asyncio.gather(
        *(store.create_repository(registry, "race", CatalogData(), {}) for _ in range(5))
    )
    assert sum(r is not None for r in results) == 1


async def test_listing_is_lexical_and_pages(
    stores: tuple[EcrPublicStore, SqlMetadataStore, LocalChangeSignal],
) -> None:
    store, _, _ = stores
    registry = await store.create_registry(ACCOUNT, "acme")
    assert registry is not None
    for name in ("b", "a-z", "A".lower() + "a", "z/x", "a/b"):
        await store.create_repository(registry, name, CatalogData(), {})
    names = [r.name for r in await store.list_repositories(ACCOUNT, None, 10)]
    assert names == sorted(names, key=lambda n: n.encode())
    assert [r.name for r in await store.list_repositories(ACCOUNT, names[1], 2)] == names[2:4]


async def test_catalog_and_policy_updates_and_deletes(
    stores: tuple[EcrPublicStore, SqlMetadataStore, LocalChangeSignal],
) -> None:
    store, core, _ = stores
    registry = await store.create_registry(ACCOUNT, "acme")
    assert registry is not None
    created = await store.create_repository(registry, "app", CatalogData(), {})
    assert created is not None
    updated = CatalogData("d", "about", "usage", ("ARM",), ("Linux", "Windows"))
    assert await store.update_repository(created.id, **catalog_columns(updated), policy_text='{"x":1}')
    found = await store.repository(ACCOUNT, "app")
    assert found is not None
    assert (found.catalog, found.policy_text) == (updated, '{"x":1}')
    repository = await core.get_repository(PUBLIC_REGISTRY, "acme/app")
    assert repository is not None
    await _push(core, repository.id, "v1")
    assert await store.delete_repository(created.id, force=False) == "not_empty"
    assert await store.repository(ACCOUNT, "app") is not None
    assert await store.delete_repository(created.id, force=True) == "deleted"
    assert await store.repository(ACCOUNT, "app") is None
    assert await core.get_repository(PUBLIC_REGISTRY, "acme/app") is None
    assert await store.delete_repository(created.id, force=True) == "gone"
    assert not await store.update_repository(created.id, policy_text=None)


async def test_tag_pages_carry_their_images(
    stores: tuple[EcrPublicStore, SqlMetadataStore, LocalChangeSignal],
) -> None:
    store, core, _ = stores
    registry = await store.create_registry(ACCOUNT, "acme")
    assert registry is not None
    created = await store.create_repository(registry, "app", CatalogData(), {})
    assert created is not None
    digests = {tag: await _push(core, created.id, tag) for tag in ("v2", "latest", "v1")}
    page = await store.tag_page(created.id, None, 2)
    assert [row.tag for row in page] == ["latest", "v1"]
    assert [row.image.digest for row in page] == [digests["latest"], digests["v1"]]
    assert [row.tag for row in await store.tag_page(created.id, "v1", 5)] == ["v2"]


async def _push(core: SqlMetadataStore, repository_id: int, tag: str) -> str:
    content = json.dumps({"schemaVersion": 2, "tag": tag, "layers": []}).encode()
    digest = f"sha256:{hashlib.sha256(content).hexdigest()}"
    record = ManifestRecord(digest=digest, media_type=OCI_MANIFEST, content=content)
    await core.put_manifest(repository_id, NewManifest(record, (), (), tag))
    return digest
