"""Server CPU time, as precise as the machine allows.

``/proc/<pid>/stat`` counts in clock ticks (10 ms): over a scenario of eleven requests that is the whole
figure, so one registry's 0.01 s and another's 0.06 s say little. When the bench may make control groups
(root, cgroup v1 ``cpuacct`` or v2), each server goes into one of its own right after it is spawned, and
its CPU time is the group's counter: nanoseconds (v1 ``cpuacct.usage``) or microseconds (v2 ``cpu.stat``),
covering every process and thread it ever ran, exited ones included. Otherwise the ticks of its process
tree (reaped children included) are the fallback; the report says which was used.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from bench.rss import tree_cpu_seconds

CGROUP_PARENTS = (Path("/sys/fs/cgroup/cpuacct"), Path("/sys/fs/cgroup/unified"), Path("/sys/fs/cgroup"))


class CpuMeter:
    """CPU seconds used by one server (its process group) since it started."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.group = _own_group(pid)

    @property
    def source(self) -> str:
        if self.group is None:
            return "process-tree clock ticks from /proc (10 ms resolution)"
        return f"a control group of its own ({self.group.parent}, ns/us resolution)"

    def seconds(self) -> float:
        if self.group is None:
            return tree_cpu_seconds(self.pid)
        usage = self.group / "cpuacct.usage"
        if usage.exists():
            return int(usage.read_text()) / 1e9
        for line in (self.group / "cpu.stat").read_text().splitlines():
            key, _, value = line.partition(" ")
            if key == "usage_usec":
                return int(value) / 1e6
        return 0.0

    def close(self) -> None:
        """Remove the group (once the server's processes are gone)."""
        if self.group is not None:
            with contextlib.suppress(OSError):
                self.group.rmdir()


def _own_group(pid: int) -> Path | None:
    for parent in CGROUP_PARENTS:
        if not (parent / "cgroup.procs").exists():
            continue
        if not ((parent / "cpuacct.usage").exists() or (parent / "cgroup.controllers").exists()):
            continue
        group = parent / f"dockyard-bench-{os.getpid()}-{pid}"
        try:
            group.mkdir()
            (group / "cgroup.procs").write_text(str(pid))
        except OSError:
            with contextlib.suppress(OSError):
                group.rmdir()
            continue
        return group
    return None
