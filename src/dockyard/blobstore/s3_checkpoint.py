"""The S3 driver's checkpoint object (:mod:`dockyard.blobstore.s3`): everything a resume needs, in one PUT.

A magic string, the length of a JSON header (the multipart upload's id and key, every part's number, ETag
and size, the save before it, the caller's opaque state in base64), the header, then the tail bytes that
did not fill a part.
"""

from __future__ import annotations

import base64
import json
import struct
from dataclasses import dataclass

_MAGIC = b"DYCK1"
_LENGTH = struct.Struct(">I")


@dataclass(slots=True)
class Checkpoint:
    upload_id: str | None
    parts: list[tuple[int, str, int]]
    previous: int | None
    state: bytes
    tail: bytes
    key: str | None = None  # the multipart upload's key when it is not the writer's own (staged)

    def encode(self) -> bytes:
        header = json.dumps(
            {
                "upload_id": self.upload_id,
                "key": self.key,
                "parts": self.parts,
                "previous": self.previous,
                "state": base64.b64encode(self.state).decode(),
            }
        ).encode()
        return _MAGIC + _LENGTH.pack(len(header)) + header + self.tail

    @classmethod
    def decode(cls, body: bytes) -> Checkpoint:
        if not body.startswith(_MAGIC):
            raise ValueError("not a dockyard upload checkpoint")
        start = len(_MAGIC) + _LENGTH.size
        (length,) = _LENGTH.unpack_from(body, len(_MAGIC))
        header = json.loads(body[start : start + length])
        parts = [(int(n), str(etag), int(size)) for n, etag, size in header["parts"]]
        state = base64.b64decode(header["state"])
        tail = body[start + length :]
        return cls(header["upload_id"], parts, header["previous"], state, tail, header.get("key"))
