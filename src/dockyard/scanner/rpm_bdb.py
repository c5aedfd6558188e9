"""Header blobs from an rpmdb in Berkeley DB hash format (``/var/lib/rpm/Packages``, RHEL/CentOS <= 8).

There is no maintained pure-Python Berkeley DB reader (``bsddb3``/``berkeleydb`` wrap the C library,
which rpm images do not ship and which trusts its input), so the pages are walked by hand following
go-rpmdb's ``pkg/bdb``: page 0 is the hash metadata page (magic ``0x061561``, page size, last page
number); every hash page (types 2 and 13) holds key/value index pairs, and each package value is an
off-page item (``H_OFFPAGE``, type 3) naming the first of a chain of overflow pages (type 7) that carry
the header blob. The file is untrusted: page numbers are checked against the file size, chains against
loops and the blob length against :data:`~dockyard.scanner.rpm_header.MAX_BLOB`. In a sound file every
overflow page belongs to one chain, so the walk visits at most as many overflow pages as the file has;
chains that share pages (a crafted file making the walk quadratic) stop it there.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import BinaryIO

from dockyard.scanner.rpm_header import MAX_BLOB

HASH_MAGIC = 0x061561
VALID_PAGE_SIZES = frozenset(1 << shift for shift in range(9, 17))  # 512 .. 65536
PAGE_HEADER = 26
TYPE_HASH_UNSORTED = 2
TYPE_OFFPAGE = 3
TYPE_OVERFLOW = 7
TYPE_HASH_META = 8
TYPE_HASH = 13


def _read_at(file: BinaryIO, offset: int, size: int) -> bytes:
    file.seek(offset)
    return file.read(size)


class _Db:
    """An open hash database: byte order, page size and page count, read from the metadata page."""

    def __init__(self, file: BinaryIO, file_size: int) -> None:
        self.file = file
        self.order = ""
        self.page_size = 0
        self.pages = 0
        self.overflow_budget = 0  # overflow page visits left
        meta = _read_at(file, 0, 512)
        if len(meta) < 72:
            return
        for order in ("<", ">"):
            magic, _version, page_size = struct.unpack_from(order + "III", meta, 12)
            if magic == HASH_MAGIC:
                self.order, self.page_size = order, page_size
        if not self.order or self.page_size not in VALID_PAGE_SIZES:
            self.order = ""
            return
        encryption, page_type = meta[24], meta[25]
        (last_page,) = struct.unpack_from(self.order + "I", meta, 32)
        if encryption != 0 or page_type != TYPE_HASH_META:
            self.order = ""
            return
        self.pages = min(last_page + 1, file_size // self.page_size)
        self.overflow_budget = self.pages

    def page(self, number: int) -> bytes | None:
        if not 0 <= number < self.pages:
            return None
        data = _read_at(self.file, number * self.page_size, self.page_size)
        return data if len(data) == self.page_size else None

    def u16(self, data: bytes, offset: int) -> int:
        return int(struct.unpack_from(self.order + "H", data, offset)[0])

    def u32(self, data: bytes, offset: int) -> int:
        return int(struct.unpack_from(self.order + "I", data, offset)[0])


def _overflow_value(db: _Db, first_page: int, length: int) -> bytes | None:
    """The bytes of an off-page item, or ``None`` for a broken chain."""
    if length > MAX_BLOB:
        return None
    chunks: list[bytes] = []
    collected, number, seen = 0, first_page, set()
    while number != 0 and collected < length:
        page = db.page(number)
        if page is None or number in seen or page[25] != TYPE_OVERFLOW or db.overflow_budget <= 0:
            return None
        seen.add(number)
        db.overflow_budget -= 1
        used = db.u16(page, 22)  # OV_LEN: bytes of the item on this page
        chunk = page[PAGE_HEADER : PAGE_HEADER + min(used, db.page_size - PAGE_HEADER)]
        chunks.append(chunk)
        collected += len(chunk)
        number = db.u32(page, 16)
    value = b"".join(chunks)
    return value[:length] if len(value) >= length else None


def _page_values(db: _Db, page: bytes) -> Iterator[bytes]:
    entries = db.u16(page, 20)
    for index in range(1, min(entries, (db.page_size - PAGE_HEADER) // 2), 2):  # odd slots are values
        offset = db.u16(page, PAGE_HEADER + 2 * index)
        if offset + 12 > db.page_size or page[offset] != TYPE_OFFPAGE:
            continue
        value = _overflow_value(db, db.u32(page, offset + 4), db.u32(page, offset + 8))
        if value is not None:
            yield value


def read_bdb_blobs(file: BinaryIO, file_size: int) -> Iterator[bytes]:
    """Every package header blob in the database (nothing when it is not a Berkeley DB hash file)."""
    db = _Db(file, file_size)
    if not db.order:
        return
    for number in range(db.pages):
        page = db.page(number)
        if db.overflow_budget <= 0:
            return
        if page is not None and page[25] in (TYPE_HASH, TYPE_HASH_UNSORTED):
            yield from _page_values(db, page)
