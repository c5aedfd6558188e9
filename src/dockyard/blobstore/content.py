"""The content-addressed layer above a dumb :class:`~dockyard.ports.BlobDriver`.

It names blobs by digest, streams upload chunks to scratch space while hashing them, and commits an
upload only when the bytes match the digest the client claims. The running hash of an upload is kept in
this process; when a chunk lands on another process (or after a restart) the hash is rebuilt from the
scratch bytes already stored, so upload state never depends on one process's memory.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, AsyncIterator
from datetime import datetime
from pathlib import Path

import anyio.to_thread

from dockyard.domain.digest import DEFAULT_ALGORITHM, Digest, Hasher, new_hasher
from dockyard.domain.errors import BlobUploadInvalid, DigestInvalid, SizeInvalid
from dockyard.ports import BlobDriver

WRITE_BATCH = 1 << 20


class BlobStore:
    def __init__(self, driver: BlobDriver) -> None:
        self._driver = driver
        self._hashers: dict[str, tuple[int, Hasher]] = {}

    @staticmethod
    def blob_path(digest: Digest) -> str:
        return f"blobs/{digest.algorithm}/{digest.encoded[:2]}/{digest.encoded}"

    @staticmethod
    def upload_path(upload_id: str) -> str:
        return f"uploads/{upload_id}"

    async def stat(self, digest: Digest) -> int | None:
        return await self._driver.stat(self.blob_path(digest))

    def local_path(self, digest: Digest) -> Path | None:
        return self._driver.local_path(self.blob_path(digest))

    def read(self, digest: Digest, offset: int = 0, length: int | None = None) -> AsyncIterator[bytes]:
        return self._driver.read(self.blob_path(digest), offset, length)

    async def append(
        self, upload_id: str, offset: int, stream: AsyncIterable[bytes], limit: int | None = None
    ) -> int:
        """Write ``stream`` at ``offset`` of the upload's scratch bytes; return the new size.

        ``limit`` bounds how many bytes the stream may carry (:class:`SizeInvalid` past it). On any failure
        the cached hash is dropped and the scratch bytes past ``offset`` are left to be overwritten.
        """
        path = self.upload_path(upload_id)
        hasher = await self._hasher_at(upload_id, offset)
        self._hashers.pop(upload_id, None)
        writer = _PipelinedWriter(self._driver, path, offset, hasher)
        try:
            async for chunk in stream:
                if limit is not None and writer.received + len(chunk) > limit:
                    raise SizeInvalid("chunk is longer than its declared length")
                await writer.add(chunk)
            position = await writer.finish()
        finally:
            await writer.drain()
        self._hashers[upload_id] = (position, hasher)
        return position

    async def _hasher_at(self, upload_id: str, offset: int, algorithm: str = DEFAULT_ALGORITHM) -> Hasher:
        cached = self._hashers.get(upload_id)
        if cached is not None and cached[0] == offset and algorithm == DEFAULT_ALGORITHM:
            return cached[1]
        hasher = new_hasher(algorithm)
        if offset:
            stored = await self._driver.stat(self.upload_path(upload_id))
            if stored is None or stored < offset:
                raise BlobUploadInvalid("upload data is missing; start the upload again")
            async for chunk in self._driver.read(self.upload_path(upload_id), 0, offset):
                await anyio.to_thread.run_sync(hasher.update, chunk)
        return hasher

    async def commit(self, upload_id: str, size: int, digest: Digest) -> None:
        """Verify the upload's ``size`` bytes against ``digest`` and make them the blob, atomically."""
        hasher = await self._hasher_at(upload_id, size, digest.algorithm)
        self._hashers.pop(upload_id, None)
        if hasher.hexdigest() != digest.encoded:
            raise DigestInvalid("provided digest did not match uploaded content", digest=str(digest))
        path = self.upload_path(upload_id)
        if size == 0:
            await self._driver.write_at(path, 0, b"", truncate=True)
        elif await self._driver.stat(path) != size:
            await self._truncate(path, size)
        await self._driver.commit(path, self.blob_path(digest))

    async def _truncate(self, path: str, size: int) -> None:
        """Drop scratch bytes past ``size`` left by an interrupted chunk, before the file is committed."""
        await self._driver.write_at(path, size, b"", truncate=True)

    async def stale_scratch(self, prefix: str, before: datetime) -> list[str]:
        """Upload ids of scratch files named ``prefix…`` untouched since ``before``."""
        found = await self._driver.list(self.upload_path(prefix))
        return [path.rpartition("/")[2] for path, modified in found if modified < before]

    async def discard(self, upload_id: str) -> None:
        self._hashers.pop(upload_id, None)
        await self._driver.delete(self.upload_path(upload_id))


class _PipelinedWriter:
    """Batches a stream into 1 MiB writes; while one batch is written and hashed (in parallel, in worker
    threads), the next is received. Batches are applied strictly in order, so the hash stays sequential.
    """

    def __init__(self, driver: BlobDriver, path: str, offset: int, hasher: Hasher) -> None:
        self._driver = driver
        self._path = path
        self._position = offset
        self._hasher = hasher
        self._pending: list[bytes] = []
        self._pending_size = 0
        self._inflight: asyncio.Future[None] | None = None
        self._first = True
        self.received = 0

    async def add(self, chunk: bytes) -> None:
        self._pending.append(chunk)
        self._pending_size += len(chunk)
        self.received += len(chunk)
        if self._pending_size >= WRITE_BATCH:
            await self._start_batch()

    async def _start_batch(self) -> None:
        data = b"".join(self._pending)
        self._pending.clear()
        self._pending_size = 0
        if self._inflight is not None:
            await self._inflight
        self._inflight = asyncio.ensure_future(self._flush(self._position, data, self._first))
        self._position += len(data)
        self._first = False

    async def _flush(self, position: int, data: bytes, truncate: bool) -> None:
        write = self._driver.write_at(self._path, position, data, truncate=truncate)
        if data:
            await asyncio.gather(write, anyio.to_thread.run_sync(self._hasher.update, data))
        else:
            await write

    async def finish(self) -> int:
        """Write what is pending (at least once, so an empty upload still has its scratch file)."""
        if self._pending or self._first:
            await self._start_batch()
        await self.drain()
        return self._position

    async def drain(self) -> None:
        if self._inflight is not None:
            inflight, self._inflight = self._inflight, None
            await inflight
