"""Encryption at rest for the secrets the server must read back (SigV4 needs the secret key itself).

Keys are Fernet keys (AES-128-CBC + HMAC-SHA256, from ``cryptography``), newest first: the newest seals,
any listed key opens. They come from ``DOCKYARD_SECRET_KEYS`` (comma-separated) or, on the embedded
default, from ``<data_dir>/secret-keys`` (created with mode 0600 on first start).

Rotation (``dockyard admin rotate-keys``, :func:`rotate`): a new key is put first in the file, every stored
secret is re-encrypted under it, then the old keys are dropped from the file. A running server re-reads the
file when it changed before it seals, and when a secret does not open with the keys it holds, so servers
keep working through a rotation without a restart. With keys from the environment the operator puts the new
key first in ``DOCKYARD_SECRET_KEYS`` on every process, runs ``rotate-keys`` to re-encrypt, then removes
the old key.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

KEYS_ENV = "DOCKYARD_SECRET_KEYS"
KEY_FILE = "secret-keys"


class SecretBox:
    """Seal and open secrets with Fernet keys; with ``path``, the keys are re-read when that file changes."""

    def __init__(self, keys: Sequence[str], path: Path | None = None) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._stamp = _stamp(path) if path is not None else None
        self._use(keys)

    @classmethod
    def from_data_dir(cls, data_dir: Path) -> SecretBox:
        """The keys of :func:`load_keys`, following the key file when they come from it."""
        keys = load_keys(data_dir)
        from_file = not os.environ.get(KEYS_ENV, "").strip()
        return cls(keys, key_file(data_dir) if from_file else None)

    def _use(self, keys: Sequence[str]) -> None:
        if not keys:
            raise ValueError("at least one secret key is required")
        self.keys = tuple(keys)
        self._fernet = MultiFernet([Fernet(key.encode()) for key in keys])
        self._newest = Fernet(keys[0].encode())

    def refresh(self) -> bool:
        """Re-read the key file if it changed since it was read; whether the keys changed."""
        if self.path is None:
            return False
        with self._lock:
            stamp = _stamp(self.path)
            if stamp == self._stamp:
                return False
            keys = read_keys(self.path)
            if not keys:
                return False
            self._stamp = stamp
            self._use(keys)
            return True

    def seal(self, plaintext: str) -> bytes:
        self.refresh()
        return self._fernet.encrypt(plaintext.encode())

    def open(self, sealed: bytes) -> str:
        try:
            return self._fernet.decrypt(sealed).decode()
        except InvalidToken:
            if self.refresh():
                return self.open(sealed)
            raise ValueError("secret cannot be decrypted with the configured keys") from None

    def reseal(self, sealed: bytes) -> bytes:
        """Re-encrypt under the newest key."""
        return self._fernet.rotate(sealed)

    def sealed_by_newest(self, sealed: bytes) -> bool:
        try:
            self._newest.decrypt(sealed)
        except InvalidToken:
            return False
        return True


def _stamp(path: Path) -> tuple[int, int, int] | None:
    try:
        info = path.stat()
    except FileNotFoundError:
        return None
    return (info.st_ino, info.st_mtime_ns, info.st_size)


def key_file(data_dir: Path) -> Path:
    return data_dir / KEY_FILE


def load_keys(data_dir: Path) -> list[str]:
    """Keys from the environment, else from the data directory (creating a first key there)."""
    from_env = os.environ.get(KEYS_ENV, "").strip()
    if from_env:
        return [key.strip() for key in from_env.split(",") if key.strip()]
    path = key_file(data_dir)
    if not path.exists():
        _create_first_key(path)
    return read_keys(path)


def _create_first_key(path: Path) -> None:
    """Write a first key unless another process won the race to: the file appears complete (a hard link
    to a written temporary file), so every process of a fresh data directory reads the same one key."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(new_key() + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(FileExistsError):
            os.link(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def read_keys(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


def write_keys(path: Path, keys: Sequence[str]) -> None:
    """Replace the key file atomically (mode 0600)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write("\n".join(keys) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def new_key() -> str:
    return Fernet.generate_key().decode()


Resealer = Callable[[Callable[[bytes], bytes]], Awaitable[int]]


async def rotate(data_dir: Path, reseal_all: Resealer, settle: float = 1.0) -> tuple[int, bool]:
    """Re-encrypt every stored secret under a new key; ``(secrets re-encrypted, old keys retired)``.

    ``reseal_all(transform)`` rewrites every sealed value in the store through ``transform`` in one
    transaction. With keys from the key file: a new key goes first, processes get ``settle`` seconds to
    notice it before sealing anything new, every secret is re-encrypted, and the old keys are dropped
    once nothing needs them. With keys from the environment, secrets are re-encrypted under the first
    listed key and retiring the others is left to the operator.
    """
    import asyncio

    if os.environ.get(KEYS_ENV, "").strip():
        box = SecretBox(load_keys(data_dir))
        return await reseal_all(box.reseal), False
    path = key_file(data_dir)
    old = load_keys(data_dir)
    fresh = new_key()
    write_keys(path, [fresh, *old])
    await asyncio.sleep(settle)
    box = SecretBox([fresh, *old])
    count = await reseal_all(box.reseal)
    checked = await reseal_all(lambda sealed: sealed if box.sealed_by_newest(sealed) else box.reseal(sealed))
    write_keys(path, [fresh])
    return max(count, checked), True
