"""The :class:`~dockyard.ports.InventoryBuilder` the registry uses, and the process pool it runs in.

Scans run in separate processes (``spawn``ed, so no lock or thread of the server is inherited), each
under an address-space limit: a layer that would exhaust memory fails its own scan, not the server, and a
process that dies is replaced (the scan is retried, then ``FAILED``).
"""

from __future__ import annotations

import multiprocessing
import resource
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from dockyard.domain.scanning.inventory import Inventory, LayerBlob, ScanFailed
from dockyard.scanner.catalogue import default_cataloguers
from dockyard.scanner.inventory import LayerFile, build_inventory
from dockyard.scanner.limits import ScanLimits


class LayerInventoryBuilder:
    """Picklable: the limits travel to the scanner process, the cataloguers are made there."""

    def __init__(self, limits: ScanLimits | None = None) -> None:
        self.limits = limits or ScanLimits()

    def __call__(self, layers: Sequence[LayerBlob], scratch: Path) -> Inventory:
        files = [LayerFile(layer.path, layer.digest, layer.media_type) for layer in layers]
        try:
            return build_inventory(files, scratch, default_cataloguers(), self.limits)
        except MemoryError:
            raise ScanFailed("reading the layers needed more memory than a scan may use") from None


def _limit_memory(limit_bytes: int) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (limit_bytes, limit_bytes))


def scanner_pool(workers: int, memory_limit_bytes: int) -> ProcessPoolExecutor:
    """Processes for :class:`LayerInventoryBuilder` calls, each limited to ``memory_limit_bytes``."""
    return ProcessPoolExecutor(
        max_workers=max(1, workers),
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_limit_memory,
        initargs=(memory_limit_bytes,),
    )
