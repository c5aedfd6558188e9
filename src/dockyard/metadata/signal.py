"""Change signals for the read cache.

:class:`FileChangeSignal` serves every process on one machine (server workers, CLI commands): an 8-byte
value in a memory-mapped file under the data directory. A writer stores a fresh random value after its
transaction commits; readers load it in nanoseconds. Replicas on other machines need a signal carried by
the shared database instead (PostgreSQL ``LISTEN/NOTIFY``), behind the same port.
"""

from __future__ import annotations

import mmap
import os
import struct
from pathlib import Path

_WORD = struct.Struct("<Q")


class FileChangeSignal:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if os.fstat(fd).st_size < _WORD.size:
                os.pwrite(fd, os.urandom(_WORD.size), 0)
            self._map = mmap.mmap(fd, _WORD.size)
        finally:
            os.close(fd)

    def current(self) -> int:
        value: int = _WORD.unpack_from(self._map, 0)[0]
        return value

    def bump(self) -> None:
        _WORD.pack_into(self._map, 0, int.from_bytes(os.urandom(_WORD.size), "little"))

    def close(self) -> None:
        self._map.close()


class LocalChangeSignal:
    """A signal for one process only (tests, and stores no other process writes to)."""

    def __init__(self) -> None:
        self._value = 0

    def current(self) -> int:
        return self._value

    def bump(self) -> None:
        self._value += 1
