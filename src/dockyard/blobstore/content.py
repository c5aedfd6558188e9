"""The content-addressed layer above a dumb :class:`~dockyard.ports.BlobDriver`.

It names blobs by digest, streams upload chunks to a driver writer while hashing them, and commits an
upload only when the bytes match the digest the client claims. Paths::

    blobs/<algorithm>/<first two hex>/<hex>    committed content
    uploads/<upload id>/data                   the writer of an upload in progress (and what the driver
                                               keeps beside it, all removed with ``uploads/<upload id>``)

No upload state lives in this process between requests: every chunk ends with a driver ``save`` that
persists the bytes and the running sha256 state (:mod:`~dockyard.blobstore.hashstate`), and the next chunk,
on any process, resumes both. When no hash state could be saved (no usable libcrypto) or the client claims
another algorithm (sha512), the digest is verified by re-reading the finished bytes before they move to
their blob path.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from datetime import datetime
from pathlib import Path

from cachetools import LRUCache

from dockyard.blobstore import hashstate
from dockyard.domain.digest import Digest, Hasher, new_hasher
from dockyard.domain.errors import BlobUploadInvalid, DigestInvalid, SizeInvalid
from dockyard.ports import BlobDriver, BlobWriter

WRITE_BATCH = 1 << 20
Claim = Callable[[], Awaitable[None]]
DEFAULT_URL_TTL = 1200
URL_REUSE = 0.25  # a download URL is handed out again for this fraction of its lifetime
URL_CACHE_ENTRIES = 4096


class BlobStore:
    """``redirect``: hand out the driver's direct download URLs (valid ``url_ttl`` seconds) when it has
    them; without it every blob is served through the registry.

    A URL is handed out again for a quarter of its lifetime (:data:`URL_REUSE`), so a popular layer costs
    one signature per few minutes rather than one per pull, and every client still gets at least three
    quarters of the lifetime. Any authorised caller may have it: it names the blob, not the caller, and
    each caller was authorised before it is handed out. A URL never outlives ``url_ttl`` from its
    signing, which is what garbage collection's grace is measured against (``docs/gc.md``).
    """

    def __init__(
        self,
        driver: BlobDriver,
        *,
        redirect: bool = True,
        url_ttl: int = DEFAULT_URL_TTL,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._driver = driver
        self._redirect = redirect
        self._url_ttl = url_ttl
        self._monotonic = monotonic
        self._urls: LRUCache[str, tuple[str, float]] = LRUCache(URL_CACHE_ENTRIES)

    @property
    def driver(self) -> BlobDriver:
        return self._driver

    @staticmethod
    def blob_path(digest: Digest) -> str:
        return f"blobs/{digest.algorithm}/{digest.encoded[:2]}/{digest.encoded}"

    @staticmethod
    def upload_path(upload_id: str) -> str:
        return f"uploads/{upload_id}"

    @staticmethod
    def data_path(upload_id: str) -> str:
        return f"uploads/{upload_id}/data"

    async def stat(self, digest: Digest) -> int | None:
        return await self._driver.stat(self.blob_path(digest))

    def local_path(self, digest: Digest) -> Path | None:
        return self._driver.local_path(self.blob_path(digest))

    def read(self, digest: Digest, offset: int = 0, length: int | None = None) -> AsyncIterator[bytes]:
        return self._driver.read(self.blob_path(digest), offset, length)

    async def download_url(self, digest: Digest) -> str | None:
        """A short-lived URL to GET the blob from directly, or ``None`` (serve it through the registry)."""
        if not self._redirect:
            return None
        path, now = self.blob_path(digest), self._monotonic()
        cached = self._urls.get(path)
        if cached is not None and now < cached[1]:
            return cached[0]
        url = await self._driver.download_url(path, self._url_ttl)
        if url is not None:
            self._urls[path] = (url, now + self._url_ttl * URL_REUSE)
        return url

    async def open(self, upload_id: str, offset: int, digest: Digest | None = None) -> Upload:
        """The upload continued at ``offset`` (the size last acknowledged; 0 starts it afresh).

        ``digest``: the one the client claims, when it came before the first byte (a blob in one request).
        The driver may then write straight to the blob's path (S3: no copy at the commit); the upload then
        commits only as that digest, and wrong bytes never reach its path (the hash is checked first).
        :class:`BlobUploadInvalid` when its bytes are gone (expired, or lost by the storage).
        """
        path = self.data_path(upload_id)
        if offset == 0:
            destination = None
            if digest is not None and digest.algorithm == "sha256":  # others: verified by re-reading
                destination = self.blob_path(digest)
            writer = await self._driver.writer(path, destination)
            fresh = hashstate.ResumableSha256() if hashstate.available() else new_hasher()
            return Upload(self, upload_id, writer, fresh)
        resumed = await self._driver.resume(path, offset)
        if resumed is None:
            raise BlobUploadInvalid("upload data is missing; start the upload again")
        writer, state = resumed
        hasher: Hasher | None = None
        if state and hashstate.available():
            try:
                hasher = hashstate.ResumableSha256.resume(state)
            except ValueError:
                hasher = None
        return Upload(self, upload_id, writer, hasher)

    async def append(
        self, upload_id: str, offset: int, stream: AsyncIterable[bytes], length: int | None = None
    ) -> int:
        """Write ``stream`` at ``offset`` and save; returns the new size (see :meth:`Upload.receive`)."""
        upload = await self.open(upload_id, offset)
        await upload.receive(stream, length)
        await upload.save()
        return upload.size

    async def stale_scratch(self, prefix: str, before: datetime) -> list[str]:
        """Upload ids named ``prefix…`` whose scratch space nothing touched since ``before``."""
        newest: dict[str, datetime] = {}
        for path, modified in await self._driver.list(self.upload_path(prefix)):
            upload_id = path.removeprefix("uploads/").split("/", 1)[0]
            newest[upload_id] = max(newest.get(upload_id, modified), modified)
        return [upload_id for upload_id, modified in newest.items() if modified < before]

    async def discard(self, upload_id: str) -> None:
        await self._driver.delete(self.upload_path(upload_id))

    async def delete(self, digest: Digest) -> None:
        """Delete a blob's bytes; only garbage collection does, for a blob its tombstone guards."""
        self._urls.pop(self.blob_path(digest), None)
        await self._driver.delete(self.blob_path(digest))


class Upload:
    """One request's handle on an upload: receive bytes, then either save (more chunks follow, on any
    process) or commit (the digest is checked and the bytes become the blob)."""

    def __init__(self, store: BlobStore, upload_id: str, writer: BlobWriter, hasher: Hasher | None) -> None:
        self._store = store
        self._id = upload_id
        self._writer = writer
        self._hasher = hasher  # None: the bytes so far were not hashed here; verify by re-reading

    @property
    def size(self) -> int:
        return self._writer.size

    async def receive(self, stream: AsyncIterable[bytes], length: int | None = None) -> int:
        """Append ``stream``; with ``length`` it must carry exactly that many bytes (:class:`SizeInvalid`).

        On any failure the bytes received by this call are dropped (the upload stays at its old size).
        """
        pipeline = _PipelinedWriter(self._writer, self._hasher)
        try:
            async for chunk in stream:
                if length is not None and pipeline.received + len(chunk) > length:
                    raise SizeInvalid("chunk is longer than its declared length")
                await pipeline.add(chunk)
            await pipeline.finish()
            if length is not None and pipeline.received != length:
                raise SizeInvalid("chunk is shorter than its declared length")
        except BaseException:
            await pipeline.drain_quietly()
            await self._writer.abandon()
            raise
        return self._writer.size

    async def save(self) -> None:
        """Persist the bytes and the hash state, so the next chunk may go to any process."""
        state = self._hasher.state() if isinstance(self._hasher, hashstate.ResumableSha256) else b""
        await self._writer.save(state)

    async def commit(self, digest: Digest, claim: Claim | None = None) -> None:
        """Verify the bytes against ``digest`` and make them the blob, atomically; :class:`DigestInvalid`
        (nothing committed) when they differ. ``claim`` runs between the two: once the bytes are known to
        be the blob, before they reach its path (garbage collection's protocol, ``docs/gc.md``)."""
        target = self._store.blob_path(digest)
        if self._hasher is not None and digest.algorithm == "sha256":
            if self._hasher.hexdigest() != digest.encoded:  # the last partial block only: microseconds
                raise DigestInvalid("provided digest did not match uploaded content", digest=str(digest))
            if claim is not None:
                await claim()
            await self._writer.commit(target)
            return
        driver, data = self._store.driver, self._store.data_path(self._id)
        await self._writer.commit(data)
        hasher = new_hasher(digest.algorithm)
        async for chunk in driver.read(data):
            await _hash(hasher, chunk)
        if hasher.hexdigest() != digest.encoded:
            raise DigestInvalid("provided digest did not match uploaded content", digest=str(digest))
        if claim is not None:
            await claim()
        await driver.commit(data, target)


class _PipelinedWriter:
    """Batches a stream into 1 MiB writes; while one batch is written and hashed (in parallel, in worker
    threads), the next is received. Batches are applied strictly in order, so the hash stays sequential.
    """

    def __init__(self, writer: BlobWriter, hasher: Hasher | None) -> None:
        self._writer = writer
        self._hasher = hasher
        self._pending: list[bytes] = []
        self._pending_size = 0
        self._inflight: asyncio.Future[None] | None = None
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
        await self._drain()
        self._inflight = asyncio.ensure_future(self._flush(data))

    async def _flush(self, data: bytes) -> None:
        if self._hasher is None:
            await self._writer.write(data)
        else:
            await asyncio.gather(self._writer.write(data), _hash(self._hasher, data))

    async def finish(self) -> None:
        if self._pending:
            await self._start_batch()
        await self._drain()

    async def _drain(self) -> None:
        if self._inflight is not None:
            inflight, self._inflight = self._inflight, None
            await inflight

    async def drain_quietly(self) -> None:
        if self._inflight is not None:
            inflight, self._inflight = self._inflight, None
            try:
                await inflight
            except Exception:  # the failure being handled already says what went wrong
                return


INLINE_HASH_BYTES = 64 * 1024


async def _hash(hasher: Hasher, data: bytes) -> None:
    """Hash ``data``: a small piece on the event loop (a worker-thread round trip costs more than hashing
    64 KiB), a large one in a worker thread (hashlib and libcrypto release the GIL)."""
    if len(data) <= INLINE_HASH_BYTES:
        hasher.update(data)
    else:
        await asyncio.to_thread(hasher.update, data)
