"""The filesystem :class:`~dockyard.ports.BlobDriver`.

Layout under the root (paths come from the content layer, never from a client)::

    <root>/
      blobs/<algorithm>/<first two hex>/<hex>    committed content, immutable, shared by repositories
      uploads/<upload id>                        scratch bytes of an upload in progress

A scratch file becomes a blob only through :meth:`commit`: fsync, then an atomic ``rename``, then an
fsync of the directory. A crash before that leaves at most scratch bytes, which the upload expiry removes.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import anyio.to_thread

READ_CHUNK = 1 << 20


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
            return (await anyio.to_thread.run_sync(full.stat)).st_size
        except FileNotFoundError:
            return None

    def local_path(self, path: str) -> Path | None:
        return self._full(path)

    async def read(self, path: str, offset: int = 0, length: int | None = None) -> AsyncIterator[bytes]:
        full = self._full(path)
        handle = await anyio.to_thread.run_sync(open, full, "rb")
        try:
            await anyio.to_thread.run_sync(handle.seek, offset)
            remaining = length
            while remaining is None or remaining > 0:
                size = READ_CHUNK if remaining is None else min(READ_CHUNK, remaining)
                chunk = await anyio.to_thread.run_sync(handle.read, size)
                if not chunk:
                    break
                if remaining is not None:
                    remaining -= len(chunk)
                yield chunk
        finally:
            handle.close()

    async def write_at(self, path: str, offset: int, data: bytes, *, truncate: bool) -> None:
        await anyio.to_thread.run_sync(_write_at, self._full(path), offset, data, truncate)

    async def commit(self, src: str, dst: str) -> None:
        await anyio.to_thread.run_sync(_commit, self._full(src), self._full(dst))

    async def delete(self, path: str) -> None:
        await anyio.to_thread.run_sync(_delete, self._full(path))

    async def list(self, prefix: str) -> list[tuple[str, datetime]]:
        directory, _, start = prefix.rpartition("/")
        return await anyio.to_thread.run_sync(_list, self._root, directory, start)


def _write_at(full: Path, offset: int, data: bytes, truncate: bool) -> None:
    full.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(full, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        if truncate:
            os.ftruncate(fd, offset)
        view = memoryview(data)
        position = offset
        while view:
            written = os.pwrite(fd, view, position)
            view = view[written:]
            position += written
    finally:
        os.close(fd)


def _commit(src: Path, dst: Path) -> None:
    fd = os.open(src, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
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
    base = root / directory if directory else root
    found = []
    with contextlib.suppress(FileNotFoundError), os.scandir(base) as entries:
        for entry in entries:
            if entry.name.startswith(start):
                modified = datetime.fromtimestamp(entry.stat(follow_symlinks=False).st_mtime, UTC)
                found.append((f"{directory}/{entry.name}" if directory else entry.name, modified))
    return found


def _delete(full: Path) -> None:
    if full.is_dir():
        shutil.rmtree(full, ignore_errors=True)
    else:
        full.unlink(missing_ok=True)
