"""A SHA-256 whose running state can be saved as bytes and resumed in another process.

``hashlib`` objects cannot be pickled, so an upload whose chunks land on different replicas would have to
re-read everything already stored to rebuild its hash (impossible for the parts of an S3 multipart upload,
which cannot be read before completion). OpenSSL's one-shot ``SHA256_*`` functions keep their whole state
in a plain, documented ``SHA256_CTX`` struct (eight chaining words, a 64-bit length, a 64-byte block buffer
and its fill); this module drives the same ``libcrypto`` that ``hashlib`` uses through ``ctypes`` and
serialises that struct field by field in a fixed little-endian layout, so a state moves between processes
and machines alike. The ``ctypes`` calls release the GIL, so hashing in worker threads runs in parallel.

``bench/s3_hash_state.py`` measured this against ``hashlib`` and against re-reading a blob at commit;
``docs/storage.md`` has the numbers. Without a usable ``libcrypto`` (:func:`available` is false) the content
layer verifies by re-reading instead.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import hashlib
import struct

_MAGIC = b"dockyard-sha256-v1:"
_FIELDS = struct.Struct("<8IIII")  # h0..h7, Nl, Nh, num (md_len is always 32)
_BLOCK = 64


class _Sha256Ctx(ctypes.Structure):
    _fields_ = [
        ("h", ctypes.c_uint32 * 8),
        ("nl", ctypes.c_uint32),
        ("nh", ctypes.c_uint32),
        ("data", ctypes.c_uint8 * _BLOCK),
        ("num", ctypes.c_uint32),
        ("md_len", ctypes.c_uint32),
    ]


@functools.cache
def _load() -> ctypes.CDLL | None:
    """libcrypto with its SHA256 functions typed, found on first use (not at import)."""
    for name in (ctypes.util.find_library("crypto"), "libcrypto.so.3", "libcrypto.so.1.1", "libcrypto.dylib"):
        if not name:
            continue
        try:
            lib = ctypes.CDLL(name)
            init, update, final = lib.SHA256_Init, lib.SHA256_Update, lib.SHA256_Final
        except (OSError, AttributeError):
            continue
        init.argtypes, init.restype = [ctypes.c_void_p], ctypes.c_int
        update.argtypes, update.restype = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t], ctypes.c_int
        final.argtypes, final.restype = [ctypes.c_char_p, ctypes.c_void_p], ctypes.c_int
        return lib
    return None


class ResumableSha256:
    """``hashlib.sha256`` semantics (``update``, ``hexdigest``) plus :meth:`state` / :meth:`resume`."""

    algorithm = "sha256"

    def __init__(self) -> None:
        lib = _load()
        if lib is None:
            raise RuntimeError("libcrypto's SHA256 functions are not available")
        self._lib = lib
        self._ctx = _Sha256Ctx()
        lib.SHA256_Init(ctypes.byref(self._ctx))

    def update(self, data: bytes, /) -> None:
        self._lib.SHA256_Update(ctypes.byref(self._ctx), data, len(data))

    def hexdigest(self) -> str:
        copy = _Sha256Ctx.from_buffer_copy(self._ctx)  # Final destroys its context; keep ours going
        out = ctypes.create_string_buffer(32)
        self._lib.SHA256_Final(out, ctypes.byref(copy))
        return out.raw.hex()

    def state(self) -> bytes:
        """The running state, portable across processes and machines (about 100 bytes)."""
        ctx = self._ctx
        fields = _FIELDS.pack(*ctx.h, ctx.nl, ctx.nh, ctx.num)
        return _MAGIC + fields + bytes(ctx.data)

    @classmethod
    def resume(cls, state: bytes) -> ResumableSha256:
        """The hash :meth:`state` was taken from; :class:`ValueError` for anything else."""
        if not state.startswith(_MAGIC) or len(state) != len(_MAGIC) + _FIELDS.size + _BLOCK:
            raise ValueError("not a saved sha256 state")
        body = state[len(_MAGIC) :]
        *words, nl, nh, num = _FIELDS.unpack(body[: _FIELDS.size])
        if num >= _BLOCK:
            raise ValueError("not a saved sha256 state")
        hasher = cls()
        ctx = hasher._ctx
        ctx.h[:] = words
        ctx.nl, ctx.nh, ctx.num, ctx.md_len = nl, nh, num, 32
        ctx.data[:] = body[_FIELDS.size :]
        return hasher


@functools.cache
def available() -> bool:
    """True when resumable hashing works here (libcrypto found and it agrees with ``hashlib``); checked
    once, on first use."""
    if _load() is None:
        return False
    sample = bytes(range(256)) * 5 + b"tail"
    first = ResumableSha256()
    first.update(sample[:700])
    second = ResumableSha256.resume(first.state())
    second.update(sample[700:])
    return second.hexdigest() == hashlib.sha256(sample).hexdigest()
