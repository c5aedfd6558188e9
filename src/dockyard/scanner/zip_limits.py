"""Limits for opening untrusted zip archives with :mod:`zipfile`.

``zipfile.ZipFile`` reads the whole central directory into memory and builds an object per entry
before the caller can look at anything, so an archive declaring a huge directory would exhaust memory
on open. :func:`central_directory_ok` reads the end-of-central-directory record (and its Zip64 form)
first and refuses archives whose directory is larger than real Java archives ever are. Member sizes are
bounded by the readers themselves (they read with a byte limit whatever a header claims).
"""

from __future__ import annotations

import lzma
import struct
import zipfile
import zlib
from typing import BinaryIO

# Large Spring Boot or Jenkins archives have a few tens of thousands of entries.
MAX_ENTRIES = 200_000
MAX_CENTRAL_DIRECTORY = 16 * 1024 * 1024  # bytes
# End of central directory: signature, 2 disk numbers, 2 entry counts, directory size and offset, comment.
_EOCD = struct.Struct("<4s4H2LH")
# Zip64 locator: signature, disk, record offset, disks.
_LOCATOR = struct.Struct("<4sLQL")
# Zip64 record: signature, size, 2 versions, 2 disks, entries here and in total, directory size and offset.
_EOCD64 = struct.Struct("<4sQ2H2L4Q")
_TAIL = _EOCD.size + 0xFFFF  # the record plus the longest comment

# What reading a hostile or damaged archive can raise (zipfile does not wrap decompressor errors).
ZIP_ERRORS: tuple[type[Exception], ...] = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    OSError,
    EOFError,
    RuntimeError,  # encrypted members
    ValueError,
    NotImplementedError,  # unsupported compression methods
    OverflowError,
    zlib.error,
    lzma.LZMAError,
    struct.error,
)


def _zip64_sizes(file: BinaryIO, eocd_at: int) -> tuple[int, int] | None:
    if eocd_at < _LOCATOR.size:
        return None
    file.seek(eocd_at - _LOCATOR.size)
    locator = file.read(_LOCATOR.size)
    if len(locator) < _LOCATOR.size or locator[:4] != b"PK\x06\x07":
        return None
    file.seek(_LOCATOR.unpack(locator)[2])
    record = file.read(_EOCD64.size)
    if len(record) < _EOCD64.size or record[:4] != b"PK\x06\x06":
        return None
    fields = _EOCD64.unpack(record)
    return int(fields[7]), int(fields[8])


def central_directory_ok(file: BinaryIO, size: int) -> bool:
    """Whether the archive has an end record and a central directory within the limits."""
    start = max(0, size - _TAIL)
    file.seek(start)
    tail = file.read(size - start)
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or at + _EOCD.size > len(tail):
        return False
    fields = _EOCD.unpack_from(tail, at)
    entries, directory = int(fields[4]), int(fields[5])
    if entries == 0xFFFF or directory == 0xFFFFFFFF:
        zip64 = _zip64_sizes(file, start + at)
        if zip64 is None:
            return False
        entries, directory = zip64
    return entries <= MAX_ENTRIES and directory <= MAX_CENTRAL_DIRECTORY
