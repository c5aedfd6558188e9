"""The content-addressed layer (``blobstore.content``) over every driver: chunked uploads that resume on
another ``BlobStore`` (as another replica would, with nothing shared in memory), digest verification, and
nothing left behind by a cancelled, interrupted or wrong upload."""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from dockyard.blobstore import content, hashstate
from dockyard.blobstore.content import BlobStore
from dockyard.blobstore.filesystem import FilesystemDriver
from dockyard.blobstore.s3 import S3Driver
from dockyard.domain.digest import Digest
from dockyard.domain.errors import BlobUploadInvalid, DigestInvalid, SizeInvalid
from s3_target import S3Target, unique_prefix

MIB = 1 << 20


@dataclass
class Storage:
    """Opens a fresh ``BlobStore`` (a new driver and client each time) over one storage location."""

    open: Callable[[], BlobStore]
    stored: Callable[[], list[str]]  # every object (S3: and unfinished multipart upload) there is

    def blobs(self) -> list[str]:
        return [path for path in self.stored() if "blobs/" in path]


@pytest.fixture(params=["filesystem", "s3"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Storage:
    if request.param == "filesystem":
        root = tmp_path / "storage"

        def files() -> list[str]:
            return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())

        return Storage(lambda: BlobStore(FilesystemDriver(root)), files)
    target: S3Target = request.getfixturevalue("s3_target")
    prefix = unique_prefix()
    return Storage(lambda: BlobStore(S3Driver(target.config(prefix))), lambda: target.keys(prefix))


async def chunks_of(data: bytes, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def failing_after(data: bytes) -> AsyncIterator[bytes]:
    yield data
    raise ConnectionResetError("client went away")


def sha256(data: bytes) -> Digest:
    return Digest("sha256", hashlib.sha256(data).hexdigest())


async def read_blob(store: BlobStore, digest: Digest) -> bytes:
    return b"".join([chunk async for chunk in store.read(digest)])


async def test_chunks_below_and_above_5_mib_each_on_another_store(storage: Storage) -> None:
    pieces = [os.urandom(n) for n in (3 * MIB, 7 * MIB + 3, 100, 5 * MIB, 1)]
    data = b"".join(pieces)
    size = 0
    for piece in pieces:  # every chunk on a new store: only what storage holds carries the upload
        size = await storage.open().append("u1", size, chunks_of(piece))
    assert size == len(data)
    upload = await storage.open().open("u1", size)
    await upload.commit(sha256(data))
    store = storage.open()
    assert await store.stat(sha256(data)) == len(data)
    assert await read_blob(store, sha256(data)) == data
    await store.discard("u1")
    assert storage.stored() == [p for p in storage.blobs()]


async def test_last_chunk_in_the_commit_request(storage: Storage) -> None:
    first, last = os.urandom(6 * MIB), os.urandom(2 * MIB)
    await storage.open().append("u2", 0, chunks_of(first))
    upload = await storage.open().open("u2", len(first))
    await upload.receive(chunks_of(last), len(last))
    await upload.commit(sha256(first + last))
    assert await read_blob(storage.open(), sha256(first + last)) == first + last


async def test_single_request_blob(storage: Storage) -> None:
    data = os.urandom(11 * MIB)
    upload = await storage.open().open("direct-x", 0)
    await upload.receive(chunks_of(data, MIB), len(data))
    await upload.commit(sha256(data))
    await storage.open().discard("direct-x")
    assert storage.stored() == storage.blobs() != []


async def test_cancel_leaves_nothing(storage: Storage) -> None:
    await storage.open().append("c", 0, chunks_of(os.urandom(6 * MIB + 9)))
    assert storage.stored() != []
    await storage.open().discard("c")
    assert storage.stored() == []


async def test_wrong_digest_commits_nothing(storage: Storage) -> None:
    data = os.urandom(6 * MIB + 1)
    await storage.open().append("w", 0, chunks_of(data))
    upload = await storage.open().open("w", len(data))
    claimed = sha256(b"something else")
    with pytest.raises(DigestInvalid):
        await upload.commit(claimed)
    assert await storage.open().stat(claimed) is None
    assert storage.blobs() == []
    await storage.open().discard("w")
    assert storage.stored() == []


async def test_an_interrupted_chunk_does_not_count(storage: Storage) -> None:
    kept = os.urandom(2 * MIB)
    await storage.open().append("i", 0, chunks_of(kept))
    with pytest.raises(ConnectionResetError):
        await storage.open().append("i", len(kept), failing_after(os.urandom(6 * MIB)))
    more = os.urandom(MIB)
    size = await storage.open().append("i", len(kept), chunks_of(more))
    upload = await storage.open().open("i", size)
    await upload.commit(sha256(kept + more))
    assert await read_blob(storage.open(), sha256(kept + more)) == kept + more


async def test_a_chunk_of_the_wrong_length_is_refused_and_dropped(storage: Storage) -> None:
    await storage.open().append("l", 0, chunks_of(b"abc"))
    with pytest.raises(SizeInvalid):
        await storage.open().append("l", 3, chunks_of(b"defgh"), length=3)
    with pytest.raises(SizeInvalid):
        await storage.open().append("l", 3, chunks_of(b"de"), length=3)
    upload = await storage.open().open("l", 3)
    await upload.commit(sha256(b"abc"))


async def test_resuming_where_nothing_was_saved_is_refused(storage: Storage) -> None:
    with pytest.raises(BlobUploadInvalid):
        await storage.open().open("never", 10)


async def test_sha512_is_verified_by_re_reading(storage: Storage) -> None:
    data = os.urandom(6 * MIB + 2)
    await storage.open().append("s", 0, chunks_of(data))
    digest = Digest("sha512", hashlib.sha512(data).hexdigest())
    with pytest.raises(DigestInvalid):
        await (await storage.open().open("s", len(data))).commit(Digest("sha512", "0" * 128))
    await storage.open().append("s2", 0, chunks_of(data))
    await (await storage.open().open("s2", len(data))).commit(digest)
    assert await read_blob(storage.open(), digest) == data


async def test_without_a_resumable_hash_the_digest_is_verified_by_re_reading(
    storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hashstate, "available", lambda: False)
    data = os.urandom(6 * MIB + 7)
    size = await storage.open().append("n", 0, chunks_of(data[:MIB]))
    size = await storage.open().append("n", size, chunks_of(data[MIB:]))
    with pytest.raises(DigestInvalid):
        await (await storage.open().open("n", size)).commit(sha256(b"other"))
    assert storage.blobs() == []
    await storage.open().append("n2", 0, chunks_of(data))
    await (await storage.open().open("n2", len(data))).commit(sha256(data))
    assert await read_blob(storage.open(), sha256(data)) == data


def test_the_hash_state_is_resumable_here() -> None:
    """The fast path is in use on this machine (else every commit re-reads: docs/storage.md)."""
    assert hashstate.available()
    assert content.hashstate is hashstate


# -- a blob whose digest comes before its bytes (staged at its path on S3) -------------------------------


async def test_digest_up_front_invisible_until_verified(storage: Storage) -> None:
    data = os.urandom(11 * MIB)
    upload = await storage.open().open("direct-up", 0, sha256(data))
    await upload.receive(chunks_of(data, MIB), len(data))
    assert await storage.open().stat(sha256(data)) is None
    await upload.commit(sha256(data))
    assert await read_blob(storage.open(), sha256(data)) == data
    await storage.open().discard("direct-up")
    assert storage.stored() == storage.blobs() != []


async def test_digest_up_front_wrong_leaves_nothing(storage: Storage) -> None:
    data = os.urandom(6 * MIB + 5)
    claimed = sha256(b"not these bytes")
    upload = await storage.open().open("direct-wrong", 0, claimed)
    await upload.receive(chunks_of(data, MIB), len(data))
    with pytest.raises(DigestInvalid):
        await upload.commit(claimed)
    assert await storage.open().stat(claimed) is None
    await storage.open().discard("direct-wrong")
    assert storage.stored() == []


async def test_digest_up_front_interrupted_leaves_nothing(storage: Storage) -> None:
    data = os.urandom(12 * MIB)
    upload = await storage.open().open("direct-cut", 0, sha256(data))
    with pytest.raises(ConnectionResetError):
        await upload.receive(failing_after(data[: 11 * MIB]))
    await storage.open().discard("direct-cut")
    assert storage.stored() == []


async def test_digest_up_front_crashed_is_removed_by_another_store(storage: Storage) -> None:
    """A process that died mid-request (parts out, nothing aborted): discarding the scratch space from
    another process leaves nothing, the bytes staged at the blob's path included."""
    data = os.urandom(12 * MIB)
    upload = await storage.open().open("direct-crash", 0, sha256(data))
    await upload.receive(chunks_of(data[: 11 * MIB], MIB))  # then the process is gone
    assert storage.stored() != []
    await storage.open().discard("direct-crash")
    assert storage.stored() == []


async def test_digest_up_front_onto_an_existing_blob_keeps_it(storage: Storage) -> None:
    data = os.urandom(6 * MIB)
    for name in ("direct-first", "direct-again"):
        upload = await storage.open().open(name, 0, sha256(data))
        await upload.receive(chunks_of(data, MIB), len(data))
        await upload.commit(sha256(data))
        await storage.open().discard(name)
    assert await read_blob(storage.open(), sha256(data)) == data
    assert storage.stored() == storage.blobs() != []


class SigningCounter(S3Driver):
    signed = 0

    async def download_url(self, path: str, expires_in: int) -> str | None:
        self.signed += 1
        return await super().download_url(path, expires_in)


async def test_download_urls_are_reused_for_a_quarter_of_their_lifetime(s3_target: S3Target) -> None:
    now = [1000.0]
    driver = SigningCounter(s3_target.config(unique_prefix()))
    store = BlobStore(driver, url_ttl=400, monotonic=lambda: now[0])
    data = b"layer bytes"
    await store.append("u", 0, chunks_of(data))
    await (await store.open("u", len(data))).commit(sha256(data))
    first = await store.download_url(sha256(data))
    now[0] += 99
    assert await store.download_url(sha256(data)) == first
    assert driver.signed == 1
    now[0] += 1  # a quarter of 400 s: signed again
    await store.download_url(sha256(data))
    assert driver.signed == 2
    await store.download_url(sha256(b"another blob"))  # each blob its own
    assert driver.signed == 3
    await store.delete(sha256(data))  # garbage collection drops it at once
    await store.download_url(sha256(data))
    assert driver.signed == 4
    assert await BlobStore(driver, redirect=False).download_url(sha256(data)) is None
