"""The system clock behind the :class:`~dockyard.ports.Clock` port (tests inject their own), and the
test-only offset clock a ``dockyard serve`` subprocess can be given.

**Test only.** With both ``DOCKYARD_TEST_MODE=1`` and ``DOCKYARD_TEST_CLOCK_FILE=<path>`` in the
environment, :func:`clock_from_environment` (used by the composition root, so by ``dockyard serve`` and the
``dockyard`` commands alike) returns an :class:`OffsetFileClock`: system time plus the number of seconds
(a float, negative for the past) that the file holds, re-read whenever the file changes (a ``stat`` per
``now()``; replace the file, e.g. write a temporary one and ``os.replace`` it, so a change is never seen
half-written). A missing file means no offset. The file alone does nothing: without the mode flag it is
ignored with a warning, and when honoured a warning says so at startup. Everything that reads the clock
moves with it, SigV4's 15-minute skew check and token expiry included.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

from dockyard.ports import Clock

TEST_MODE_ENV = "DOCKYARD_TEST_MODE"
TEST_CLOCK_FILE_ENV = "DOCKYARD_TEST_CLOCK_FILE"

log = logging.getLogger("dockyard.clock")


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class OffsetFileClock:
    """``base`` time plus the offset in seconds that ``path`` holds (test only: see the module's doc)."""

    def __init__(self, path: Path, base: Clock | None = None) -> None:
        self.path = path
        self.base = base or SystemClock()
        self._seen: tuple[int, int, int] | None = None  # (mtime ns, size, inode) of the file last read
        self._offset = timedelta()

    def now(self) -> datetime:
        return self.base.now() + self.offset()

    def offset(self) -> timedelta:
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            self._seen, self._offset = None, timedelta()
            return self._offset
        seen = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        if seen != self._seen:
            self._seen = seen
            self._offset = self._read()
        return self._offset

    def _read(self) -> timedelta:
        raw = self.path.read_text().strip()
        try:
            return timedelta(seconds=float(raw or 0))
        except (ValueError, OverflowError):
            log.warning("test clock file %s holds %r, not seconds; keeping the offset", self.path, raw)
            return self._offset


def clock_from_environment(environ: Mapping[str, str] | None = None) -> Clock:
    """The system clock; the test clock only when ``DOCKYARD_TEST_MODE=1`` and
    ``DOCKYARD_TEST_CLOCK_FILE`` are both set (see the module's doc)."""
    env = os.environ if environ is None else environ
    path = env.get(TEST_CLOCK_FILE_ENV)
    if not path:
        return SystemClock()
    if env.get(TEST_MODE_ENV) != "1":
        log.warning(
            "%s is set but ignored: the test clock needs %s=1 as well", TEST_CLOCK_FILE_ENV, TEST_MODE_ENV
        )
        return SystemClock()
    log.warning(
        "TEST MODE: this process's clock is offset by the seconds in %s (%s=1); never run so in production",
        path,
        TEST_MODE_ENV,
    )
    return OffsetFileClock(Path(path))
