"""Go modules compiled into binaries, from the build information the Go linker embeds.

Every Go binary built in module mode (Go 1.13+) carries a ``\\xff Go buildinf:`` header at the start of
its data segment, followed by the toolchain version and the ``modinfo`` text (``go version -m`` prints
it): ``path``, ``mod`` (main module), ``dep`` and ``=>`` (the replacement of the line before) lines.
There is no maintained Python reader for it, and Go's own ``debug/buildinfo`` is the specification, so
it is read here, in two layouts:

* Go 1.18+ ("inline"): flag bit 2 set; two varint-length-prefixed strings follow the 32-byte header.
* Go 1.13-1.17 ("pointer"): the header holds two pointers to Go string headers; they are virtual
  addresses, turned into file offsets through the ELF program headers (a few lines of :mod:`struct`,
  not worth a dependency). Pointer-format Mach-O and PE binaries are skipped.

For ELF the header is looked for where ``debug/buildinfo`` looks (the first writable, non-executable
segment), so a binary that merely contains the magic as a string constant (a Go tool that itself reads
build info) is not misread; other formats are searched at 16-byte aligned offsets, first valid wins.

Packages follow Syft: each dependency as ``pkg:golang/<module path>@<version>``, with its replacement's
path and version when replaced; the main module unless its version is ``(devel)`` (a plain ``go build``
records no version); the toolchain as ``stdlib`` with version ``go1.19.8`` and purl
``pkg:golang/stdlib@1.19.8``. A dependency replaced by a local directory has no version to match
advisories against and is skipped.
"""

from __future__ import annotations

import io
import itertools
import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from dockyard.domain.scanning.inventory import GOLANG, OsInfo, Package
from dockyard.scanner.purls import make_purl
from dockyard.scanner.rootfs import RootFs

MAGIC = b"\xff Go buildinf:"
ELF_MAGIC = b"\x7fELF"
MACHO_MAGICS = (b"\xfe\xed\xfa\xce", b"\xfe\xed\xfa\xcf", b"\xce\xfa\xed\xfe", b"\xcf\xfa\xed\xfe")
PE_MAGIC = b"MZ"
DEVEL = "(devel)"

_HEADER_SIZE = 32
_ALIGN = 16
_SEARCH_WINDOW = 64 * 1024  # debug/buildinfo reads this much of the data segment
_MAX_CANDIDATES = 64
_MAX_STRING = 4 * 1024 * 1024
_MAX_SEGMENTS = 512
_MAX_SECTIONS = 4096
_CHUNK = 1024 * 1024
_PT_LOAD, _PF_X, _PF_W = 1, 1, 2
_FLAG_BIG_ENDIAN, _FLAG_INLINE = 1, 2
_SHARED_LIBRARY = re.compile(r"\.so(\.[0-9]+)*$|\.ko$")


@dataclass(slots=True)
class Module:
    path: str
    version: str
    sum: str = ""
    replace: Module | None = None


@dataclass(slots=True)
class BuildInfo:
    """What ``go version -m`` prints: the toolchain, the main module and the dependencies."""

    go_version: str
    path: str = ""
    main: Module | None = None
    deps: list[Module] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Segment:
    vaddr: int
    offset: int
    filesz: int
    flags: int


class _Reader:
    """Random access to a binary through small reads: no mmap and no whole-file read, since a scan
    runs under an address-space limit and a Go binary can be hundreds of MB."""

    def __init__(self, handle: BinaryIO) -> None:
        self._handle = handle
        self.size = handle.seek(0, io.SEEK_END)

    def at(self, offset: int, size: int) -> bytes:
        """Up to ``size`` bytes at ``offset`` (fewer at the end of the file)."""
        if offset < 0 or size < 0 or offset >= self.size:
            return b""
        self._handle.seek(offset)
        return self._handle.read(size)

    def exactly(self, offset: int, size: int) -> bytes | None:
        data = self.at(offset, size)
        return data if len(data) == size else None

    def find(self, needle: bytes, start: int, end: int) -> Iterator[int]:
        """Offsets of ``needle`` in ``[start, end)``, read in chunks."""
        position = start
        while position < end:
            chunk = self.at(position, min(_CHUNK, end - position) + len(needle) - 1)
            found = chunk.find(needle)
            while found >= 0:
                if position + found + len(needle) <= end:
                    yield position + found
                found = chunk.find(needle, found + 1)
            position += _CHUNK


# An ELF note's type (4: NT_GO_BUILDID) followed by its name "Go\0\0", in either byte order.
_GO_NOTE = b"\x04\x00\x00\x00Go\x00\x00"
_GO_NOTE_BE = b"\x00\x00\x00\x04Go\x00\x00"


def is_binary_head(head: bytes) -> bool:
    """ELF, Mach-O or PE magic at the start of a file."""
    return head.startswith(ELF_MAGIC) or head[:4] in MACHO_MAGICS or head.startswith(PE_MAGIC)


def _elf_ident(reader: _Reader) -> tuple[bool, str] | None:
    """(64-bit, struct byte order) of an ELF file, or ``None`` if it is not one."""
    ident = reader.exactly(0, 64)
    if ident is None or ident[:4] != ELF_MAGIC or ident[4] not in (1, 2) or ident[5] not in (1, 2):
        return None
    return ident[4] == 2, "<" if ident[5] == 1 else ">"


def elf_segments(reader: _Reader) -> list[_Segment] | None:
    """The PT_LOAD segments of an ELF file (``None`` if it is not a readable ELF file)."""
    ident = _elf_ident(reader)
    if ident is None:
        return None
    wide, order = ident
    header = reader.at(0, 64)
    (phoff,) = struct.unpack_from(order + ("Q" if wide else "I"), header, 0x20 if wide else 0x1C)
    entsize, count = struct.unpack_from(order + "HH", header, 0x36 if wide else 0x2A)
    layout = order + ("IIQQQQQQ" if wide else "IIIIIIII")
    table = reader.exactly(phoff, entsize * count) if count <= _MAX_SEGMENTS else None
    if table is None or entsize < struct.calcsize(layout):
        return None
    segments = []
    for index in range(count):
        fields = struct.unpack_from(layout, table, index * entsize)
        if wide:
            kind, flags, offset, vaddr, _, filesz = fields[:6]
        else:
            kind, offset, vaddr, _, filesz, _, flags = fields[:7]
        if kind == _PT_LOAD:
            segments.append(_Segment(vaddr, offset, filesz, flags))
    return segments


def elf_section(reader: _Reader, wanted: bytes) -> tuple[int, int] | None:
    """(file offset, size) of the ELF section named ``wanted``, or ``None``."""
    ident = _elf_ident(reader)
    if ident is None:
        return None
    wide, order = ident
    header = reader.at(0, 64)
    (shoff,) = struct.unpack_from(order + ("Q" if wide else "I"), header, 0x28 if wide else 0x20)
    entsize, count, names_index = struct.unpack_from(order + "HHH", header, 0x3A if wide else 0x2E)
    layout = order + ("IIQQQQ" if wide else "IIIIII")
    if not shoff or count > _MAX_SECTIONS or names_index >= count or entsize < struct.calcsize(layout):
        return None
    table = reader.exactly(shoff, entsize * count)
    if table is None:
        return None
    headers = [struct.unpack_from(layout, table, index * entsize) for index in range(count)]
    names_offset = headers[names_index][4]
    for name, _, _, _, offset, size in headers:
        if reader.at(names_offset + name, len(wanted) + 1) == wanted + b"\0" and offset + size <= reader.size:
            return offset, size
    return None


def _search_range(reader: _Reader, segments: list[_Segment] | None) -> tuple[int, int] | None:
    """Where to look for the header: ``.go.buildinfo``, else the start of the first writable segment
    (as debug/buildinfo does for ELF); anywhere in other formats."""
    if segments is None:
        return 0, reader.size
    section = elf_section(reader, b".go.buildinfo")
    if section is not None:
        return section[0], section[0] + section[1]
    writable = [segment for segment in segments if segment.flags & (_PF_W | _PF_X) == _PF_W]
    if not writable:
        return None
    return writable[0].offset, min(reader.size, writable[0].offset + _SEARCH_WINDOW)


def _candidates(reader: _Reader, start: int, end: int) -> Iterator[int]:
    """Offsets of the magic in ``[start, end)``, 16-byte aligned (at most a few dozen)."""
    aligned = (at for at in reader.find(MAGIC, start, end) if at % _ALIGN == 0)
    return itertools.islice(aligned, _MAX_CANDIDATES)


def _varint_string(reader: _Reader, position: int) -> tuple[bytes, int] | None:
    """A string prefixed by its length as a uvarint, and the offset after it."""
    value = shift = 0
    for index, byte in enumerate(reader.at(position, 10)):
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            start = position + index + 1
            data = reader.exactly(start, value) if value <= _MAX_STRING else None
            return None if data is None else (data, start + value)
    return None


def _at_address(reader: _Reader, segments: list[_Segment], address: int, size: int) -> bytes | None:
    for segment in segments:
        if segment.vaddr <= address and address + size <= segment.vaddr + segment.filesz:
            return reader.exactly(segment.offset + address - segment.vaddr, size)
    return None


def _pointer_string(reader: _Reader, segments: list[_Segment], pointer: bytes, order: str) -> bytes | None:
    """A Go string whose header (data pointer, length) is at the address in ``pointer``."""
    word = order + ("Q" if len(pointer) == 8 else "I")
    (address,) = struct.unpack(word, pointer)
    header = _at_address(reader, segments, address, 2 * len(pointer))
    if header is None:
        return None
    start, length = struct.unpack(word + word[1], header)
    return None if length > _MAX_STRING else _at_address(reader, segments, start, length)


def _decode_at(reader: _Reader, at: int, segments: list[_Segment] | None) -> tuple[bytes, bytes] | None:
    """(version, modinfo) from the header at ``at``, or ``None`` if it does not decode."""
    header = reader.exactly(at, _HEADER_SIZE)
    if header is None:
        return None
    pointer_size, flags = header[14], header[15]
    if flags & _FLAG_INLINE:
        version = _varint_string(reader, at + _HEADER_SIZE)
        modinfo = None if version is None else _varint_string(reader, version[1])
        return None if version is None or modinfo is None else (version[0], modinfo[0])
    if segments is None or pointer_size not in (4, 8):
        return None
    order = ">" if flags & _FLAG_BIG_ENDIAN else "<"
    first, second = header[16 : 16 + pointer_size], header[16 + pointer_size : 16 + 2 * pointer_size]
    version_bytes = _pointer_string(reader, segments, first, order)
    modinfo_bytes = _pointer_string(reader, segments, second, order)
    return None if version_bytes is None or modinfo_bytes is None else (version_bytes, modinfo_bytes)


def _build_info(reader: _Reader) -> BuildInfo | None:
    segments = elf_segments(reader)
    where = _search_range(reader, segments)
    if where is None:
        return None
    for at in _candidates(reader, *where):
        decoded = _decode_at(reader, at, segments)
        if decoded is None:
            continue
        version = decoded[0].decode("utf-8", errors="replace")
        if version.startswith(("go", "devel")):
            return parse_modinfo(version, _unframe(decoded[1]))
    return None


def build_info_of(data: bytes) -> BuildInfo | None:
    """The build info in a binary's bytes, or ``None`` for anything that is not a Go binary."""
    return _build_info(_Reader(io.BytesIO(data)))


def read_build_info(path: Path) -> BuildInfo | None:
    """The build info of the binary at ``path`` (read in small pieces, never whole)."""
    with path.open("rb") as handle:
        return _build_info(_Reader(handle))


def _unframe(modinfo: bytes) -> str:
    """Strip the 16-byte sentinels around modinfo (as debug/buildinfo does); empty if not framed."""
    if len(modinfo) >= 33 and modinfo[-17] == ord("\n"):
        return modinfo[16:-16].decode("utf-8", errors="replace")
    return ""


def parse_modinfo(go_version: str, text: str) -> BuildInfo:
    """The ``path``/``mod``/``dep``/``=>`` lines of modinfo (``build`` settings are not needed)."""
    info = BuildInfo(go_version=go_version)
    last: Module | None = None
    for line in text.split("\n"):
        fields = line.split("\t")
        kind = fields[0]
        if kind == "path" and len(fields) >= 2:
            info.path = fields[1]
        elif kind in ("mod", "dep", "=>") and len(fields) >= 2:
            fields += ["", ""]
            module = Module(fields[1], fields[2], fields[3])
            if kind == "mod":
                info.main = last = module
            elif kind == "dep":
                info.deps.append(module)
                last = module
            elif last is not None:
                last.replace = module
    return info


def toolchain_version(go_version: str) -> str | None:
    """``go1.21.0`` out of ``go1.21.0 X:boringcrypto``; ``None`` for a development toolchain."""
    words = go_version.split()
    return words[0] if words and re.fullmatch(r"go\d+(\.\d+)*\S*", words[0]) else None


def _module_package(module: Module, binary: str) -> Package | None:
    effective = module.replace or module
    if not effective.version or effective.version == DEVEL or not effective.path:
        return None
    namespace, _, name = effective.path.rpartition("/")
    purl = make_purl(GOLANG, namespace or None, name, effective.version)
    return Package(type=GOLANG, name=effective.path, version=effective.version, purl=purl, path=binary)


def packages_of(info: BuildInfo, binary: str) -> list[Package]:
    """The packages a binary at ``binary`` (its path in the image) is made of."""
    modules = [info.main] if info.main is not None else []
    found = [pkg for module in [*modules, *info.deps] if (pkg := _module_package(module, binary)) is not None]
    toolchain = toolchain_version(info.go_version)
    if toolchain is not None:
        purl = make_purl(GOLANG, None, "stdlib", toolchain.removeprefix("go"))
        found.append(Package(type=GOLANG, name="stdlib", version=toolchain, purl=purl, path=binary))
    return found


class GoBinaryCataloguer:
    """Go modules and the Go toolchain of every Go binary in the image."""

    name = "go-binary"

    def wants(self, path: str, head: bytes) -> bool:
        """Go executables only: an ELF file is kept when its head holds the Go linker's build-id note
        (``.note.go.buildid``, name ``Go``, type 4, written near the start of every Go ELF binary), so the
        hundreds of other executables of an image are never copied; Mach-O and PE files by magic."""
        if _SHARED_LIBRARY.search(path) is not None or not is_binary_head(head):
            return False
        return not head.startswith(ELF_MAGIC) or _GO_NOTE in head or _GO_NOTE_BE in head

    def catalogue(self, fs: RootFs, os: OsInfo | None) -> list[Package]:
        packages: list[Package] = []
        for path in sorted(fs.files()):
            if _SHARED_LIBRARY.search(path) is not None:
                continue
            local = fs.local_path(path)
            if local is None:
                continue
            try:
                with local.open("rb") as handle:
                    if not is_binary_head(handle.read(16)):
                        continue
                info = read_build_info(local)
            except (OSError, ValueError, struct.error):
                continue  # unreadable or malformed: not a Go binary we can read
            if info is not None:
                packages.extend(packages_of(info, path))
        return packages
