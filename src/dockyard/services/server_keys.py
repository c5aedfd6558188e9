"""Server keys kept in the database, so that replicas on several machines agree without copied files.

Two rings: ``registry-token`` (the :class:`~dockyard.services.ecr_tokens.TokenKeyRing` registry passwords
are signed with) and ``ecr-signing`` (the :class:`~dockyard.services.ecr_tokens.SigningKey` of pagination
tokens, layer download URLs and ECR Public bearer tokens). Each is stored sealed with the server's secret
keys (``DOCKYARD_SECRET_KEYS``, :class:`~dockyard.crypto.SecretBox`): the one secret every replica is
configured with. The first replica to start creates them; the rest read them. A rotation rewrites the
row, its notification reaches every replica (:mod:`dockyard.metadata.listener`) and each reloads.

On the embedded default (SQLite in the data directory) the keys stay in their files, as before.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from dockyard.crypto import SecretBox
from dockyard.ports import KeyRingStore
from dockyard.services.ecr_tokens import (
    KEY_FILE,
    SigningKey,
    TokenKeyRing,
    new_key_line,
    rotated_key_lines,
)

log = logging.getLogger("dockyard.keys")

TOKEN_RING = "registry-token"  # noqa: S105  (a row name, not a secret)
SIGNING = "ecr-signing"


class ServerKeys:
    """Fills ``ring`` and ``signing`` from the database (creating the keys there on first use)."""

    def __init__(self, store: KeyRingStore, box: SecretBox, ring: TokenKeyRing, signing: SigningKey) -> None:
        self._store = store
        self._box = box
        self.ring = ring
        self.signing = signing

    async def load(self) -> None:
        """Read both rings (creating missing ones); raises ``ValueError`` when the secret keys cannot open
        them (a replica configured with other ``DOCKYARD_SECRET_KEYS`` than the one that made them)."""
        self.ring.use(await self._text(TOKEN_RING, new_key_line))
        self.signing.replace(bytes.fromhex((await self._text(SIGNING, _new_signing_key)).strip()))

    async def reload(self) -> None:
        try:
            await self.load()
        except Exception:
            log.exception("server keys could not be reloaded")

    async def _text(self, purpose: str, fresh: Callable[[], str]) -> str:
        sealed = await self._store.load(purpose)
        if sealed is None:
            sealed = await self._store.create(purpose, self._box.seal(fresh()))
        return self._box.open(sealed)

    async def rotate_tokens(self, now: datetime, lifetime: timedelta) -> tuple[str, list[str], int]:
        """A new registry-token key first (see :meth:`TokenKeyRing.rotate`): the new key id, the retired
        ids and how many keys still verify."""
        outcome: list[tuple[str, list[str]]] = []

        def change(current: bytes | None) -> bytes:
            text = self._box.open(current) if current is not None else new_key_line(now.timestamp())
            rotated, kid, retired = rotated_key_lines(text, now, lifetime)
            outcome[:] = [(kid, retired)]
            return self._box.seal(rotated)

        text = self._box.open(await self._store.replace(TOKEN_RING, change))
        self.ring.use(text)
        kid, retired = outcome[0]
        return kid, retired, text.count("\n")

    async def import_files(self, data_dir: Path) -> list[str]:
        """Put the key files of a single-node data directory in the database (replacing what is there),
        so passwords and URLs it issued stay valid after a move to replicas; the purposes imported."""
        imported = []
        ring_file = data_dir / TokenKeyRing.FILE
        if ring_file.is_file():
            text = TokenKeyRing(ring_file).text()
            await self._store.replace(TOKEN_RING, lambda _current: self._box.seal(text))
            imported.append(TOKEN_RING)
        signing_file = data_dir / KEY_FILE
        if signing_file.is_file():
            key = signing_file.read_text().strip()
            SigningKey(bytes.fromhex(key))  # refuse a malformed file before storing it
            await self._store.replace(SIGNING, lambda _current: self._box.seal(key + "\n"))
            imported.append(SIGNING)
        return imported


def _new_signing_key() -> str:
    return secrets.token_hex(32) + "\n"


def placeholder_ring() -> TokenKeyRing:
    """A ring with one throwaway key, replaced by :meth:`ServerKeys.load` before the server answers."""
    return TokenKeyRing(None, new_key_line())
