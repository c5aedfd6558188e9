"""Resident memory and CPU time of a server: sums over its process and all descendants, from /proc."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from types import TracebackType

PROC = Path("/proc")
INTERVAL = 0.05


def _parents() -> dict[int, int]:
    parents: dict[int, int] = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # the command name may hold spaces and parentheses: fields start after the last ")"
        fields = stat[stat.rfind(")") + 2 :].split()
        parents[int(entry.name)] = int(fields[1])
    return parents


def process_tree(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for pid, parent in _parents().items():
        children.setdefault(parent, []).append(pid)
    tree, frontier = [root], [root]
    while frontier:
        frontier = [child for pid in frontier for child in children.get(pid, [])]
        tree.extend(frontier)
    return tree


def _rss(pid: int) -> int:
    try:
        for line in (PROC / str(pid) / "status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _cpu_ticks(pid: int) -> int:
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return 0
    fields = stat[stat.rfind(")") + 2 :].split()
    return sum(int(v) for v in fields[11:15])  # utime, stime, and those of waited-for children


def tree_cpu_seconds(root: int) -> float:
    """CPU seconds used so far by ``root`` and its descendants (reaped children included)."""
    return sum(_cpu_ticks(pid) for pid in process_tree(root)) / os.sysconf("SC_CLK_TCK")


def tree_rss(root: int) -> int:
    """Bytes resident in ``root`` and its descendants right now."""
    return sum(_rss(pid) for pid in process_tree(root))


class PeakRss:
    """Samples :func:`tree_rss` of several roots in a background thread; ``peak[root]`` is the maximum."""

    def __init__(self, *roots: int) -> None:
        self.roots = roots
        self.peak = {root: tree_rss(root) for root in roots}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(INTERVAL):
            for root in self.roots:
                self.peak[root] = max(self.peak[root], tree_rss(root))

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join()
        for root in self.roots:
            self.peak[root] = max(self.peak[root], tree_rss(root))
