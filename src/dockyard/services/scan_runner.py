"""One scan, start to end: the image's layers to local files, the inventory, its matches, the result.

The inventory is built by an :class:`~dockyard.ports.InventoryBuilder` in a separate process (layers are
untrusted and parsing them is CPU work that must not stall the server's event loop); each scan has its own
scratch directory, removed afterwards. Outcomes: ``COMPLETE`` with the inventory, ``FAILED`` with the
reason the layers were refused, ``UNSUPPORTED_IMAGE`` for what is not an image; any other error is retried
with backoff up to ``max_attempts``, then ``FAILED``.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import shutil
from collections.abc import Callable
from concurrent.futures import BrokenExecutor, Executor
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from dockyard.domain.digest import Digest
from dockyard.domain.manifest import ParsedManifest, parse_manifest
from dockyard.domain.scanning.images import unsupported_reason
from dockyard.domain.scanning.inventory import Inventory, LayerBlob, ScanFailed, UnsupportedImage
from dockyard.metadata.scan_inventory import ScanInventoryStore, ScanResult
from dockyard.metadata.scan_store import ClaimedScan, ScanStore
from dockyard.ports import Clock, InventoryBuilder
from dockyard.services.registry import RegistryService
from dockyard.services.vuln_matching import VulnMatcher

log = logging.getLogger("dockyard.scanning")
FAILED = "FAILED"
UNSUPPORTED_IMAGE = "UNSUPPORTED_IMAGE"
Progress = Callable[[str, int, int], None]  # (step, done, total)


@dataclass(frozen=True, slots=True)
class RunnerConfig:
    scratch: Path
    max_attempts: int = 3
    retry_delay: timedelta = timedelta(seconds=30)
    max_image_bytes: int = 16 * 1024**3  # compressed layers of one image


class ScanRunner:
    def __init__(
        self,
        registry: RegistryService,
        store: ScanStore,
        inventories: ScanInventoryStore,
        matcher: VulnMatcher,
        builder: InventoryBuilder,
        clock: Clock,
        config: RunnerConfig,
        pool: Callable[[], Executor] | None = None,
    ) -> None:
        self.registry = registry
        self.store = store
        self.inventories = inventories
        self.matcher = matcher
        self.builder = builder
        self.clock = clock
        self.config = config
        self._pool = pool  # makes the process pool; None runs the builder in a thread (tests, the CLI)
        self._executor: Executor | None = None

    async def run(self, scan: ClaimedScan, owner: str, progress: Progress | None = None) -> str:
        """Run ``scan`` (leased to ``owner``) to its outcome; the status it ended with."""
        try:
            inventory = await self._inventory(scan, progress)
        except UnsupportedImage as exc:
            await self.store.finish(scan.manifest_id, owner, UNSUPPORTED_IMAGE, exc.reason)
            return UNSUPPORTED_IMAGE
        except ScanFailed as exc:
            await self.store.finish(scan.manifest_id, owner, FAILED, exc.reason)
            return FAILED
        except asyncio.CancelledError:
            await asyncio.shield(self.store.release(scan.manifest_id, owner))
            raise
        except Exception as exc:
            log.exception("scan failed", extra={"digest": scan.digest, "attempt": scan.attempts + 1})
            return await self._failed_attempt(scan, owner, exc)
        if progress is not None:
            progress("matching", 0, len(inventory.packages))
        generation, packages = await self.matcher.inventory(inventory)
        result = ScanResult(scan.manifest_id, inventory)
        done = await self.inventories.complete(result, owner, packages, generation)
        return "COMPLETE" if done else "LOST"

    async def _failed_attempt(self, scan: ClaimedScan, owner: str, exc: Exception) -> str:
        attempt = scan.attempts + 1
        reason = f"internal error while scanning ({type(exc).__name__})"
        if attempt >= self.config.max_attempts:
            await self.store.finish(
                scan.manifest_id, owner, FAILED, f"{reason}; gave up after {attempt} attempts"
            )
            return FAILED
        at = self.clock.now() + self.config.retry_delay * (2 ** (attempt - 1))
        await self.store.retry(scan.manifest_id, owner, at, f"{reason}; attempt {attempt} will be retried")
        return "RETRY"

    async def _inventory(self, scan: ClaimedScan, progress: Progress | None) -> Inventory:
        parsed = await self._manifest(scan)
        if not parsed.layers:
            return Inventory(None, ())  # a valid image with nothing in it
        scratch = self.config.scratch / f"scan-{scan.manifest_id}-{secrets.token_hex(4)}"
        await asyncio.to_thread(scratch.mkdir, parents=True)
        try:
            layers = await self._layers(parsed, scratch, progress)
            if progress is not None:
                progress("reading layers", 0, len(layers))
            return await self._build(layers, scratch / "work")
        finally:
            await asyncio.to_thread(shutil.rmtree, scratch, True)

    async def _manifest(self, scan: ClaimedScan) -> ParsedManifest:
        record = await self.registry.store.get_manifest(scan.account_id, scan.repository, scan.digest)
        if record is None:
            raise UnsupportedImage("the image was deleted before it could be scanned")
        parsed = parse_manifest(record.content, record.media_type)
        reason = unsupported_reason(parsed)
        if reason is not None:
            raise UnsupportedImage(reason)
        if sum(layer.size for layer in parsed.layers) > self.config.max_image_bytes:
            raise ScanFailed(f"the image's layers exceed {self.config.max_image_bytes} bytes")
        return parsed

    async def _layers(
        self, parsed: ParsedManifest, scratch: Path, progress: Progress | None
    ) -> list[LayerBlob]:
        layers = []
        for number, layer in enumerate(parsed.layers):
            if progress is not None:
                progress("fetching layers", number, len(parsed.layers))
            path = await self._local(layer.digest, scratch / f"layer-{number}")
            layers.append(LayerBlob(path, str(layer.digest), layer.media_type))
        return layers

    async def _local(self, digest: Digest, target: Path) -> Path:
        """The blob as a local file: the filesystem driver's own, or a copy (S3)."""
        local = self.registry.blobs.local_path(digest)
        if local is not None and await asyncio.to_thread(local.is_file):
            return local
        if await self.registry.blobs.stat(digest) is None:
            raise ScanFailed(f"the layer {digest} is missing from storage")
        out = await asyncio.to_thread(target.open, "wb")
        try:
            async for chunk in self.registry.blobs.read(digest):
                await asyncio.to_thread(out.write, chunk)
        finally:
            await asyncio.to_thread(out.close)
        return target

    async def _build(self, layers: list[LayerBlob], scratch: Path) -> Inventory:
        await asyncio.to_thread(scratch.mkdir)
        if self._executor is None and self._pool is not None:
            self._executor = self._pool()
        executor = self._executor
        try:
            return await asyncio.get_running_loop().run_in_executor(executor, self.builder, layers, scratch)
        except BrokenExecutor:
            if (
                self._executor is executor and executor is not None
            ):  # a scanner process died: replace the pool
                self._executor = None
                executor.shutdown(wait=False, cancel_futures=True)
            raise

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None
