"""The contract every :class:`dockyard.ports.MetadataStore` implementation passes (see ``conftest.py``
for the list: SQLite, PostgreSQL, and the read cache in front of SQLite)."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol

import pytest

from dockyard.domain.errors import ManifestBlobUnknown, NameUnknown
from dockyard.domain.manifest import OCI_INDEX, OCI_MANIFEST
from dockyard.domain.records import ManifestRecord, NewManifest, Repository, Upload
from dockyard.ports import MetadataStore

ACCOUNT = "111122223333"
OTHER_ACCOUNT = "444455556666"


class StepClock(Protocol):  # conftest.StepClock
    def now(self) -> datetime: ...
    def advance(self, seconds: float = 1) -> None: ...


OpenStore = Callable[[], MetadataStore]


def sha(seed: str) -> str:
    return f"sha256:{hashlib.sha256(seed.encode()).hexdigest()}"


def manifest(
    seed: str,
    *,
    blobs: tuple[str, ...] = (),
    children: tuple[str, ...] = (),
    tag: str | None = None,
    subject: str | None = None,
    artifact_type: str | None = None,
    annotations: dict[str, str] | None = None,
) -> NewManifest:
    media_type = OCI_INDEX if children else OCI_MANIFEST
    content = json.dumps({"seed": seed, "blobs": blobs, "children": children}).encode()
    record = ManifestRecord(
        digest=f"sha256:{hashlib.sha256(content).hexdigest()}",
        media_type=media_type,
        content=content,
        artifact_type=artifact_type,
        subject=subject,
        annotations=annotations or {},
    )
    return NewManifest(record, blobs, children, tag)


async def repo_with_blobs(store: MetadataStore, name: str, *blobs: str) -> Repository:
    repository = await store.create_repository(ACCOUNT, name)
    for i, digest in enumerate(blobs):
        await store.link_blob(repository.id, digest, 100 + i)
    return repository


# -- repositories ------------------------------------------------------------------------------------


async def test_create_and_get_repository(store: MetadataStore, clock: StepClock) -> None:
    assert await store.get_repository(ACCOUNT, "library/alpine") is None
    created = await store.create_repository(ACCOUNT, "library/alpine")
    assert created.name == "library/alpine"
    assert created.created_at == clock.now()
    assert await store.get_repository(ACCOUNT, "library/alpine") == created


async def test_creating_twice_returns_the_same_repository(store: MetadataStore, clock: StepClock) -> None:
    first = await store.create_repository(ACCOUNT, "app")
    clock.advance(60)
    second = await store.create_repository(ACCOUNT, "app")
    assert second == first
    assert await store.list_repositories(ACCOUNT, None, None) == ["app"]


async def test_concurrent_creations_agree(open_store: OpenStore) -> None:
    stores = [open_store(), open_store()]
    created = await asyncio.gather(*(stores[i % 2].create_repository(ACCOUNT, "race") for i in range(16)))
    assert len({repository.id for repository in created}) == 1
    assert await stores[0].list_repositories(ACCOUNT, None, None) == ["race"]


async def test_concurrent_creations_of_different_names(store: MetadataStore) -> None:
    created = await asyncio.gather(*(store.create_repository(ACCOUNT, f"r{i}") for i in range(12)))
    assert len({repository.id for repository in created}) == 12


async def test_delete_repository_removes_everything_in_it(store: MetadataStore, clock: StepClock) -> None:
    repository = await repo_with_blobs(store, "doomed", sha("a"))
    await store.put_manifest(repository.id, manifest("m", blobs=(sha("a"),), tag="latest"))
    await store.create_upload(Upload("u-1", repository.id, 0, clock.now(), clock.now()))
    assert await store.get_tagged_manifest(ACCOUNT, "doomed", "latest") is not None

    assert await store.delete_repository(ACCOUNT, "doomed") is True
    assert await store.get_repository(ACCOUNT, "doomed") is None
    assert await store.get_tagged_manifest(ACCOUNT, "doomed", "latest") is None
    assert await store.delete_repository(ACCOUNT, "doomed") is False

    again = await store.create_repository(ACCOUNT, "doomed")
    assert await store.list_tags(again.id, None, None) == []
    assert await store.linked_blob_size(again.id, sha("a")) is None
    assert await store.get_upload(repository.id, "u-1") is None
    assert await store.list_images(again.id) == []


NAMES = ["b", "a", "a-b", "a/b", "a.b", "a_b", "ab", "z", "0", "a/b/c", "z9", "b__c"]


async def test_list_repositories_in_lexical_order(store: MetadataStore) -> None:
    for name in NAMES:
        await store.create_repository(ACCOUNT, name)
    assert await store.list_repositories(ACCOUNT, None, None) == sorted(NAMES)


@pytest.mark.parametrize("limit", [1, 2, 5, len(NAMES)])
async def test_list_repositories_pages(store: MetadataStore, limit: int) -> None:
    for name in NAMES:
        await store.create_repository(ACCOUNT, name)
    walked: list[str] = []
    last: str | None = None
    while page := await store.list_repositories(ACCOUNT, last, limit):
        assert len(page) <= limit
        walked += page
        last = page[-1]
    assert walked == sorted(NAMES)


async def test_list_repositories_after_a_name_that_does_not_exist(store: MetadataStore) -> None:
    for name in NAMES:
        await store.create_repository(ACCOUNT, name)
    assert await store.list_repositories(ACCOUNT, "a0", None) == [n for n in sorted(NAMES) if n > "a0"]
    assert await store.list_repositories(ACCOUNT, "zz", 10) == []
    assert await store.list_repositories(ACCOUNT, None, 0) == []


# -- blobs -------------------------------------------------------------------------------------------


async def test_link_and_unlink_blobs(store: MetadataStore) -> None:
    one = await store.create_repository(ACCOUNT, "one")
    two = await store.create_repository(ACCOUNT, "two")
    assert await store.blob_size(sha("x")) is None
    await store.link_blob(one.id, sha("x"), 42)
    await store.link_blob(one.id, sha("x"), 42)  # idempotent
    assert await store.linked_blob_size(one.id, sha("x")) == 42
    assert await store.linked_blob_size(two.id, sha("x")) is None
    assert await store.blob_size(sha("x")) == 42

    await store.link_blob(two.id, sha("x"), 42)
    assert await store.repositories_with_blob(ACCOUNT, sha("x")) == ["one", "two"]
    assert await store.repositories_with_blob(ACCOUNT, sha("x"), limit=1) == ["one"]

    assert await store.unlink_blob(one.id, sha("x")) is True
    assert await store.unlink_blob(one.id, sha("x")) is False
    assert await store.linked_blob_size(one.id, sha("x")) is None
    assert await store.linked_blob_size(two.id, sha("x")) == 42
    assert await store.repositories_with_blob(ACCOUNT, sha("x")) == ["two"]
    assert await store.blob_size(sha("x")) == 42


async def test_concurrent_links_of_one_blob(open_store: OpenStore) -> None:
    stores = [open_store(), open_store()]
    repositories = [await stores[0].create_repository(ACCOUNT, f"r{i}") for i in range(4)]
    await asyncio.gather(
        *(stores[i % 2].link_blob(repositories[i % 4].id, sha("shared"), 7) for i in range(16))
    )
    assert await stores[1].repositories_with_blob(ACCOUNT, sha("shared")) == ["r0", "r1", "r2", "r3"]


# -- uploads -----------------------------------------------------------------------------------------


async def test_upload_sessions(store: MetadataStore, clock: StepClock) -> None:
    repository = await store.create_repository(ACCOUNT, "up")
    other = await store.create_repository(ACCOUNT, "other")
    started = clock.now()
    await store.create_upload(
        Upload("11111111-1111-1111-1111-111111111111", repository.id, 0, started, started)
    )
    upload_id = "11111111-1111-1111-1111-111111111111"
    assert await store.get_upload(repository.id, upload_id) == Upload(
        upload_id, repository.id, 0, started, started
    )
    assert await store.get_upload(other.id, upload_id) is None
    assert await store.get_upload(repository.id, "22222222-2222-2222-2222-222222222222") is None

    clock.advance(30)
    await store.set_upload_size(upload_id, 1234, clock.now())
    upload = await store.get_upload(repository.id, upload_id)
    assert upload is not None
    assert (upload.size, upload.started_at, upload.updated_at) == (1234, started, clock.now())

    await store.create_upload(Upload("old", repository.id, 0, started, started))
    assert await store.stale_uploads(started) == []
    assert await store.stale_uploads(clock.now()) == ["old"]
    assert sorted(await store.stale_uploads(clock.now() + (clock.now() - started))) == sorted(
        [upload_id, "old"]
    )

    await store.delete_upload(upload_id)
    await store.delete_upload(upload_id)  # missing is fine
    assert await store.get_upload(repository.id, upload_id) is None


# -- manifests and tags ------------------------------------------------------------------------------


async def test_put_and_get_manifest(store: MetadataStore, clock: StepClock) -> None:
    repository = await repo_with_blobs(store, "img", sha("config"), sha("layer"))
    new = manifest(
        "m",
        blobs=(sha("config"), sha("layer")),
        tag="v1",
        artifact_type="application/vnd.example",
        subject=sha("subject"),
        annotations={"org.opencontainers.image.created": "2026"},
    )
    await store.put_manifest(repository.id, new)
    by_digest = await store.get_manifest(ACCOUNT, "img", new.record.digest)
    by_tag = await store.get_tagged_manifest(ACCOUNT, "img", "v1")
    assert by_digest == by_tag
    assert by_digest is not None
    assert by_digest.content == new.record.content
    assert by_digest.media_type == OCI_MANIFEST
    assert by_digest.artifact_type == "application/vnd.example"
    assert by_digest.subject == sha("subject")
    assert by_digest.annotations == {"org.opencontainers.image.created": "2026"}
    assert by_digest.created_at == clock.now()
    assert await store.get_manifest(ACCOUNT, "other-repo", new.record.digest) is None


async def test_putting_a_manifest_again_is_idempotent_and_adds_tags(store: MetadataStore) -> None:
    repository = await repo_with_blobs(store, "img", sha("b"))
    await store.put_manifest(repository.id, manifest("m", blobs=(sha("b"),), tag="one"))
    await store.put_manifest(repository.id, manifest("m", blobs=(sha("b"),), tag="two"))
    await store.put_manifest(repository.id, manifest("m", blobs=(sha("b"),)))
    assert await store.list_tags(repository.id, None, None) == ["one", "two"]
    assert len(await store.list_images(repository.id)) == 1


@pytest.mark.parametrize("linked", [(), (sha("config"),)])
async def test_put_manifest_with_a_missing_blob_writes_nothing(
    store: MetadataStore, linked: tuple[str, ...]
) -> None:
    repository = await repo_with_blobs(store, "img", *linked)
    new = manifest("m", blobs=(sha("config"), sha("missing")), tag="latest")
    with pytest.raises(ManifestBlobUnknown):
        await store.put_manifest(repository.id, new)
    assert await store.get_manifest(ACCOUNT, "img", new.record.digest) is None
    assert await store.get_tagged_manifest(ACCOUNT, "img", "latest") is None
    assert await store.list_tags(repository.id, None, None) == []
    assert await store.list_images(repository.id) == []


async def test_blobs_of_another_repository_do_not_count(store: MetadataStore) -> None:
    await repo_with_blobs(store, "owner", sha("b"))
    repository = await store.create_repository(ACCOUNT, "borrower")
    with pytest.raises(ManifestBlobUnknown):
        await store.put_manifest(repository.id, manifest("m", blobs=(sha("b"),), tag="t"))


async def test_index_needs_its_child_manifests(store: MetadataStore) -> None:
    repository = await repo_with_blobs(store, "multi", sha("b"))
    child = manifest("child", blobs=(sha("b"),))
    index = manifest("index", children=(child.record.digest,), tag="latest")
    with pytest.raises(ManifestBlobUnknown):
        await store.put_manifest(repository.id, index)
    assert await store.get_tagged_manifest(ACCOUNT, "multi", "latest") is None
    await store.put_manifest(repository.id, child)
    await store.put_manifest(repository.id, index)
    stored = await store.get_tagged_manifest(ACCOUNT, "multi", "latest")
    assert stored is not None
    assert stored.media_type == OCI_INDEX


async def test_tag_moves_to_the_newest_manifest(store: MetadataStore) -> None:
    repository = await repo_with_blobs(store, "img", sha("b"))
    first, second = (
        manifest("1", blobs=(sha("b"),), tag="latest"),
        manifest("2", blobs=(sha("b"),), tag="latest"),
    )
    await store.put_manifest(repository.id, first)
    seen = await store.get_tagged_manifest(ACCOUNT, "img", "latest")
    assert seen is not None
    assert seen.digest == first.record.digest
    await store.put_manifest(repository.id, second)
    moved = await store.get_tagged_manifest(ACCOUNT, "img", "latest")
    assert moved is not None
    assert moved.digest == second.record.digest
    assert await store.get_manifest(ACCOUNT, "img", first.record.digest) is not None
    assert await store.list_tags(repository.id, None, None) == ["latest"]


async def test_concurrent_pushes_of_one_tag(open_store: OpenStore) -> None:
    stores = [open_store(), open_store()]
    repository = await repo_with_blobs(stores[0], "img", sha("b"))
    pushes = [manifest(str(i % 3), blobs=(sha("b"),), tag="latest") for i in range(12)]
    await asyncio.gather(*(stores[i % 2].put_manifest(repository.id, new) for i, new in enumerate(pushes)))
    tagged = await stores[1].get_tagged_manifest(ACCOUNT, "img", "latest")
    assert tagged is not None
    assert tagged.digest in {new.record.digest for new in pushes}
    assert len(await stores[1].list_images(repository.id)) == 3


async def test_delete_tag_keeps_the_manifest(store: MetadataStore) -> None:
    repository = await repo_with_blobs(store, "img", sha("b"))
    new = manifest("m", blobs=(sha("b"),), tag="latest")
    await store.put_manifest(repository.id, new)
    assert await store.get_tagged_manifest(ACCOUNT, "img", "latest") is not None
    assert await store.delete_tag(repository.id, "latest") is True
    assert await store.delete_tag(repository.id, "latest") is False
    assert await store.get_tagged_manifest(ACCOUNT, "img", "latest") is None
    assert await store.get_manifest(ACCOUNT, "img", new.record.digest) is not None


async def test_delete_manifest_removes_its_tags(store: MetadataStore) -> None:
    repository = await repo_with_blobs(store, "img", sha("b"))
    doomed, kept = manifest("doomed", blobs=(sha("b"),)), manifest("kept", blobs=(sha("b"),), tag="stable")
    for tag in ("a", "b"):
        await store.put_manifest(repository.id, NewManifest(doomed.record, doomed.blob_references, (), tag))
    await store.put_manifest(repository.id, kept)
    assert await store.get_manifest(ACCOUNT, "img", doomed.record.digest) is not None
    assert await store.get_tagged_manifest(ACCOUNT, "img", "a") is not None

    assert await store.delete_manifest(repository.id, doomed.record.digest) is True
    assert await store.delete_manifest(repository.id, doomed.record.digest) is False
    assert await store.get_manifest(ACCOUNT, "img", doomed.record.digest) is None
    assert await store.get_tagged_manifest(ACCOUNT, "img", "a") is None
    assert await store.list_tags(repository.id, None, None) == ["stable"]


TAGS = ["B", "a", "_x", "A-1", "a.b", "a_b", "a-b", "Z9", "z", "0", "latest", "v1.10", "v1.9"]


async def test_list_tags_in_lexical_order_and_pages(store: MetadataStore) -> None:
    repository = await repo_with_blobs(store, "img", sha("b"))
    for tag in TAGS:
        await store.put_manifest(repository.id, manifest("m", blobs=(sha("b"),), tag=tag))
    other = await repo_with_blobs(store, "other", sha("b"))
    await store.put_manifest(other.id, manifest("m", blobs=(sha("b"),), tag="zzz-other"))

    assert await store.list_tags(repository.id, None, None) == sorted(TAGS)
    walked: list[str] = []
    last: str | None = None
    while page := await store.list_tags(repository.id, last, 4):
        assert len(page) <= 4
        walked += page
        last = page[-1]
    assert walked == sorted(TAGS)
    assert await store.list_tags(repository.id, "a", 2) == [t for t in sorted(TAGS) if t > "a"][:2]
    assert await store.list_tags(repository.id, None, 0) == []


async def test_referrers(store: MetadataStore) -> None:
    repository = await repo_with_blobs(store, "img", sha("b"))
    subject = manifest("subject", blobs=(sha("b"),), tag="latest")
    await store.put_manifest(repository.id, subject)
    target = subject.record.digest
    assert await store.list_referrers(repository.id, target) == []

    signature = manifest("sig", blobs=(sha("b"),), subject=target, artifact_type="application/vnd.sig")
    sbom = manifest(
        "sbom", blobs=(sha("b"),), subject=target, artifact_type="application/spdx", annotations={"k": "v"}
    )
    plain = manifest("plain", blobs=(sha("b"),), subject=target)
    unrelated = manifest("unrelated", blobs=(sha("b"),), subject=sha("elsewhere"))
    for new in (signature, sbom, plain, unrelated):
        await store.put_manifest(repository.id, new)
    other = await repo_with_blobs(store, "other", sha("b"))
    await store.put_manifest(other.id, manifest("foreign", blobs=(sha("b"),), subject=target))

    found = await store.list_referrers(repository.id, target)
    assert [r.digest for r in found] == [signature.record.digest, sbom.record.digest, plain.record.digest]
    assert [r.artifact_type for r in found] == ["application/vnd.sig", "application/spdx", None]
    assert [r.annotations for r in found] == [{}, {"k": "v"}, {}]
    assert [r.size for r in found] == [len(n.record.content) for n in (signature, sbom, plain)]
    assert {r.media_type for r in found} == {OCI_MANIFEST}


async def test_referrers_of_a_subject_pushed_later(store: MetadataStore) -> None:
    repository = await repo_with_blobs(store, "img", sha("b"))
    referrer = manifest("sig", blobs=(sha("b"),), subject=sha("not-yet"))
    await store.put_manifest(repository.id, referrer)
    assert [r.digest for r in await store.list_referrers(repository.id, sha("not-yet"))] == [
        referrer.record.digest
    ]


async def test_list_images(store: MetadataStore, clock: StepClock) -> None:
    repository = await store.create_repository(ACCOUNT, "img")
    await store.link_blob(repository.id, sha("config"), 100)
    await store.link_blob(repository.id, sha("layer"), 5000)
    old = manifest("old", blobs=(sha("config"), sha("layer")), tag="v1")
    await store.put_manifest(repository.id, old)
    old_time = clock.now()
    clock.advance(10)
    new = manifest("new", blobs=(sha("config"),), tag="v2")
    await store.put_manifest(repository.id, new)
    for tag in ("latest", "V3"):
        await store.put_manifest(repository.id, NewManifest(new.record, new.blob_references, (), tag))

    images = await store.list_images(repository.id)
    assert [image.digest for image in images] == [new.record.digest, old.record.digest]
    assert [image.size for image in images] == [len(new.record.content) + 100, len(old.record.content) + 5100]
    assert [image.tags for image in images] == [("V3", "latest", "v2"), ("v1",)]  # lexical, as tags/list
    assert [image.pushed_at for image in images] == [clock.now(), old_time]


# -- strings no stored value can hold (PostgreSQL text cannot hold NUL at all) ------------------------


async def test_upload_lookup_with_nul_finds_nothing(store: MetadataStore, clock: StepClock) -> None:
    repository = await store.create_repository(ACCOUNT, "a")
    await store.create_upload(Upload("u", repository.id, 0, clock.now(), clock.now()))
    assert await store.get_upload(repository.id, "\x00") is None
    assert await store.get_upload(repository.id, "u\x00") is None


@pytest.mark.parametrize("last", ["\x00", "a\x00", "a\x00zzz", "a-b\x00", "b\x00\x00"])
async def test_pagination_after_a_nul_orders_as_the_byte_strings_do(store: MetadataStore, last: str) -> None:
    for name in NAMES:
        await store.create_repository(ACCOUNT, name)
    expected = [name for name in sorted(NAMES) if name > last]
    assert await store.list_repositories(ACCOUNT, last, None) == expected
    repository = await repo_with_blobs(store, "tagged", sha("b"))
    for tag in ["a", "a-b", "a0", "b", "A"]:
        await store.put_manifest(repository.id, manifest("m", blobs=(sha("b"),), tag=tag))
    assert await store.list_tags(repository.id, last, None) == [
        t for t in sorted(["a", "a-b", "a0", "b", "A"]) if t > last
    ]


async def test_repository_names_are_per_account(store: MetadataStore) -> None:
    """Two accounts may each have ``app``: separate repositories, manifests and listings."""
    mine = await store.create_repository(ACCOUNT, "app")
    theirs = await store.create_repository(OTHER_ACCOUNT, "app")
    assert mine.id != theirs.id
    assert (mine.account_id, theirs.account_id) == (ACCOUNT, OTHER_ACCOUNT)
    assert await store.get_repository(OTHER_ACCOUNT, "app") == theirs
    assert await store.list_repositories(ACCOUNT, None, None) == ["app"]
    assert await store.list_repositories("999999999999", None, None) == []
    assert await store.delete_repository(OTHER_ACCOUNT, "app") is True
    assert await store.get_repository(ACCOUNT, "app") == mine


async def test_writes_into_a_repository_deleted_meanwhile_are_name_unknown(store: MetadataStore) -> None:
    """A push still holding the id of a repository someone deleted gets NAME_UNKNOWN, and nothing is
    written (the foreign keys settle it, not a check before the insert)."""
    repository = await repo_with_blobs(store, "doomed/app", sha("layer"))
    assert await store.delete_repository(ACCOUNT, "doomed/app")
    with pytest.raises(NameUnknown):
        await store.link_blob(repository.id, sha("late"), 3)
    with pytest.raises(NameUnknown):
        await store.put_manifest(repository.id, manifest("late", tag="v1"))
    now = datetime(2026, 1, 1, tzinfo=UTC)
    with pytest.raises(NameUnknown):
        await store.create_upload(Upload("late-upload", repository.id, 0, now, now))
    assert await store.blob_size(sha("late")) is None
    assert await store.get_repository(ACCOUNT, "doomed/app") is None
