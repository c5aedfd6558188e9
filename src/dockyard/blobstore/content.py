"""The content-addressed layer above a dumb :class:`~dockyard.ports.BlobDriver`.

It names blobs by digest, streams upload chunks to scratch space while hashing them, and commits an
upload only when the bytes match the digest the client claims. The running hash of an upload is kept in
this process; when a chunk lands on another process (or after a restart) the hash is rebuilt from the
scratch bytes already stored, so upload state never depends on one process's memory.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
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
        position, pending, first = offset, bytearray(), True
        async for chunk in stream:
            pending += chunk
            if limit is not None and position - offset + len(pending) > limit:
                raise SizeInvalid("chunk is longer than its declared length")
            if len(pending) >= WRITE_BATCH:
                await self._flush(path, position, bytes(pending), hasher, first)
                position, pending, first = position + len(pending), bytearray(), False
        if pending or first:
            await self._flush(path, position, bytes(pending), hasher, first)
            position += len(pending)
        self._hashers[upload_id] = (position, hasher)
        return position

    async def _flush(self, path: str, position: int, data: bytes, hasher: Hasher, truncate: bool) -> None:
        await self._driver.write_at(path, position, data, truncate=truncate)
        if data:
            await anyio.to_thread.run_sync(hasher.update, data)

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

    async def discard(self, upload_id: str) -> None:
        self._hashers.pop(upload_id, None)
        await self._driver.delete(self.upload_path(upload_id))
