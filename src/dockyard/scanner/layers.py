"""An image's final filesystem, read out of its layers in one streaming pass each (untrusted input).

Each layer blob (gzip, zstd or plain tar) is read forward once, lowest layer first, and merged into a
virtual tree the way an OCI runtime unpacks it:

* a member's name is cleaned like containerd does (``..`` never climbs above the root, a leading ``/``
  is dropped), and symlinks in its parent directories are followed *inside* the tree, so a member
  ``evil/etc/x`` under a symlink ``evil -> /`` lands on the image's ``/etc/x``;
* ``.wh.<name>`` deletes ``name`` and everything below it from lower layers, ``.wh..wh..opq`` empties
  its directory of lower layers' entries (entries of the same layer stay, as the image spec says);
* a later entry replaces an earlier one at the same path (a file may replace a directory).

Only what cataloguers need is kept: regular files that a ``wants(path, head)`` predicate accepts, plus
every symlink and hard link (cheap, and needed to resolve ``/etc/os-release -> ../usr/lib/os-release``).
A kept file's bytes go to a scratch file with a generated name under the caller's scratch directory:
no member name is ever used as a host path, so no member can write outside it. Lookups resolve
symlinks virtually (absolute targets against the image root, never the host) with a hop limit.

A hard link whose target was not kept (nothing wanted it) is not kept either: its bytes went by in
the stream before anything asked for them.
"""

from __future__ import annotations

import shutil
import tarfile
import tempfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import IO, cast

import zstandard
from isal import isal_zlib

from dockyard.domain.scanning.inventory import ScanFailed
from dockyard.scanner.limits import (
    BudgetedReader,
    ByteBudget,
    ScanLimits,
    compression_of,
    decompressed,
    human_size,
    open_tar_stream,
)
from dockyard.scanner.rootfs import MAX_READ

Wants = Callable[[str, bytes], bool]

WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"
AUFS_META = ".wh..wh."
HEAD_SIZE = 4096  # enough for an ELF file's first notes (Go's build-id note sits near 1 KiB or 4 KiB)
_CHUNK = 1024 * 1024
_EXEC_BITS = 0o111
_STREAM_ERRORS = (
    tarfile.TarError,
    OSError,
    EOFError,
    IndexError,  # tarfile indexes a short block when a GNU sparse header is cut off
    zlib.error,
    cast(type[Exception], isal_zlib.error),  # isal's stubs leave it untyped
    zstandard.ZstdError,
    ValueError,
    UnicodeError,
    OverflowError,
)


@dataclass(frozen=True, slots=True)
class LayerFile:
    """One layer blob on disk, in image order (lowest first)."""

    path: Path
    digest: str
    media_type: str | None = None


class _SymlinkLoop(Exception):
    """A path needed more symlink hops than allowed."""


@dataclass(slots=True)
class _Blob:
    path: Path
    size: int
    refs: int = 1


class _Node:
    __slots__ = ("layer",)

    def __init__(self, layer: int) -> None:
        self.layer = layer  # the last layer that declared this entry


class _Dir(_Node):
    __slots__ = ("children", "pruned")

    def __init__(self, layer: int) -> None:
        super().__init__(layer)
        self.children: dict[str, _Node] = {}
        self.pruned = -1  # the layer whose opaque marker last emptied this directory


class _File(_Node):
    __slots__ = ("blob",)

    def __init__(self, layer: int, blob: _Blob) -> None:
        super().__init__(layer)
        self.blob = blob


class _Symlink(_Node):
    __slots__ = ("target",)

    def __init__(self, layer: int, target: str) -> None:
        super().__init__(layer)
        self.target = target


def clean_parts(name: str) -> list[str]:
    """A member name as path components below the root: ``.``/empty dropped, ``..`` clamped at the root."""
    parts: list[str] = []
    for part in name.split("/"):
        if part == "..":
            if parts:
                parts.pop()
        elif part not in ("", "."):
            parts.append(part)
    return parts


@dataclass(slots=True)
class _Where:
    """Where a path resolved to: its parent directory, its last name, the node there and its real path."""

    parent: _Dir
    name: str
    node: _Node | None
    path: str


class LayerRootFs:
    """The kept part of an image's final filesystem (a :class:`~dockyard.scanner.rootfs.RootFs`)."""

    def __init__(self, scratch: Path, limits: ScanLimits) -> None:
        self.directory = scratch
        self._limits = limits
        self._root = _Dir(-1)
        self._next_blob = 0
        self.kept_bytes = 0

    # -- RootFs -------------------------------------------------------------------------------------

    def files(self) -> Iterator[str]:
        stack: list[tuple[str, _Dir]] = [("", self._root)]
        while stack:
            prefix, directory = stack.pop()
            for name, node in directory.children.items():
                if isinstance(node, _File):
                    yield f"{prefix}/{name}"
                elif isinstance(node, _Dir):
                    stack.append((f"{prefix}/{name}", node))

    def read(self, path: str, limit: int = MAX_READ) -> bytes | None:
        blob = self._blob(path)
        if blob is None or blob.size > limit:
            return None
        return blob.path.read_bytes()

    def local_path(self, path: str) -> Path | None:
        blob = self._blob(path)
        return None if blob is None else blob.path

    def _blob(self, path: str) -> _Blob | None:
        parts = [part for part in path.split("/") if part not in ("", ".")]  # ``..`` after symlinks
        where = self.lookup(parts, follow_last=True)
        node = None if where is None else where.node
        return node.blob if isinstance(node, _File) else None

    def lookup(self, parts: list[str], *, follow_last: bool = False) -> _Where | None:
        """Resolve an existing path (``None`` through a missing parent or a symlink loop)."""
        try:
            return self._walk(parts, follow_last=follow_last, create=None)
        except _SymlinkLoop:
            return None

    # -- the tree -----------------------------------------------------------------------------------

    def _walk(self, parts: list[str], *, follow_last: bool, create: int | None) -> _Where | None:
        """Resolve ``parts`` (cleaned components) from the root.

        Symlinks on the way are followed inside the tree (and the last one too when ``follow_last``);
        ``..`` stops at the root. With ``create`` (a layer index), missing or non-directory parents
        become directories of that layer, as unpacking would make them; without it a path through a
        missing parent gives ``None``. The root itself resolves to a ``_Where`` with an empty name.
        """
        stack, names = [self._root], [""]
        pending = list(reversed(parts))
        hops = steps = 0
        while pending:
            name = pending.pop()
            steps += 1
            if steps > self._limits.max_path_length:
                raise _SymlinkLoop(name)
            if name == "..":
                if len(stack) > 1:
                    stack.pop()
                    names.pop()
                continue
            node = stack[-1].children.get(name)
            if isinstance(node, _Symlink) and (follow_last or pending):
                hops += 1
                if hops > self._limits.max_symlink_hops:
                    raise _SymlinkLoop(name)
                if node.target.startswith("/"):
                    del stack[1:], names[1:]
                pending.extend(reversed([p for p in node.target.split("/") if p not in ("", ".")]))
                continue
            if not pending:
                return _Where(stack[-1], name, node, "/".join([*names, name]))
            if not isinstance(node, _Dir):
                if create is None:
                    return None
                node = self._replace(stack[-1], name, _Dir(create))
            stack.append(node)  # type: ignore[arg-type]
            names.append(name)
        return _Where(stack[-1], "", stack[-1], "/".join(names) or "/")

    def _replace(self, parent: _Dir, name: str, node: _Node) -> _Node:
        old = parent.children.get(name)
        if old is not None:
            self._drop(old)
        parent.children[name] = node
        return node

    def _remove(self, parent: _Dir, name: str) -> None:
        old = parent.children.pop(name, None)
        if old is not None:
            self._drop(old)

    def _drop(self, node: _Node) -> None:
        """Release the scratch files of ``node`` and everything below it."""
        stack = [node]
        while stack:
            current = stack.pop()
            if isinstance(current, _File):
                current.blob.refs -= 1
                if current.blob.refs == 0:
                    current.blob.path.unlink(missing_ok=True)
                    self.kept_bytes -= current.blob.size
            elif isinstance(current, _Dir):
                stack.extend(current.children.values())

    def _prune(self, directory: _Dir, layer: int) -> None:
        """Opaque directory: drop lower layers' entries below it (keeping this layer's, and their parents).

        A directory is pruned at most once per layer, so repeated markers cost nothing.
        """
        if directory.pruned == layer:
            return
        directory.pruned = layer
        for name, child in list(directory.children.items()):
            if isinstance(child, _Dir):
                self._prune(child, layer)
                if child.layer < layer and not child.children:
                    self._remove(directory, name)
            elif child.layer < layer:
                self._remove(directory, name)

    # -- adding entries -----------------------------------------------------------------------------

    def locate(self, parts: list[str], layer: int) -> _Where | None:
        """Where a member of ``layer`` lands (its parents made as needed); ``None`` for the root."""
        if not parts:
            return None
        where = self._walk(parts, follow_last=False, create=layer)
        return where if where is not None and where.name else None

    def new_blob(self, source: IO[bytes], head: bytes, size: int, member: str) -> _Blob:
        """Copy a kept member's bytes (``head`` already read) into a fresh scratch file."""
        limits = self._limits
        if size > limits.max_file_bytes:
            raise ScanFailed(
                f"file {member}: {size} bytes exceeds the {human_size(limits.max_file_bytes)} limit"
            )
        if self.kept_bytes + size > limits.max_kept_bytes:
            raise ScanFailed(f"files kept for cataloguing exceed {human_size(limits.max_kept_bytes)}")
        path = self.directory / f"{self._next_blob:08d}"
        self._next_blob += 1
        with path.open("xb") as out:
            out.write(head)
            shutil.copyfileobj(source, out, _CHUNK)
        self.kept_bytes += size
        return _Blob(path, size)

    def place(self, where: _Where, node: _Node | None, layer: int) -> None:
        """Put ``node`` where a member landed (a later entry wins, directories merge); ``None`` clears
        the path: an entry that is not kept still hides what lower layers had there."""
        if node is None:
            self._remove(where.parent, where.name)
        elif isinstance(node, _Dir) and isinstance(where.node, _Dir):
            where.node.layer = layer
        else:
            self._replace(where.parent, where.name, node)

    def whiteout(self, parts: list[str], layer: int) -> None:
        """``parts`` ends in a ``.wh.`` name: apply it to lower layers' entries."""
        where = (
            self.lookup(parts[:-1], follow_last=True)
            if len(parts) > 1
            else _Where(self._root, "", self._root, "/")
        )
        if where is None or not isinstance(where.node, _Dir):
            return  # nothing below a directory we never saw
        directory, marker = where.node, parts[-1]
        if marker == OPAQUE:
            self._prune(directory, layer)
        elif not marker.startswith(AUFS_META):  # other aufs metadata (.wh..wh.plnk) deletes nothing
            target = marker[len(WHITEOUT) :]
            victim = directory.children.get(target)
            if victim is not None and victim.layer < layer:
                self._remove(directory, target)


class _LayerReader:
    """Reads layers into a :class:`LayerRootFs`, one streaming pass per layer."""

    def __init__(self, fs: LayerRootFs, wants: Wants, limits: ScanLimits) -> None:
        self._fs = fs
        self._wants = wants
        self._limits = limits
        self._budget = ByteBudget(limits)
        self._entries = 0

    def read_layer(self, layer: LayerFile, index: int) -> None:
        self._budget.start_layer(layer.digest)
        try:
            with layer.path.open("rb") as raw:
                kind = compression_of(layer.media_type, raw.read(4), layer.digest)
                raw.seek(0)
                with closing(decompressed(raw, kind)) as plain:
                    self._read_tar(BudgetedReader(plain, self._budget), index)
        except ScanFailed as exc:
            if exc.reason.startswith("layer "):
                raise
            raise ScanFailed(f"layer {layer.digest}: {exc.reason}") from None
        except _SymlinkLoop:
            raise ScanFailed(f"layer {layer.digest}: a member's path loops through symlinks") from None
        except _STREAM_ERRORS as exc:
            raise ScanFailed(f"layer {layer.digest}: unreadable layer: {_describe(exc)}") from None

    def _read_tar(self, stream: BudgetedReader, index: int) -> None:
        with open_tar_stream(stream, self._limits) as archive:
            while (member := archive.next()) is not None:
                # tarfile remembers every member (an undocumented list); a stream has no use for them
                archive.members.clear()  # type: ignore[attr-defined]
                self._entries += 1
                if self._entries > self._limits.max_entries:
                    raise ScanFailed(f"the image has more than {self._limits.max_entries} tar entries")
                self._add(archive, member, index)

    def _add(self, archive: tarfile.TarFile, member: tarfile.TarInfo, layer: int) -> None:
        parts = clean_parts(member.name)
        if any(part.startswith(AUFS_META) for part in parts[:-1]):
            return  # aufs hard-link store and other metadata: never part of the filesystem
        if parts and parts[-1].startswith(WHITEOUT):
            self._fs.whiteout(parts, layer)
            return
        where = self._fs.locate(parts, layer)
        if where is None:
            return  # the root directory itself
        node: _Node | None = None
        if member.isdir():
            node = _Dir(layer)
        elif member.issym():
            node = _Symlink(layer, member.linkname)
        elif member.islnk():
            node = self._hardlink(member.linkname, layer)
        elif member.isreg():
            node = self._file(archive, member, where, layer)
        self._fs.place(where, node, layer)  # None: device node, fifo, unknown type or unwanted file

    def _hardlink(self, target: str, layer: int) -> _Node | None:
        existing = self._fs.lookup(clean_parts(target))
        found = None if existing is None else existing.node
        if isinstance(found, _File):
            found.blob.refs += 1
            return _File(layer, found.blob)
        if isinstance(found, _Symlink):
            return _Symlink(layer, found.target)
        return None

    def _file(
        self, archive: tarfile.TarFile, member: tarfile.TarInfo, where: _Where, layer: int
    ) -> _Node | None:
        source = archive.extractfile(member)
        if source is None:
            return None
        head = source.read(HEAD_SIZE) if member.mode & _EXEC_BITS else b""
        named = "/" + "/".join(clean_parts(member.name))
        if not (self._wants(named, head) or (where.path != named and self._wants(where.path, head))):
            return None
        return _File(layer, self._fs.new_blob(source, head, member.size, where.path))


def _describe(exc: BaseException) -> str:
    if isinstance(exc, IndexError):
        return "the tar stream is truncated inside a member's headers"
    text = str(exc) or type(exc).__name__
    return text if len(text) < 300 else text[:300] + "..."


def read_layers(
    layers: Sequence[LayerFile], scratch: Path, wants: Wants, limits: ScanLimits | None = None
) -> LayerRootFs:
    """The kept final filesystem of ``layers`` (lowest first).

    Kept files go to a new directory under ``scratch`` (:attr:`LayerRootFs.directory`), which the
    caller removes when done with the view; it is removed here if reading fails.
    """
    limits = limits or ScanLimits()
    directory = Path(tempfile.mkdtemp(prefix="layers-", dir=scratch))
    fs = LayerRootFs(directory, limits)
    reader = _LayerReader(fs, wants, limits)
    try:
        for index, layer in enumerate(layers):
            reader.read_layer(layer, index)
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise
    return fs
