"""Test content: random (incompressible) blobs, their digests, OCI manifests, streamed digest checks."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
from dataclasses import dataclass

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
MANIFEST_ACCEPT = ", ".join(
    (
        OCI_MANIFEST,
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    )
)
HASH_PIECE = 4 << 20


def digest_of(data: bytes | memoryview) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True, slots=True)
class Blob:
    data: bytes
    digest: str

    @classmethod
    def random(cls, size: int) -> Blob:
        data = os.urandom(size)
        return cls(data, digest_of(data))

    @classmethod
    def of(cls, data: bytes) -> Blob:
        return cls(data, digest_of(data))

    @property
    def size(self) -> int:
        return len(self.data)


def config_blob(label: str) -> Blob:
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {"Labels": {"bench": label}},
        "rootfs": {"type": "layers", "diff_ids": []},
    }
    return Blob.of(json.dumps(config, separators=(",", ":")).encode())


def image_manifest(config: Blob, layers: list[Blob], annotations: dict[str, str] | None = None) -> Blob:
    """An OCI image manifest (the bytes a client would push) for ``config`` and ``layers``."""
    manifest: dict[str, object] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": config.digest, "size": config.size},
        "layers": [{"mediaType": OCI_LAYER, "digest": b.digest, "size": b.size} for b in layers],
    }
    if annotations:
        manifest["annotations"] = annotations
    return Blob.of(json.dumps(manifest, separators=(",", ":")).encode())


class Digester:
    """Hashes a streamed body off the event loop, one piece in flight while the next is read."""

    def __init__(self) -> None:
        self._hash = hashlib.sha256()
        self._pending = bytearray()
        self._running: asyncio.Future[None] | None = None
        self.size = 0

    async def feed(self, chunk: bytes) -> None:
        self.size += len(chunk)
        self._pending += chunk
        if len(self._pending) >= HASH_PIECE:
            await self._submit()

    async def _submit(self) -> None:
        if self._running is not None:
            await self._running
        piece, self._pending = bytes(self._pending), bytearray()
        self._running = asyncio.get_running_loop().run_in_executor(None, self._hash.update, piece)

    async def hexdigest(self) -> str:
        await self._submit()
        if self._running is not None:
            await self._running
        return "sha256:" + self._hash.hexdigest()


class Landing:
    """A pre-faulted buffer a blob lands in while the clock runs; its digest is checked after it stops.

    Hashing while streaming costs a CPU core the server under test could use on a small machine; this
    keeps the timed client to reading bytes, and every pull is still verified.
    """

    def __init__(self, digest: str, size: int) -> None:
        self.digest = digest
        self.buffer = bytearray(size)
        self.buffer[::4096] = bytes(len(range(0, size, 4096)))  # touch every page before timing
        self.size = 0

    async def feed(self, chunk: bytes) -> None:
        end = self.size + len(chunk)
        if end > len(self.buffer):
            raise ValueError(f"blob {self.digest} is longer than the {len(self.buffer)} bytes expected")
        self.buffer[self.size : end] = chunk
        self.size = end

    def verify(self) -> None:
        got = digest_of(memoryview(self.buffer)[: self.size])
        if got != self.digest:
            raise ValueError(f"blob {self.digest} arrived as {got}")
