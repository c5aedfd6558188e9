"""Header blobs from an rpmdb in rpm's own "NDB" format (``Packages.db``, SUSE and openSUSE).

The format is only documented by rpm's ``lib/backend/ndb/rpmpkg.c`` and has no Python reader, so it is
parsed here following go-rpmdb's ``pkg/ndb``: a 32-byte header (magic ``RpmP``, version 0, number of
4 KiB slot pages), then slots of 16 bytes (magic ``Slot``, package index, block offset, block count);
a used slot points at a blob (magic ``BlbS``, package index, checksum, length) in 16-byte blocks. The
file is untrusted: the slot page count is capped as go-rpmdb does, each blob must lie inside the file
and inside the blocks its slot reserves, and the bytes read in total never exceed the file's size.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import BinaryIO

from dockyard.scanner.rpm_header import MAX_BLOB

HEADER_MAGIC = int.from_bytes(b"RpmP", "little")
SLOT_MAGIC = int.from_bytes(b"Slot", "little")
BLOB_MAGIC = int.from_bytes(b"BlbS", "little")
SLOT_PAGE = 4096
MAX_SLOT_PAGES = 2048  # go-rpmdb's cap (half a million packages)
BLOCK = 16
_QUAD = struct.Struct("<IIII")


def _slots(file: BinaryIO) -> Iterator[tuple[int, int, int]]:
    """``(package index, block offset, block count)`` of each used slot."""
    file.seek(0)
    header = file.read(32)
    if len(header) < 32:
        return
    magic, version, _generation, slot_pages = _QUAD.unpack_from(header)
    if magic != HEADER_MAGIC or version != 0 or not 0 < slot_pages <= MAX_SLOT_PAGES:
        return
    table = file.read(slot_pages * SLOT_PAGE - 32)  # the header takes the first two slots
    for offset in range(0, len(table) - _QUAD.size + 1, _QUAD.size):
        slot_magic, package, block_offset, block_count = _QUAD.unpack_from(table, offset)
        if slot_magic == SLOT_MAGIC and package != 0:
            yield package, block_offset, block_count


def read_ndb_blobs(file: BinaryIO, file_size: int) -> Iterator[bytes]:
    """Every package header blob in the database, in slot order (nothing when it is not NDB)."""
    budget = file_size
    for package, block_offset, block_count in _slots(file):
        start = block_offset * BLOCK
        file.seek(start)
        head = file.read(BLOCK)
        if len(head) < BLOCK:
            continue
        magic, blob_package, _checksum, length = _QUAD.unpack_from(head)
        reserved = block_count * BLOCK - BLOCK
        if magic != BLOB_MAGIC or blob_package != package or length > min(reserved, MAX_BLOB):
            continue
        if start + BLOCK + length > file_size or length > budget:
            continue
        budget -= length
        yield file.read(length)
