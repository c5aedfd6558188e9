"""The filesystem :class:`~dockyard.ports.BlobDriver`.

Layout under the root (paths come from the content layer, never from a client)::

    <root>/
      blobs/<algorithm>/<first two hex>/<hex>    committed content, immutable, shared by repositories
      uploads/<upload id>/data                   scratch bytes of an upload in progress
      uploads/<upload id>/data.state             size and saved state of its last save (tmp + rename)

A writer appends with ``pwrite`` (one open per 1 MiB batch, no buffering in memory); a resume truncates the
file to the acknowledged size, so the bytes of an interrupted chunk never count. A scratch file becomes a
blob only through ``commit``: fsync, then an atomic ``rename``, then an fsync of the directory. A crash
before that leaves at most scratch bytes, which the upload expiry removes.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import struct
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

READ_CHUNK = 1 << 20
_SIZE = struct.Struct("<Q")


class FilesystemDriver:
    def __init__(self, root: Path) -> None:
        self._root = root.resolve()
        self._root.mkdir(parents=True, exist_ok=True)

    def _full(self, path: str) -> Path:
        """``path`` under the root; refused when it is absolute or climbs out (checked on the text, which
        costs no system call: paths are built by the content layer and never name symlinks)."""
        parts = path.split("/")
        if not path or path.startswith("/") or any(part in ("", ".", "..") for part in parts):
            raise ValueError("path escapes the storage root")
        return self._root.joinpath(*parts)

    async def stat(self, path: str) -> int | None:
        full = self._full(path)
        try:
            return (await asyncio.to_thread(full.stat)).st_size
        except FileNotFoundError:
            return None

    def local_path(self, path: str) -> Path | None:
        return self._full(path)

    async def download_url(self, path: str, expires_in: int) -> str | None:
        self._full(path)
        return None

    async def read(self, path: str, offset: int = 0, length: int | None = None) -> AsyncIterator[bytes]:
        full = self._full(path)
        handle = await asyncio.to_thread(open, full, "rb")
        try:
            await asyncio.to_thread(handle.seek, offset)
            remaining = length
            while remaining is None or remaining > 0:
                size = READ_CHUNK if remaining is None else min(READ_CHUNK, remaining)
                chunk = await asyncio.to_thread(handle.read, size)
                if not chunk:
                    break
                if remaining is not None:
                    remaining -= len(chunk)
                yield chunk
        finally:
            handle.close()

    async def writer(self, path: str, destination: str | None = None) -> FileWriter:
        """``destination`` changes nothing here: the commit is a rename, which moves no bytes."""
        if destination is not None:
            self._full(destination)  # refused now, as it would be at the commit, when it escapes
        full = self._full(path)
        await asyncio.to_thread(_create, full)
        return FileWriter(self, full, 0)

    async def resume(self, path: str, size: int) -> tuple[FileWriter, bytes] | None:
        full = self._full(path)
        state = await asyncio.to_thread(_resume, full, size)
        return None if state is None else (FileWriter(self, full, size), state)

    async def commit(self, src: str, dst: str) -> None:
        await asyncio.to_thread(_commit, self._full(src), self._full(dst))

    async def delete(self, path: str) -> None:
        await asyncio.to_thread(_delete, self._full(path))

    async def list(self, prefix: str) -> list[tuple[str, datetime]]:
        directory, _, start = prefix.rpartition("/")
        return await asyncio.to_thread(_list, self._root, directory, start)


class FileWriter:
    """Appends to one scratch file; the saved state sits beside it as ``<file>.state``."""

    def __init__(self, driver: FilesystemDriver, full: Path, size: int) -> None:
        self._driver = driver
        self._full = full
        self._size = size

    @property
    def size(self) -> int:
        return self._size

    async def write(self, data: bytes) -> None:
        position = self._size
        self._size += len(data)
        await asyncio.to_thread(_pwrite, self._full, position, data)

    async def save(self, state: bytes = b"") -> None:
        await asyncio.to_thread(_save_state, self._full, self._size, state)

    async def commit(self, dst: str) -> None:
        await asyncio.to_thread(_commit, self._full, self._driver._full(dst))

    async def abandon(self) -> None:
        """Nothing to do: the next resume truncates the file to the acknowledged size."""


def _state_path(full: Path) -> Path:
    return full.with_name(full.name + ".state")


def _create(full: Path) -> None:
    full.parent.mkdir(parents=True, exist_ok=True)
    os.close(os.open(full, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))
    _state_path(full).unlink(missing_ok=True)


def _resume(full: Path, size: int) -> bytes | None:
    """The state saved at ``size`` (``b""`` when none was), after cutting the file to ``size``."""
    try:
        fd = os.open(full, os.O_WRONLY)
    except FileNotFoundError:
        return None
    try:
        if os.fstat(fd).st_size < size:
            return None
        os.ftruncate(fd, size)
    finally:
        os.close(fd)
    try:
        saved = _state_path(full).read_bytes()
    except FileNotFoundError:
        return b""
    if len(saved) < _SIZE.size or _SIZE.unpack_from(saved)[0] != size:
        return b""
    return saved[_SIZE.size :]


def _pwrite(full: Path, position: int, data: bytes) -> None:
    fd = os.open(full, os.O_WRONLY)
    try:
        view = memoryview(data)
        while view:
            written = os.pwrite(fd, view, position)
            view = view[written:]
            position += written
    finally:
        os.close(fd)


def _save_state(full: Path, size: int, state: bytes) -> None:
    target = _state_path(full)
    scratch = target.with_name(target.name + ".tmp")
    scratch.write_bytes(_SIZE.pack(size) + state)
    os.replace(scratch, target)


def _commit(src: Path, dst: Path) -> None:
    fd = os.open(src, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    if src == dst:
        return
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.exists():
        src.unlink(missing_ok=True)
        return
    os.replace(src, dst)
    _fsync_dir(dst.parent)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _list(root: Path, directory: str, start: str) -> list[tuple[str, datetime]]:
    """Entries of one directory whose name starts with ``start``; a directory's time is its newest."""
    base = root / directory if directory else root
    found = []
    with contextlib.suppress(FileNotFoundError), os.scandir(base) as entries:
        for entry in entries:
            if entry.name.startswith(start):
                modified = _newest(entry)
                found.append((f"{directory}/{entry.name}" if directory else entry.name, modified))
    return found


def _newest(entry: os.DirEntry[str]) -> datetime:
    newest = entry.stat(follow_symlinks=False).st_mtime
    if entry.is_dir(follow_symlinks=False):
        with contextlib.suppress(FileNotFoundError), os.scandir(entry.path) as children:
            for child in children:
                newest = max(newest, child.stat(follow_symlinks=False).st_mtime)
    return datetime.fromtimestamp(newest, UTC)


def _delete(full: Path) -> None:
    if full.is_dir():
        shutil.rmtree(full, ignore_errors=True)
    else:
        full.unlink(missing_ok=True)
