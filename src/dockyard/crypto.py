"""Encryption at rest for the secrets the server must read back (SigV4 needs the secret key itself).

Keys are Fernet keys (AES-128-CBC + HMAC-SHA256, from ``cryptography``), newest first. They come from
``DOCKYARD_SECRET_KEYS`` (comma-separated) or, on the embedded default, from ``<data_dir>/secret-keys``
(created with mode 0600 on first start). ``dockyard admin rotate-keys`` adds a key, re-encrypts every
stored secret under it and retires the old ones; a secret encrypted under any listed key stays readable
meanwhile, so several replicas may roll the new key out one by one.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

KEYS_ENV = "DOCKYARD_SECRET_KEYS"


class SecretBox:
    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            raise ValueError("at least one secret key is required")
        self.keys = tuple(keys)
        self._fernet = MultiFernet([Fernet(key.encode()) for key in keys])

    def seal(self, plaintext: str) -> bytes:
        return self._fernet.encrypt(plaintext.encode())

    def open(self, sealed: bytes) -> str:
        try:
            return self._fernet.decrypt(sealed).decode()
        except InvalidToken:
            raise ValueError("secret cannot be decrypted with the configured keys") from None

    def reseal(self, sealed: bytes) -> bytes:
        """Re-encrypt under the newest key."""
        return self._fernet.rotate(sealed)


def key_file(data_dir: Path) -> Path:
    return data_dir / "secret-keys"


def load_keys(data_dir: Path) -> list[str]:
    """Keys from the environment, else from the data directory (creating a first key there)."""
    from_env = os.environ.get(KEYS_ENV, "").strip()
    if from_env:
        return [key.strip() for key in from_env.split(",") if key.strip()]
    path = key_file(data_dir)
    if not path.exists():
        write_keys(path, [Fernet.generate_key().decode()])
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


def write_keys(path: Path, keys: Sequence[str]) -> None:
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
