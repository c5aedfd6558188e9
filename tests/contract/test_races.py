"""Races between writers on separate engines (as separate replicas), on every store of the contract suite
(PostgreSQL included): constraints settle them, so every outcome is one a serial order could give."""

from __future__ import annotations

import asyncio

from dockyard.domain.errors import TagImmutable
from dockyard.domain.records import Upload

from .test_metadata_store import ACCOUNT, OpenStore, StepClock, manifest, repo_with_blobs, sha

WRITERS = 8


async def test_one_of_many_pushes_to_an_immutable_tag_wins(open_store: OpenStore) -> None:
    stores = [open_store() for _ in range(4)]
    repository = await repo_with_blobs(stores[0], "img", sha("b"))
    pushes = [manifest(f"m{i}", blobs=(sha("b"),), tag="v1") for i in range(WRITERS)]
    outcomes = await asyncio.gather(
        *(stores[i % 4].put_manifest(repository.id, new, immutable_tag=True) for i, new in enumerate(pushes)),
        return_exceptions=True,
    )
    winners = [new for new, outcome in zip(pushes, outcomes, strict=True) if outcome is None]
    assert len(winners) == 1
    assert all(isinstance(outcome, TagImmutable) for outcome in outcomes if outcome is not None)
    tagged = await stores[1].get_tagged_manifest(ACCOUNT, "img", "v1")
    assert tagged is not None
    assert tagged.digest == winners[0].record.digest
    images = await stores[2].list_images(repository.id)
    assert [image.digest for image in images] == [winners[0].record.digest]  # the losers stored nothing


async def test_one_manifest_pushed_at_once_by_many(open_store: OpenStore) -> None:
    stores = [open_store() for _ in range(4)]
    repository = await repo_with_blobs(stores[0], "img", sha("b"), sha("c"))
    same = manifest("same", blobs=(sha("b"), sha("c")))
    tags = [f"t{i}" for i in range(WRITERS)]
    await asyncio.gather(
        *(
            stores[i % 4].put_manifest(repository.id, manifest("same", blobs=(sha("b"), sha("c")), tag=tag))
            for i, tag in enumerate(tags)
        )
    )
    [image] = await stores[1].list_images(repository.id)
    assert image.digest == same.record.digest
    assert sorted(image.tags) == sorted(tags)
    assert image.size == len(same.record.content) + 100 + 101  # each referenced blob counted once


async def test_one_blob_finished_by_many_uploads(open_store: OpenStore, clock: StepClock) -> None:
    stores = [open_store() for _ in range(4)]
    repository = await stores[0].create_repository(ACCOUNT, "img")
    ids = [f"upload-{i}" for i in range(WRITERS)]
    for upload_id in ids:
        await stores[0].create_upload(Upload(upload_id, repository.id, 0, clock.now(), clock.now()))
    digest = sha("layer")
    await asyncio.gather(
        *(
            stores[i % 4].finish_upload(upload_id, repository.id, digest, 42)
            for i, upload_id in enumerate(ids)
        )
    )
    assert await stores[1].linked_blob_size(repository.id, digest) == 42
    assert await stores[2].stale_uploads(clock.now()) == []


async def test_repository_created_by_many_pushes_at_once(open_store: OpenStore) -> None:
    stores = [open_store() for _ in range(4)]
    created = await asyncio.gather(*(stores[i % 4].create_repository(ACCOUNT, "new") for i in range(WRITERS)))
    assert len({repository.id for repository in created}) == 1
    assert await stores[3].list_repositories(ACCOUNT, None, None) == ["new"]
