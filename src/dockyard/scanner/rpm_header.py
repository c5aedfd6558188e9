"""The few fields a scan needs from an RPM header blob, as stored in every rpmdb back end.

A header blob is ``il`` (entry count) and ``dl`` (data length) as big-endian 32-bit integers, ``il``
16-byte index entries (tag, type, offset, count) and a ``dl``-byte data store the offsets point into
(https://rpm-software-management.github.io/rpm/manual/format_header.html). There is no maintained
pure-Python reader for installed-package databases (the ``rpm`` bindings need the C library and a
database directory), so the blob is decoded here, reading only the tags below. Every offset is
checked against the store; a later entry for the same tag wins, which is how rpm treats the
"dribble" entries appended after the signed region.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

MAX_BLOB = 64 * 1024 * 1024  # a header larger than this is not decoded (rpm's own cap is 256 MiB)
MAX_ENTRIES = 1 << 16  # index entries; real headers have a few hundred

TAG_NAME = 1000
TAG_VERSION = 1001
TAG_RELEASE = 1002
TAG_EPOCH = 1003
TAG_LICENSE = 1014
TAG_ARCH = 1022
TAG_SOURCERPM = 1044
_STRING_TAGS = frozenset({TAG_NAME, TAG_VERSION, TAG_RELEASE, TAG_LICENSE, TAG_ARCH, TAG_SOURCERPM})

TYPE_INT32 = 4
TYPE_STRING = 6
TYPE_STRING_ARRAY = 8
TYPE_I18NSTRING = 9
_TEXT_TYPES = frozenset({TYPE_STRING, TYPE_STRING_ARRAY, TYPE_I18NSTRING})

_COUNTS = struct.Struct(">II")
_ENTRY = struct.Struct(">iIiI")
_INT32 = struct.Struct(">i")


@dataclass(frozen=True, slots=True)
class RpmHeader:
    """An installed package as its header describes it (``""`` for an absent string tag)."""

    name: str
    version: str
    release: str
    epoch: int | None
    arch: str
    source_rpm: str
    license: str


def _string_at(store: bytes, offset: int) -> str | None:
    end = store.find(b"\0", offset)
    return store[offset:end].decode("utf-8", errors="replace") if end >= 0 else None


def _tag_values(blob: bytes) -> dict[int, str | int] | None:
    if len(blob) < _COUNTS.size or len(blob) > MAX_BLOB:
        return None
    count, data_length = _COUNTS.unpack_from(blob)
    data_start = _COUNTS.size + count * _ENTRY.size
    if not 0 < count <= MAX_ENTRIES or data_start + data_length > len(blob):
        return None
    store = blob[data_start : data_start + data_length]
    values: dict[int, str | int] = {}
    for index in range(count):
        tag, type_, offset, _count = _ENTRY.unpack_from(blob, _COUNTS.size + index * _ENTRY.size)
        if not 0 <= offset < data_length:
            continue
        if tag in _STRING_TAGS and type_ in _TEXT_TYPES:
            text = _string_at(store, offset)
            if text is not None:
                values[tag] = text
        elif tag == TAG_EPOCH and type_ == TYPE_INT32 and offset + _INT32.size <= data_length:
            values[tag] = _INT32.unpack_from(store, offset)[0]
    return values


def _text(values: dict[int, str | int], tag: int) -> str:
    value = values.get(tag, "")
    return value if isinstance(value, str) and value != "(none)" else ""


def parse_header(blob: bytes) -> RpmHeader | None:
    """The header's package fields, or ``None`` when the blob is not a well-formed header."""
    values = _tag_values(blob)
    if values is None:
        return None
    epoch = values.get(TAG_EPOCH)
    return RpmHeader(
        name=_text(values, TAG_NAME),
        version=_text(values, TAG_VERSION),
        release=_text(values, TAG_RELEASE),
        epoch=epoch if isinstance(epoch, int) else None,
        arch=_text(values, TAG_ARCH),
        source_rpm=_text(values, TAG_SOURCERPM),
        license=_text(values, TAG_LICENSE),
    )
