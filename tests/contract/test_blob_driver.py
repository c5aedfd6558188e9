"""The contract every :class:`dockyard.ports.BlobDriver` implementation passes.

To cover a new driver, add a factory to ``DRIVER_FACTORIES``: it receives a fresh empty directory (use it
or not) and returns a driver over an empty store.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from dockyard.blobstore.filesystem import FilesystemDriver
from dockyard.ports import BlobDriver

DriverFactory = Callable[[Path], BlobDriver]

DRIVER_FACTORIES = [
    pytest.param(lambda root: FilesystemDriver(root / "storage"), id="filesystem"),
]


@pytest.fixture(params=DRIVER_FACTORIES)
def driver(request: pytest.FixtureRequest, tmp_path: Path) -> BlobDriver:
    factory: DriverFactory = request.param
    return factory(tmp_path)


async def read_all(driver: BlobDriver, path: str, offset: int = 0, length: int | None = None) -> bytes:
    return b"".join([chunk async for chunk in driver.read(path, offset, length)])


# -- stat and read -----------------------------------------------------------------------------------


async def test_stat_of_a_missing_path_is_none(driver: BlobDriver) -> None:
    assert await driver.stat("uploads/nothing") is None
    assert await driver.stat("blobs/sha256/ab/abcdef") is None


async def test_written_bytes_are_read_back(driver: BlobDriver) -> None:
    await driver.write_at("uploads/u1", 0, b"hello world", truncate=True)
    assert await driver.stat("uploads/u1") == 11
    assert await read_all(driver, "uploads/u1") == b"hello world"


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
    await driver.write_at("uploads/r", 0, b"0123456789", truncate=True)
    assert await read_all(driver, "uploads/r", offset, length) == expected


async def test_read_spanning_many_chunks(driver: BlobDriver) -> None:
    data = os.urandom(3 * (1 << 20) + 17)
    await driver.write_at("uploads/big", 0, data, truncate=True)
    start, length = (1 << 20) - 5, (1 << 20) + 11
    assert await read_all(driver, "uploads/big", start, length) == data[start : start + length]
    assert await read_all(driver, "uploads/big") == data


async def test_local_path_when_offered_holds_the_bytes(driver: BlobDriver) -> None:
    await driver.write_at("uploads/l", 0, b"local", truncate=True)
    await driver.commit("uploads/l", "blobs/sha256/lo/local")
    path = driver.local_path("blobs/sha256/lo/local")
    if path is not None:
        assert path.read_bytes() == b"local"


# -- write_at ----------------------------------------------------------------------------------------


async def test_write_at_the_end_appends(driver: BlobDriver) -> None:
    await driver.write_at("uploads/a", 0, b"abc", truncate=True)
    await driver.write_at("uploads/a", 3, b"def", truncate=False)
    await driver.write_at("uploads/a", 6, b"ghi", truncate=True)
    assert await read_all(driver, "uploads/a") == b"abcdefghi"


async def test_write_at_without_truncate_keeps_the_tail(driver: BlobDriver) -> None:
    await driver.write_at("uploads/a", 0, b"abcdefgh", truncate=True)
    await driver.write_at("uploads/a", 2, b"XY", truncate=False)
    assert await read_all(driver, "uploads/a") == b"abXYefgh"


async def test_write_at_with_truncate_drops_the_tail(driver: BlobDriver) -> None:
    await driver.write_at("uploads/a", 0, b"abcdefgh", truncate=True)
    await driver.write_at("uploads/a", 2, b"XY", truncate=True)
    assert await read_all(driver, "uploads/a") == b"abXY"
    assert await driver.stat("uploads/a") == 4


async def test_empty_truncating_write_cuts_at_the_offset(driver: BlobDriver) -> None:
    await driver.write_at("uploads/a", 0, b"abcdefgh", truncate=True)
    await driver.write_at("uploads/a", 5, b"", truncate=True)
    assert await read_all(driver, "uploads/a") == b"abcde"
    await driver.write_at("uploads/a", 0, b"", truncate=True)
    assert await driver.stat("uploads/a") == 0


async def test_empty_write_creates_an_empty_object(driver: BlobDriver) -> None:
    await driver.write_at("uploads/empty", 0, b"", truncate=True)
    assert await driver.stat("uploads/empty") == 0
    assert await read_all(driver, "uploads/empty") == b""


# -- commit ------------------------------------------------------------------------------------------


async def test_commit_moves_scratch_to_its_final_path(driver: BlobDriver) -> None:
    await driver.write_at("uploads/c", 0, b"content", truncate=True)
    assert await driver.stat("blobs/sha256/co/content") is None
    await driver.commit("uploads/c", "blobs/sha256/co/content")
    assert await driver.stat("uploads/c") is None
    assert await driver.stat("blobs/sha256/co/content") == 7
    assert await read_all(driver, "blobs/sha256/co/content") == b"content"


async def test_commit_onto_an_existing_destination_keeps_it_and_drops_the_source(driver: BlobDriver) -> None:
    await driver.write_at("uploads/first", 0, b"first", truncate=True)
    await driver.commit("uploads/first", "blobs/sha256/xx/same")
    await driver.write_at("uploads/second", 0, b"second!", truncate=True)
    await driver.commit("uploads/second", "blobs/sha256/xx/same")
    assert await read_all(driver, "blobs/sha256/xx/same") == b"first"
    assert await driver.stat("uploads/second") is None


async def test_commit_of_an_empty_object(driver: BlobDriver) -> None:
    await driver.write_at("uploads/e", 0, b"", truncate=True)
    await driver.commit("uploads/e", "blobs/sha256/e3/empty")
    assert await driver.stat("blobs/sha256/e3/empty") == 0


async def test_committed_object_is_independent_of_later_scratch_writes(driver: BlobDriver) -> None:
    await driver.write_at("uploads/u", 0, b"v1", truncate=True)
    await driver.commit("uploads/u", "blobs/sha256/v1/v1")
    await driver.write_at("uploads/u", 0, b"other", truncate=True)
    assert await read_all(driver, "blobs/sha256/v1/v1") == b"v1"


# -- delete ------------------------------------------------------------------------------------------


async def test_delete_removes_an_object(driver: BlobDriver) -> None:
    await driver.write_at("uploads/d", 0, b"x", truncate=True)
    await driver.delete("uploads/d")
    assert await driver.stat("uploads/d") is None


async def test_delete_of_a_missing_path_is_not_an_error(driver: BlobDriver) -> None:
    await driver.delete("uploads/never-written")
    await driver.delete("uploads/never/written/either")


async def test_delete_of_a_scratch_directory_removes_everything_below(driver: BlobDriver) -> None:
    await driver.write_at("uploads/dir/part-1", 0, b"1", truncate=True)
    await driver.write_at("uploads/dir/part-2", 0, b"2", truncate=True)
    await driver.write_at("uploads/other", 0, b"3", truncate=True)
    await driver.delete("uploads/dir")
    assert await driver.stat("uploads/dir/part-1") is None
    assert await driver.stat("uploads/dir/part-2") is None
    assert await driver.stat("uploads/other") == 1


# -- paths outside the store -------------------------------------------------------------------------

ESCAPES = ["../outside", "uploads/../../outside", "/etc/passwd", "", ".", "uploads/.."]


@pytest.mark.parametrize("path", ESCAPES)
async def test_paths_escaping_the_store_are_refused(driver: BlobDriver, path: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="escape"):
        await driver.stat(path)
    with pytest.raises(ValueError, match="escape"):
        await driver.write_at(path, 0, b"x", truncate=True)
    with pytest.raises(ValueError, match="escape"):
        await read_all(driver, path)
    with pytest.raises(ValueError, match="escape"):
        await driver.delete(path)
    await driver.write_at("uploads/ok", 0, b"x", truncate=True)
    with pytest.raises(ValueError, match="escape"):
        await driver.commit("uploads/ok", path)
    with pytest.raises(ValueError, match="escape"):
        await driver.commit(path, "blobs/sha256/ok/ok")
    assert await driver.stat("uploads/ok") == 1
    assert not (tmp_path / "outside").exists()
