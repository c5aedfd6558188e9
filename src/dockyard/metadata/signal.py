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

from dockyard.ports import ChangeSignal

_WORD = struct.Struct("<Q")


SLOTS = 4  # independent signals in one file: 0 registry metadata, 1 access (identity, policies)
DATA, ACCESS = 0, 1


class FileChangeSignal:
    """One 8-byte slot of the shared signal file; slots move independently, so a push (slot 0) does not
    drop the access caches (slot 1)."""

    def __init__(self, path: Path, slot: int = DATA) -> None:
        if not 0 <= slot < SLOTS:
            raise ValueError("no such signal slot")
        path.parent.mkdir(parents=True, exist_ok=True)
        size = _WORD.size * SLOTS
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            present = os.fstat(fd).st_size
            if present < size:
                os.pwrite(fd, os.urandom(size - present), present)
            self._map = mmap.mmap(fd, size)
        finally:
            os.close(fd)
        self._offset = slot * _WORD.size

    def current(self) -> int:
        value: int = _WORD.unpack_from(self._map, self._offset)[0]
        return value

    def bump(self) -> None:
        _WORD.pack_into(self._map, self._offset, int.from_bytes(os.urandom(_WORD.size), "little"))

    def close(self) -> None:
        self._map.close()


class CombinedSignal:
    """Moves when either part moves; a bump moves both (for writes that change data and access alike,
    such as a repository's policy or its very existence)."""

    def __init__(self, first: ChangeSignal, second: ChangeSignal) -> None:
        self._first = first
        self._second = second

    def current(self) -> int:
        return hash((self._first.current(), self._second.current()))

    def bump(self) -> None:
        self._first.bump()
        self._second.bump()


class LocalChangeSignal:
    """A signal for one process only (tests, and stores no other process writes to)."""

    def __init__(self) -> None:
        self._value = 0

    def current(self) -> int:
        return self._value

    def bump(self) -> None:
        self._value += 1
