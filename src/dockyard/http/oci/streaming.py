"""Blob download responses: zero-copy ``pathsend`` where the server offers it, else streamed reads.

Only single byte ranges are served (that is all registry clients ask for); a malformed ``Range`` is
ignored as RFC 9110 allows, an unsatisfiable one is refused by the caller with 416.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path

from starlette.types import Receive, Scope, Send

from dockyard.blobstore.content import BlobStore
from dockyard.domain.digest import Digest
from dockyard.domain.errors import ByteRangeInvalid

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The inclusive ``(first, last)`` byte of a single-range ``Range`` header, ``None`` for the whole."""
    if not header:
        return None
    match = _RANGE.match(header.strip())
    if match is None or match.group(1) == match.group(2) == "":
        return None
    first_text, last_text = match.groups()
    if first_text == "":
        suffix = int(last_text)
        if suffix == 0:
            raise ByteRangeInvalid(size=size)
        if size == 0:
            return None  # satisfiable (RFC 9110 14.1.1) but no byte range can name it: send the empty whole
        return max(size - suffix, 0), size - 1
    first = int(first_text)
    last = size - 1 if last_text == "" else min(int(last_text), size - 1)
    if first >= size or (last_text != "" and int(last_text) < first):
        raise ByteRangeInvalid(size=size)
    return first, last


class BlobResponse:
    """An ASGI response for ``length`` bytes of a blob starting at ``offset``."""

    def __init__(
        self,
        status: int,
        headers: Mapping[str, str],
        *,
        path: Path | None,
        reader: Callable[[int, int], AsyncIterator[bytes]],
        offset: int,
        length: int,
        head: bool,
    ) -> None:
        self.status = status
        self.raw_headers = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
        self.path = path
        self.reader = reader
        self.offset = offset
        self.length = length
        self.head = head

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status, "headers": self.raw_headers})
        if self.head or self.length == 0:
            await send({"type": "http.response.body", "body": b""})
            return
        whole = self.status == 200
        if whole and self.path is not None and "http.response.pathsend" in scope.get("extensions", {}):
            await send({"type": "http.response.pathsend", "path": str(self.path)})
            return
        async for chunk in self.reader(self.offset, self.length):
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})


def blob_download(
    blobs: BlobStore,
    digest: Digest,
    size: int,
    range_header: str | None,
    *,
    head: bool,
    headers: Mapping[str, str] | None = None,
) -> BlobResponse:
    """The whole blob (200) or the single range asked for (206), with the headers every blob GET carries;
    :class:`ByteRangeInvalid` for a range past the end."""
    merged = {
        **(headers or {}),
        "Content-Type": "application/octet-stream",
        "Accept-Ranges": "bytes",
        "ETag": f'"{digest}"',
    }
    wanted = parse_range(range_header, size)
    status, offset, length = 200, 0, size
    if wanted is not None:
        status, offset, length = 206, wanted[0], wanted[1] - wanted[0] + 1
        merged["Content-Range"] = f"bytes {wanted[0]}-{wanted[1]}/{size}"
    merged["Content-Length"] = str(length)

    def reader(start: int, count: int) -> AsyncIterator[bytes]:
        return blobs.read(digest, start, count)

    return BlobResponse(
        status, merged, path=blobs.local_path(digest), reader=reader, offset=offset, length=length, head=head
    )
