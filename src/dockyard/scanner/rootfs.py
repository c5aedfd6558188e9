"""The view of an image's final filesystem that cataloguers read, and the cataloguer Protocol.

Paths are absolute and normalised (``/var/lib/dpkg/status``): no ``.``/``..`` parts, no trailing slash.
A :class:`RootFs` built from layers holds only the files cataloguers asked for (:meth:`Cataloguer.wants`);
:class:`DirRootFs` serves a directory (tests, the cross-check target) and holds everything in it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Protocol

from dockyard.domain.scanning.inventory import OsInfo, Package

MAX_READ = 64 * 1024 * 1024  # a cataloguer never reads more than this of one file


class RootFs(Protocol):
    def files(self) -> Iterable[str]:
        """Every regular file the view holds (absolute paths), in no particular order."""

    def read(self, path: str, limit: int = MAX_READ) -> bytes | None:
        """The file's bytes (symlinks resolved inside the root), ``None`` if absent or over ``limit``."""

    def local_path(self, path: str) -> Path | None:
        """A real file with the bytes of ``path`` (for sqlite and Berkeley DB readers), or ``None``."""


class Cataloguer(Protocol):
    """Reads one kind of package database out of a :class:`RootFs`."""

    name: str

    def wants(self, path: str, head: bytes) -> bool:
        """Whether the layer reader should keep this regular file. ``head`` is the file's first 4096
        bytes when any executable bit is set (to recognise binaries), else ``b""``."""

    def catalogue(self, fs: RootFs, os: OsInfo | None) -> list[Package]:
        """The packages found; a broken database yields what could be read, never an exception
        other than :class:`~dockyard.domain.scanning.inventory.ScanFailed`."""


class DirRootFs:
    """A directory read as an image root: symlinks are resolved as the image would see them (an absolute
    target is relative to the root, ``..`` stops at it), never against the host's filesystem."""

    MAX_HOPS = 40

    def __init__(self, root: Path) -> None:
        self._root = root.resolve()

    def files(self) -> Iterator[str]:
        for path in self._root.rglob("*"):
            if path.is_file() and not path.is_symlink():
                yield "/" + path.relative_to(self._root).as_posix()

    def _inside(self, path: str) -> Path | None:
        parts = [p for p in path.split("/") if p not in ("", ".")]
        resolved: list[str] = []
        hops = 0
        while parts:
            part = parts.pop(0)
            if part == "..":
                if resolved:
                    resolved.pop()
                continue
            candidate = self._root.joinpath(*resolved, part)
            if candidate.is_symlink():
                hops += 1
                if hops > self.MAX_HOPS:
                    return None
                target = os.readlink(candidate)
                if target.startswith("/"):
                    resolved = []
                parts = [p for p in target.split("/") if p not in ("", ".")] + parts
                continue
            resolved.append(part)
        found = self._root.joinpath(*resolved)
        return found if found.is_file() and not found.is_symlink() else None

    def read(self, path: str, limit: int = MAX_READ) -> bytes | None:
        found = self._inside(path)
        if found is None or found.stat().st_size > limit:
            return None
        return found.read_bytes()

    def local_path(self, path: str) -> Path | None:
        return self._inside(path)
