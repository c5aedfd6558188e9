"""The contract every :class:`dockyard.ports.BlobDriver` implementation passes.

To cover a new driver, add a factory to ``DRIVERS``: it receives the test's ``request`` and a fresh empty
directory (use them or not) and returns a driver over an empty store.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from dockyard.blobstore.filesystem import FilesystemDriver
from dockyard.blobstore.s3 import S3Driver
from dockyard.ports import BlobDriver, BlobWriter
from s3_target import S3Target, unique_prefix

MIB = 1 << 20


def _filesystem(_request: pytest.FixtureRequest, root: Path) -> BlobDriver:
    return FilesystemDriver(root / "storage")


def _s3(request: pytest.FixtureRequest, _root: Path) -> BlobDriver:
    target: S3Target = request.getfixturevalue("s3_target")
    return S3Driver(target.config(unique_prefix()))  # 5 MiB parts: S3's minimum


DRIVERS: dict[str, Callable[[pytest.FixtureRequest, Path], BlobDriver]] = {
    "filesystem": _filesystem,
    "s3": _s3,
}


@pytest.fixture(params=list(DRIVERS))
def driver(request: pytest.FixtureRequest, tmp_path: Path) -> BlobDriver:
    return DRIVERS[request.param](request, tmp_path)


async def read_all(driver: BlobDriver, path: str, offset: int = 0, length: int | None = None) -> bytes:
    return b"".join([chunk async for chunk in driver.read(path, offset, length)])


async def put(driver: BlobDriver, path: str, data: bytes) -> None:
    """A finished object at ``path`` (written and committed in place)."""
    writer = await driver.writer(path)
    await writer.write(data)
    await writer.commit(path)


async def resume(driver: BlobDriver, path: str, size: int) -> tuple[BlobWriter, bytes]:
    resumed = await driver.resume(path, size)
    assert resumed is not None, f"nothing saved at {size}"
    return resumed


# -- stat and read -----------------------------------------------------------------------------------


async def test_stat_of_a_missing_path_is_none(driver: BlobDriver) -> None:
    assert await driver.stat("uploads/nothing") is None
    assert await driver.stat("blobs/sha256/ab/abcdef") is None


async def test_committed_bytes_are_read_back(driver: BlobDriver) -> None:
    await put(driver, "uploads/u1/data", b"hello world")
    assert await driver.stat("uploads/u1/data") == 11
    assert await read_all(driver, "uploads/u1/data") == b"hello world"


@pytest.mark.parametrize(
    ("offset", "length", "expected"),
    [
        (0, None, b"0123456789"),
        (3, None, b"3456789"),
        (3, 4, b"3456"),
        (0, 0, b""),
        (9, 5, b"9"),
        (10, None, b""),
    ],
)
async def test_read_with_offset_and_length(
    driver: BlobDriver, offset: int, length: int | None, expected: bytes
) -> None:
    await put(driver, "uploads/r/data", b"0123456789")
    assert await read_all(driver, "uploads/r/data", offset, length) == expected


async def test_read_spanning_many_chunks(driver: BlobDriver) -> None:
    data = os.urandom(3 * MIB + 17)
    await put(driver, "uploads/big/data", data)
    start, length = MIB - 5, MIB + 11
    assert await read_all(driver, "uploads/big/data", start, length) == data[start : start + length]
    assert await read_all(driver, "uploads/big/data") == data


async def test_local_path_when_offered_holds_the_bytes(driver: BlobDriver) -> None:
    await put(driver, "blobs/sha256/lo/local", b"local")
    path = driver.local_path("blobs/sha256/lo/local")
    if path is not None:
        assert path.read_bytes() == b"local"


async def test_download_url_when_offered_serves_the_bytes_and_ranges(driver: BlobDriver) -> None:
    await put(driver, "blobs/sha256/dl/download", b"0123456789")
    url = await driver.download_url("blobs/sha256/dl/download", 60)
    if url is None:
        return
    async with httpx.AsyncClient(trust_env=False) as client:
        assert (await client.get(url)).content == b"0123456789"
        ranged = await client.get(url, headers={"Range": "bytes=2-4"})
        assert ranged.status_code == 206
        assert ranged.content == b"234"


# -- writers -----------------------------------------------------------------------------------------


async def test_a_writer_is_invisible_until_committed(driver: BlobDriver) -> None:
    writer = await driver.writer("uploads/w/data")
    await writer.write(b"content")
    await writer.save()
    assert writer.size == 7
    assert await driver.stat("blobs/sha256/co/content") is None
    await writer.commit("blobs/sha256/co/content")
    assert await driver.stat("blobs/sha256/co/content") == 7
    assert await read_all(driver, "blobs/sha256/co/content") == b"content"


async def test_resume_continues_where_a_save_left_off_with_its_state(driver: BlobDriver) -> None:
    first = await driver.writer("uploads/s/data")
    await first.write(b"abc")
    await first.save(b"state-at-3")
    second, state = await resume(driver, "uploads/s/data", 3)
    assert state == b"state-at-3"
    assert second.size == 3
    await second.write(b"def")
    await second.save(b"state-at-6")
    third, state = await resume(driver, "uploads/s/data", 6)
    assert state == b"state-at-6"
    await third.commit("blobs/sha256/ab/abcdef")
    assert await read_all(driver, "blobs/sha256/ab/abcdef") == b"abcdef"


async def test_resume_where_nothing_was_saved_is_none(driver: BlobDriver) -> None:
    assert await driver.resume("uploads/none/data", 5) is None
    writer = await driver.writer("uploads/short/data")
    await writer.write(b"abc")
    await writer.save()
    assert await driver.resume("uploads/short/data", 10) is None


async def test_bytes_written_after_the_last_save_are_dropped_by_a_resume(driver: BlobDriver) -> None:
    writer = await driver.writer("uploads/i/data")
    await writer.write(b"kept")
    await writer.save(b"s")
    interrupted, _ = await resume(driver, "uploads/i/data", 4)
    await interrupted.write(b"-lost-when-the-client-went-away")
    await interrupted.abandon()
    again, state = await resume(driver, "uploads/i/data", 4)
    assert state == b"s"
    await again.write(b"+more")
    await again.commit("blobs/sha256/ke/kept")
    assert await read_all(driver, "blobs/sha256/ke/kept") == b"kept+more"


async def test_many_parts_and_tails_across_resumes(driver: BlobDriver) -> None:
    """Chunks below and above S3's 5 MiB part minimum, each on a fresh writer (as on another process)."""
    chunks = [os.urandom(size) for size in (MIB, 3 * MIB, 6 * MIB + 5, 17, 5 * MIB, 2 * MIB + 1)]
    writer = await driver.writer("uploads/m/data")
    size = 0
    for chunk in chunks:
        for start in range(0, len(chunk), MIB):
            await writer.write(chunk[start : start + MIB])
        size += len(chunk)
        await writer.save(str(size).encode())
        writer, state = await resume(driver, "uploads/m/data", size)
        assert state == str(size).encode()
    await writer.commit("blobs/sha256/mm/many")
    data = b"".join(chunks)
    assert await driver.stat("blobs/sha256/mm/many") == len(data)
    assert await read_all(driver, "blobs/sha256/mm/many") == data


async def test_commit_in_place_makes_a_readable_object_that_moves(driver: BlobDriver) -> None:
    writer = await driver.writer("uploads/p/data")
    await writer.write(os.urandom(6 * MIB))
    await writer.write(b"end")
    await writer.commit("uploads/p/data")
    assert await driver.stat("uploads/p/data") == 6 * MIB + 3
    await driver.commit("uploads/p/data", "blobs/sha256/pp/placed")
    assert await driver.stat("uploads/p/data") is None
    assert await driver.stat("blobs/sha256/pp/placed") == 6 * MIB + 3


async def test_commit_onto_an_existing_destination_keeps_it(driver: BlobDriver) -> None:
    await put(driver, "blobs/sha256/xx/same", b"first")
    writer = await driver.writer("uploads/second/data")
    await writer.write(b"second!")
    await writer.commit("blobs/sha256/xx/same")
    assert await read_all(driver, "blobs/sha256/xx/same") == b"first"
    await put(driver, "uploads/third/data", b"third")
    await driver.commit("uploads/third/data", "blobs/sha256/xx/same")
    assert await read_all(driver, "blobs/sha256/xx/same") == b"first"
    assert await driver.stat("uploads/third/data") is None


async def test_commit_of_an_empty_writer(driver: BlobDriver) -> None:
    writer = await driver.writer("uploads/e/data")
    await writer.commit("blobs/sha256/e3/empty")
    assert await driver.stat("blobs/sha256/e3/empty") == 0
    assert await read_all(driver, "blobs/sha256/e3/empty") == b""


async def test_a_new_writer_drops_what_was_there(driver: BlobDriver) -> None:
    old = await driver.writer("uploads/n/data")
    await old.write(b"old bytes")
    await old.save(b"old")
    new = await driver.writer("uploads/n/data")
    await new.write(b"new")
    await new.commit("blobs/sha256/ne/new")
    assert await read_all(driver, "blobs/sha256/ne/new") == b"new"


# -- writers told their destination up front -----------------------------------------------------------


async def test_a_writer_with_a_destination_is_invisible_until_committed_there(driver: BlobDriver) -> None:
    data = os.urandom(11 * MIB)
    writer = await driver.writer("uploads/up/data", "blobs/sha256/up/front")
    await writer.write(data)
    assert await driver.stat("blobs/sha256/up/front") is None
    await writer.commit("blobs/sha256/up/front")
    assert await read_all(driver, "blobs/sha256/up/front") == data
    await driver.delete("uploads/up")
    assert await read_all(driver, "blobs/sha256/up/front") == data
    assert await driver.list("uploads/") == []


async def test_delete_removes_a_writer_with_a_destination(driver: BlobDriver) -> None:
    writer = await driver.writer("uploads/dead/data", "blobs/sha256/de/dead")
    await writer.write(os.urandom(11 * MIB))  # parts are out; then the request dies
    await writer.abandon()
    other = await driver.writer("uploads/crashed/data", "blobs/sha256/de/dead")
    await other.write(os.urandom(11 * MIB))  # parts are out; then the process dies
    await driver.delete("uploads/dead")
    await driver.delete("uploads/crashed")
    assert await driver.list("blobs/") == []
    assert await driver.list("uploads/") == []


async def test_deleting_the_destination_leaves_a_writer_staged_there(driver: BlobDriver) -> None:
    """Garbage collection deletes a blob's old bytes while the same blob is pushed again."""
    data = os.urandom(11 * MIB)
    await put(driver, "blobs/sha256/ag/again", b"old bytes")
    writer = await driver.writer("uploads/again/data", "blobs/sha256/ag/again")
    await writer.write(data)
    await driver.delete("blobs/sha256/ag/again")
    assert await driver.stat("blobs/sha256/ag/again") is None
    await writer.commit("blobs/sha256/ag/again")
    assert await read_all(driver, "blobs/sha256/ag/again") == data


async def test_a_writer_with_a_destination_keeps_an_existing_object(driver: BlobDriver) -> None:
    await put(driver, "blobs/sha256/ke/kept", b"first")
    writer = await driver.writer("uploads/k/data", "blobs/sha256/ke/kept")
    await writer.write(os.urandom(6 * MIB))
    await writer.commit("blobs/sha256/ke/kept")
    assert await read_all(driver, "blobs/sha256/ke/kept") == b"first"


async def test_s3_stages_the_bytes_at_the_destination(s3_target: S3Target) -> None:
    """The multipart upload is opened at the blob's key (no copy at the commit), and only there."""
    prefix = unique_prefix()
    driver = S3Driver(s3_target.config(prefix))
    writer = await driver.writer("uploads/s/data", "blobs/sha256/st/staged")
    await writer.write(os.urandom(6 * MIB))
    await writer.save()  # a part is out
    staged = f"{prefix}blobs/sha256/st/staged"
    assert s3_target.keys(prefix + "blobs/") == [f"{staged} (unfinished multipart upload)"]
    resumed, _ = await resume(S3Driver(s3_target.config(prefix)), "uploads/s/data", 6 * MIB)
    await resumed.write(b"tail")
    with pytest.raises(ValueError, match="only to its destination"):
        await resumed.commit("blobs/sha256/el/elsewhere")
    await resumed.commit("blobs/sha256/st/staged")
    assert s3_target.keys(prefix + "blobs/") == [staged]
    assert await driver.stat("blobs/sha256/st/staged") == 6 * MIB + 4


# -- delete and list ---------------------------------------------------------------------------------


async def test_delete_removes_an_object(driver: BlobDriver) -> None:
    await put(driver, "blobs/sha256/dd/d", b"x")
    await driver.delete("blobs/sha256/dd/d")
    assert await driver.stat("blobs/sha256/dd/d") is None


async def test_delete_of_a_missing_path_is_not_an_error(driver: BlobDriver) -> None:
    await driver.delete("uploads/never-written")
    await driver.delete("uploads/never/written/either")


async def test_delete_of_an_upload_removes_its_writer_and_saves(driver: BlobDriver) -> None:
    writer = await driver.writer("uploads/gone/data")
    await writer.write(os.urandom(6 * MIB))  # a part is out (S3: a multipart upload exists)
    await writer.write(b"tail")
    await writer.save(b"state")
    other = await driver.writer("uploads/other/data")
    await other.write(b"3")
    await other.save()
    await driver.delete("uploads/gone")
    assert await driver.resume("uploads/gone/data", 6 * MIB + 4) is None
    assert [path for path, _ in await driver.list("uploads/")] != []
    assert all(not path.startswith("uploads/gone") for path, _ in await driver.list("uploads/"))
    assert (await resume(driver, "uploads/other/data", 1))[0].size == 1


async def test_list_names_entries_under_a_prefix(driver: BlobDriver) -> None:
    for name in ("direct-1", "direct-2", "session"):
        writer = await driver.writer(f"uploads/{name}/data")
        await writer.write(b"x")
        await writer.save()
    listed = {path.removeprefix("uploads/").split("/")[0] for path, _ in await driver.list("uploads/direct-")}
    assert listed == {"direct-1", "direct-2"}


# -- paths outside the store -------------------------------------------------------------------------

ESCAPES = ["../outside", "uploads/../../outside", "/etc/passwd", "", ".", "uploads/.."]


@pytest.mark.parametrize("path", ESCAPES)
async def test_paths_escaping_the_store_are_refused(driver: BlobDriver, path: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="escape"):
        await driver.stat(path)
    with pytest.raises(ValueError, match="escape"):
        await driver.writer(path)
    with pytest.raises(ValueError, match="escape"):
        await driver.resume(path, 1)
    with pytest.raises(ValueError, match="escape"):
        await read_all(driver, path)
    with pytest.raises(ValueError, match="escape"):
        await driver.delete(path)
    with pytest.raises(ValueError, match="escape"):
        await driver.download_url(path, 60)
    await put(driver, "uploads/ok/data", b"x")
    with pytest.raises(ValueError, match="escape"):
        await driver.commit("uploads/ok/data", path)
    with pytest.raises(ValueError, match="escape"):
        await driver.commit(path, "blobs/sha256/ok/ok")
    writer = await driver.writer("uploads/ok2/data")
    with pytest.raises(ValueError, match="escape"):
        await writer.commit(path)
    assert await driver.stat("uploads/ok/data") == 1
    assert not (tmp_path / "outside").exists()


async def test_s3_delete_survives_an_unreadable_staged_marker(s3_target: S3Target) -> None:
    prefix = unique_prefix()
    driver = S3Driver(s3_target.config(prefix))
    await put(driver, "uploads/odd/data.staged", b"not json")
    await driver.delete("uploads/odd")
    assert s3_target.keys(prefix) == []
