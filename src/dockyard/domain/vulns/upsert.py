"""Which records of an import batch change the database: the newer ``modified`` wins.

A record is written when its advisory is unknown or stored with an older ``modified``; the same or an older
one changes nothing, so importing a dump twice, or an older dump after a newer one, is harmless. A
withdrawn record is written too, as a tombstone without affected entries: it stops matching, and an older,
not yet withdrawn copy imported later cannot bring the advisory back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from dockyard.domain.vulns.osv import Advisory


@dataclass(frozen=True, slots=True)
class BatchPlan:
    write: tuple[Advisory, ...]  # new or newer, withdrawn ones included
    replace: tuple[str, ...]  # ids among ``write`` stored now: their old rows go first
    imported: int = 0
    updated: int = 0
    unchanged: int = 0
    withdrawn: int = 0


def newest_by_id(advisories: Sequence[Advisory]) -> tuple[list[Advisory], int]:
    """One record per id, the newest (the first of equals); and how many others were dropped."""
    newest: dict[str, Advisory] = {}
    for advisory in advisories:
        kept = newest.get(advisory.id)
        if kept is None or advisory.modified > kept.modified:
            newest[advisory.id] = advisory
    return list(newest.values()), len(advisories) - len(newest)


def plan_batch(advisories: Sequence[Advisory], stored: Mapping[str, datetime]) -> BatchPlan:
    """What to write of ``advisories`` given the ``modified`` time of those already stored."""
    candidates, duplicates = newest_by_id(advisories)
    write: list[Advisory] = []
    replace: list[str] = []
    counts = {"imported": 0, "updated": 0, "unchanged": duplicates, "withdrawn": 0}
    for advisory in candidates:
        previous = stored.get(advisory.id)
        if previous is not None and advisory.modified <= previous:
            counts["unchanged"] += 1
            continue
        write.append(advisory)
        if previous is not None:
            replace.append(advisory.id)
        if advisory.withdrawn is not None:
            counts["withdrawn"] += 1
        else:
            counts["imported" if previous is None else "updated"] += 1
    return BatchPlan(tuple(write), tuple(replace), **counts)
