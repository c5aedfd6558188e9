"""Matching packages against the vulnerability database, and re-matching stored packages after an import.

A scan matches its own packages before it completes (so a ``COMPLETE`` scan has its findings); the
re-evaluation job (:meth:`VulnMatcher.reevaluate`) re-matches every stored package whose matches were made
at an older database generation, in batches of distinct packages: images are never read again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

from dockyard.domain.scanning.inventory import Inventory
from dockyard.domain.vulns.ecosystems import MatchQuery, query_for
from dockyard.metadata.scan_inventory import PackageMatch, ScanInventoryStore, StoredPackage, Vuln
from dockyard.ports import VulnerabilityDatabase

log = logging.getLogger("dockyard.scanning")
BATCH = 5000  # distinct packages per re-evaluation step


@dataclass(frozen=True, slots=True)
class Reevaluation:
    generation: int
    packages: int  # distinct packages re-matched
    matches: int


class VulnMatcher:
    def __init__(self, database: VulnerabilityDatabase, inventories: ScanInventoryStore) -> None:
        self.database = database
        self.inventories = inventories

    async def vulns(self, queries: Collection[MatchQuery]) -> dict[MatchQuery, tuple[Vuln, ...]]:
        """Each query's advisories, with their severities."""
        found = await self.database.match(queries)
        ids = {m.advisory_id for matches in found.values() for m in matches}
        infos = await self.database.advisories(ids)
        result: dict[MatchQuery, tuple[Vuln, ...]] = {}
        for query, matches in found.items():
            vulns = [
                Vuln(m.advisory_id, m.fixed_in, infos[m.advisory_id].severity)
                for m in matches
                if m.advisory_id in infos
            ]
            result[query] = tuple(vulns)
        return result

    async def inventory(self, inventory: Inventory) -> tuple[int, list[StoredPackage]]:
        """The inventory's packages with their queries and matches, and the generation they were made at."""
        generation = (await self.database.state()).generation
        queried = [(p, query_for(p, inventory.os)) for p in inventory.packages]
        vulns = await self.vulns({q for _, q in queried if q is not None})
        stored = [StoredPackage(p, q, () if q is None else vulns.get(q, ())) for p, q in queried]
        return generation, stored

    async def reevaluate(self, progress: Callable[[int], None] | None = None) -> Reevaluation:
        """Re-match every stored package not yet matched at the current generation."""
        generation = (await self.database.state()).generation
        after, packages, total = 0, 0, 0
        while batch := await self.inventories.stale(generation, after, BATCH):
            after = batch[-1][0]
            total += await self._rematch(generation, batch)
            packages += len(batch)
            if progress is not None:
                progress(len(batch))
        if packages:
            log.info("vulnerability re-evaluation", extra={"packages": packages, "generation": generation})
        return Reevaluation(generation, packages, total)

    async def _rematch(self, generation: int, batch: Sequence[tuple[int, MatchQuery | None]]) -> int:
        vulns = await self.vulns({q for _, q in batch if q is not None})
        matches = [
            PackageMatch(package_id, v.advisory_id, v.fixed_in, v.severity)
            for package_id, query in batch
            if query is not None
            for v in vulns.get(query, ())
        ]
        await self.inventories.set_matches(generation, [package_id for package_id, _ in batch], matches)
        return len(matches)
