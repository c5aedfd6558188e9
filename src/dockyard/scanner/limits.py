"""Bounds on reading untrusted layers, and the bounded decompressing tar stream that enforces them.

A layer is whatever a client pushed: a gzip bomb, a tar with a 10 GB pax header, a chain of extended
headers, a truncated stream. Everything here turns such input into :class:`ScanFailed` with a reason a
user can act on, before memory or disk is spent on it:

* decompression goes through :class:`ByteBudget`, so the per-layer and per-image decompressed sizes are
  counted as the bytes come out of gzip/zstd (Python's gzip and zstandard readers decompress at most
  what is asked for, so a bomb never expands in memory);
* tar headers are read by :func:`bounded_tarinfo`'s ``TarInfo`` subclass, which checks an extended
  (pax, GNU long-name) header's declared size *before* tarfile reads it wholly into memory, limits how
  many extended headers may chain (tarfile follows them recursively), caps everything read while a
  member's headers are processed (GNU sparse maps), and reports a truncated or corrupt header instead
  of letting tarfile end the archive quietly, as it does for a bad header past offset 0.
"""

from __future__ import annotations

import tarfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, Any, Protocol, Self

import zstandard
from isal import igzip

from dockyard.domain.scanning.images import LAYER_TYPES
from dockyard.domain.scanning.inventory import ScanFailed, UnsupportedImage

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB

GZIP, ZSTD, TAR = "gzip", "zstd", "tar"
GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"

LAYER_MEDIA_TYPES = LAYER_TYPES  # media type -> GZIP, ZSTD or TAR

_EXTENDED_TYPES = frozenset(
    {
        tarfile.XHDTYPE,
        tarfile.XGLTYPE,
        tarfile.SOLARIS_XHDTYPE,
        tarfile.GNUTYPE_LONGNAME,
        tarfile.GNUTYPE_LONGLINK,
    }
)
_MAX_HEADER_CHAIN = 8  # global pax + pax + GNU long name + long link is 4; real archives never need more


@dataclass(frozen=True, slots=True)
class ScanLimits:
    """What a scan is willing to read of one image. Every breach fails the scan with a reason.

    The defaults fit the largest ordinary images (CUDA and other ML base images reach 10-20 GB
    unpacked over a few hundred thousand files) while keeping one scan's memory and scratch disk bounded.
    """

    max_layer_bytes: int = 8 * GiB  # decompressed bytes of one layer
    max_image_bytes: int = 32 * GiB  # decompressed bytes of all layers together
    max_entries: int = 1_000_000  # tar entries over all layers
    max_file_bytes: int = 512 * MiB  # one file kept for a cataloguer (a big Go binary is ~200 MB)
    max_kept_bytes: int = 4 * GiB  # all kept files together (scratch disk)
    max_path_length: int = 4096  # a member's name or link target (Linux PATH_MAX)
    max_header_bytes: int = 1 * MiB  # one pax or GNU long-name/long-link header
    max_symlink_hops: int = 40  # symlinks followed resolving one path (Linux MAXSYMLINKS)


def human_size(size: int) -> str:
    """``8 GiB``, ``512 MiB``, ``1.5 KiB``, ``17 bytes``: for reasons a user reads."""
    for unit, factor in (("GiB", GiB), ("MiB", MiB), ("KiB", KiB)):
        if size >= factor:
            value = size / factor
            return f"{value:g} {unit}" if value == int(value) else f"{value:.1f} {unit}"
    return f"{size} bytes"


class Readable(Protocol):
    """A byte stream read forward in bounded pieces (a layer blob, or one decompressing it)."""

    def read(self, size: int = -1, /) -> bytes: ...

    def close(self) -> None: ...


class ByteBudget:
    """Counts decompressed bytes against the per-layer and per-image limits."""

    def __init__(self, limits: ScanLimits) -> None:
        self._limits = limits
        self.image_bytes = 0
        self.layer_bytes = 0
        self.layer = ""

    def start_layer(self, digest: str) -> None:
        self.layer, self.layer_bytes = digest, 0

    def spend(self, count: int) -> None:
        self.layer_bytes += count
        self.image_bytes += count
        if self.layer_bytes > self._limits.max_layer_bytes:
            size = human_size(self._limits.max_layer_bytes)
            raise ScanFailed(f"layer {self.layer}: decompressed size exceeds {size}")
        if self.image_bytes > self._limits.max_image_bytes:
            size = human_size(self._limits.max_image_bytes)
            raise ScanFailed(f"layer {self.layer}: the image's decompressed size exceeds {size}")


class BudgetedReader:
    """A read-only stream of a layer's tar bytes that charges every byte to a :class:`ByteBudget`.

    While a member's headers are being read (:meth:`headers`), it also caps the bytes read: tarfile
    follows GNU sparse extension blocks and sparse maps for as long as the archive says, and keeps all
    of them in memory.
    """

    def __init__(self, source: Readable, budget: ByteBudget) -> None:
        self._source = source
        self._budget = budget
        self._header_left: int | None = None
        self._header_cap = 0

    def read(self, size: int = -1) -> bytes:
        data = self._source.read(size if size >= 0 else 64 * KiB)  # never an unbounded read
        self._budget.spend(len(data))
        if self._header_left is not None:
            self._header_left -= len(data)
            if self._header_left < 0:
                raise ScanFailed(f"a tar member's headers take more than {human_size(self._header_cap)}")
        return data

    @contextmanager
    def headers(self, cap: int) -> Iterator[None]:
        """Cap reads at ``cap`` bytes until the block ends (nested blocks share the outer cap)."""
        if self._header_left is not None:
            yield
            return
        self._header_left, self._header_cap = cap, cap
        try:
            yield
        finally:
            self._header_left = None


def compression_of(media_type: str | None, head: bytes, digest: str) -> str:
    """The layer's compression: by media type when given (it must be a layer type), else by magic bytes."""
    if media_type is not None:
        kind = LAYER_MEDIA_TYPES.get(media_type.strip().lower())
        if kind is None:
            raise UnsupportedImage(f"layer {digest}: media type {media_type} is not a filesystem layer")
        return kind
    if head.startswith(GZIP_MAGIC):
        return GZIP
    if head.startswith(ZSTD_MAGIC):
        return ZSTD
    return TAR


def decompressed(raw: IO[bytes], kind: str) -> Readable:
    """``raw`` decompressed as a stream (gzip with several members and zstd with several frames too)."""
    if kind == GZIP:  # ISA-L's inflate: gzip.GzipFile's incremental reads, a quarter less CPU
        reader: Readable = igzip.IGzipFile(fileobj=raw, mode="rb")  # type: ignore[no-untyped-call]
        return reader
    if kind == ZSTD:
        return zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True)
    return raw


def _check_member(info: tarfile.TarInfo, limits: ScanLimits) -> None:
    if info.size < 0:
        raise ScanFailed(f"tar member {info.name[:200]!r} has a negative size")
    for label, value in (("name", info.name), ("link target", info.linkname)):
        if len(value) > limits.max_path_length:
            raise ScanFailed(f"a tar member's {label} is longer than {limits.max_path_length} characters")


def bounded_tarinfo(limits: ScanLimits, reader: BudgetedReader) -> type[tarfile.TarInfo]:
    """A ``TarInfo`` class for ``tarfile.open(..., tarinfo=...)`` that reads headers within ``limits``."""
    chain = [0]  # extended headers seen since the last ordinary one (tarfile recurses through them)
    # All headers of one member: a full chain of extended headers, plus tarfile's read-ahead buffer.
    header_cap = (_MAX_HEADER_CHAIN + 1) * limits.max_header_bytes + 64 * KiB

    class BoundedTarInfo(tarfile.TarInfo):
        @classmethod
        def fromtarfile(cls, tarfile_: tarfile.TarFile) -> Self:
            stream: Any = tarfile_.fileobj
            buf: bytes = stream.read(tarfile.BLOCKSIZE)
            if len(buf) < tarfile.BLOCKSIZE:
                raise ScanFailed("the tar stream is truncated (it ends without an end-of-archive marker)")
            try:
                obj = cls.frombuf(buf, tarfile_.encoding or "utf-8", tarfile_.errors)
            except tarfile.HeaderError as exc:
                if not buf.strip(b"\0"):
                    raise  # a zero block: the end-of-archive marker, which ends tarfile's iteration
                raise ScanFailed(
                    f"corrupt tar header at offset {stream.tell() - tarfile.BLOCKSIZE}: {exc}"
                ) from None
            obj.offset = stream.tell() - tarfile.BLOCKSIZE
            if obj.type in _EXTENDED_TYPES:
                _check_extended(obj, chain, limits)
            else:
                chain[0] = 0
            with reader.headers(header_cap):
                member: Self = obj._proc_member(tarfile_)  # type: ignore[attr-defined]
            _check_member(member, limits)
            return member

    return BoundedTarInfo


def _check_extended(obj: tarfile.TarInfo, chain: list[int], limits: ScanLimits) -> None:
    if obj.size > limits.max_header_bytes:
        size = human_size(limits.max_header_bytes)
        raise ScanFailed(f"a tar extended (pax or long-name) header of {obj.size} bytes exceeds {size}")
    chain[0] += 1
    if chain[0] > _MAX_HEADER_CHAIN:
        raise ScanFailed(f"more than {_MAX_HEADER_CHAIN} tar extended headers in a row")


def open_tar_stream(stream: BudgetedReader, limits: ScanLimits) -> tarfile.TarFile:
    """A forward-only tar reader over ``stream`` (one pass, no seeking), with bounded headers."""
    opener: Callable[..., tarfile.TarFile] = tarfile.open
    return opener(fileobj=stream, mode="r|", tarinfo=bounded_tarinfo(limits, stream))
