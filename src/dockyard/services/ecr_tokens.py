"""Signed, opaque strings the ECR API hands out: pagination tokens, registry passwords, download URLs.

All are HMAC-SHA256, each with its own purpose label so that no token of one kind is ever accepted as
another. Pagination tokens and download URLs use ``<data_dir>/ecr-signing-key``; registry passwords the
rotatable key ring ``<data_dir>/registry-token-keys`` (both created with mode 0600 on first use). Every
process and replica sharing the data directory verifies what any of them issued.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import json
import os
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

KEY_FILE = "ecr-signing-key"
PASSWORD_PREFIX = "dky2"  # noqa: S105  (a format marker, not a secret)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SigningKey:
    def __init__(self, key: bytes) -> None:
        if len(key) < 32:
            raise ValueError("the signing key needs at least 32 bytes")
        self._key = key

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(secrets.token_bytes(32))

    @classmethod
    def from_data_dir(cls, data_dir: Path) -> SigningKey:
        """The key in ``data_dir``, created there (atomically, mode 0600) when there is none yet."""
        path = data_dir / KEY_FILE
        if not path.exists():
            data_dir.mkdir(parents=True, exist_ok=True)
            temporary = path.with_name(f"{KEY_FILE}.{os.getpid()}.tmp")
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_hex(32) + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            try:
                os.link(temporary, path)  # the first process to get here wins; the others read its key
            except FileExistsError:
                pass
            finally:
                os.unlink(temporary)
        return cls(bytes.fromhex(path.read_text().strip()))

    def hex(self) -> str:
        return self._key.hex()

    def replace(self, key: bytes) -> None:
        """Use ``key`` from now on (a key loaded from the database once the server starts)."""
        if len(key) < 32:
            raise ValueError("the signing key needs at least 32 bytes")
        self._key = key

    def mac(self, purpose: str, payload: bytes) -> str:
        return _b64(hmac.new(self._key, purpose.encode() + b"\x00" + payload, hashlib.sha256).digest())

    def seal(self, purpose: str, claims: dict[str, Any]) -> str:
        """``claims`` as ``<base64url JSON>.<mac>``."""
        body = _b64(json.dumps(claims, separators=(",", ":"), sort_keys=True).encode())
        return f"{body}.{self.mac(purpose, body.encode())}"

    def open(self, purpose: str, token: str) -> dict[str, Any] | None:
        """The claims of a token sealed for ``purpose``, or ``None`` when it was not (or was altered)."""
        body, dot, mac = token.rpartition(".")
        if not dot or not hmac.compare_digest(mac.encode(), self.mac(purpose, body.encode()).encode()):
            return None
        try:
            claims = json.loads(_unb64(body))
        except (binascii.Error, ValueError, UnicodeDecodeError):
            return None
        return claims if isinstance(claims, dict) else None


# ------------------------------------------------------------------------------------- registry passwords


@dataclass(frozen=True, slots=True)
class TokenClaims:
    account: str  # the registry the token was asked for (any registry accepts it; policies decide)
    principal: str  # the ARN of the principal that asked
    expires_at: datetime
    access_key_id: str | None = None  # the credential behind it, checked again on every use


class TokenIssuer(Protocol):
    """Issues the password inside GetAuthorizationToken's ``AWS:<password>``; ``/v2/`` verifies it."""

    def issue(
        self, account: str, principal: str, expires_at: datetime, access_key_id: str | None = None
    ) -> str: ...

    def verify(self, password: str, now: datetime) -> TokenClaims | None: ...


class TokenKeyRing:
    """The keys registry passwords are signed with, newest first, shared by every process through
    ``<data_dir>/registry-token-keys`` (mode 0600): one ``<key id> <created, epoch seconds> <hex key>`` line
    per key. New passwords are signed with the newest key; any key still in the file verifies. Rotation
    (:meth:`rotate`) puts a new key first and keeps each older key until every password it signed has
    expired, so nobody is logged out. Processes re-read the file when it changes (looked at at most once a
    second, and at once when a password names a key they do not know).

    Without a ``path`` the ring holds what :meth:`use` gives it: replicas keep it in the database
    (``services.server_keys``) and reload it when it changes."""

    FILE = "registry-token-keys"

    def __init__(self, path: Path | None, keys: str | None = None) -> None:
        self.path = path
        self._keys: list[tuple[str, int, SigningKey]] = []
        self._stamp: tuple[int, int] | None = None
        self._checked = 0.0
        if keys is not None:
            self.use(keys)
        else:
            self._load(force=True)

    def use(self, text: str) -> None:
        """Hold the keys of ``text`` (the key file's format), newest first."""
        self._keys = parse_key_lines(text)

    @classmethod
    def from_data_dir(cls, data_dir: Path) -> TokenKeyRing:
        path = data_dir / cls.FILE
        if not path.exists():
            data_dir.mkdir(parents=True, exist_ok=True)
            _write_new(path, new_key_line(), exclusive=True)
        return cls(path)

    def _load(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if self.path is None or (not force and now - self._checked < 1.0):
            return
        self._checked = now
        stat = os.stat(self.path)
        stamp = (stat.st_mtime_ns, stat.st_ino)
        if stamp == self._stamp:
            return
        self._keys, self._stamp = parse_key_lines(self.path.read_text()), stamp

    def current(self) -> tuple[str, SigningKey]:
        self._load()
        kid, _, key = self._keys[0]
        return kid, key

    def key(self, kid: str) -> SigningKey | None:
        self._load()
        for attempt in range(2):
            for found, _, key in self._keys:
                if found == kid:
                    return key
            if attempt == 0:
                self._load(force=True)
        return None

    @property
    def key_ids(self) -> list[str]:
        self._load(force=True)
        return [kid for kid, _, _ in self._keys]

    def text(self) -> str:
        """The keys in the key file's format."""
        return "".join(f"{kid} {created} {key.hex()}\n" for kid, created, key in self._keys)

    def rotate(self, now: datetime, lifetime: timedelta) -> tuple[str, list[str]]:
        """A new key first; older keys kept while a password they signed may still be valid (an older key
        stopped signing when the next one was created). Returns the new key id and the retired ones."""
        if self.path is None:
            raise ValueError("this key ring is kept in the database: rotate it there (ServerKeys)")
        self._load(force=True)
        text, kid, retired = rotated_key_lines(self.text(), now, lifetime)
        _write_new(self.path, text, exclusive=False)
        self._load(force=True)
        return kid, retired


def new_key_line(now: float | None = None) -> str:
    """A fresh key in the key file's format: ``<key id> <created, epoch seconds> <hex key>``."""
    created = int(time.time() if now is None else now)
    return f"{secrets.token_hex(4)} {created} {secrets.token_hex(32)}\n"


def parse_key_lines(text: str) -> list[tuple[str, int, SigningKey]]:
    keys = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 3:
            keys.append((parts[0], int(parts[1]), SigningKey(bytes.fromhex(parts[2]))))
    if not keys:
        raise ValueError("no registry token keys")
    return keys


def rotated_key_lines(text: str, now: datetime, lifetime: timedelta) -> tuple[str, str, list[str]]:
    """``text`` with a new key first and the keys no unexpired password needs dropped: the new text, the
    new key id and the retired ids."""
    created = int(now.timestamp())
    fresh = new_key_line(created)
    lines, retired = [fresh.strip()], []
    superseded_at = created
    for old_kid, old_created, key in parse_key_lines(text):
        if superseded_at + lifetime.total_seconds() > created:
            lines.append(f"{old_kid} {old_created} {key.hex()}")
        else:
            retired.append(old_kid)
        superseded_at = old_created
    return "\n".join(lines) + "\n", fresh.split()[0], retired


def _write_new(path: Path, text: str, *, exclusive: bool) -> None:
    """Write ``text`` to ``path`` atomically (mode 0600); with ``exclusive`` the first writer wins."""
    temporary = path.with_name(f"{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    try:
        if exclusive:
            with contextlib.suppress(FileExistsError):
                os.link(temporary, path)
        else:
            os.replace(temporary, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)


class HmacTokenIssuer:
    """``dky2.<key id>.<claims>.<mac>``: registry account, principal ARN, access key id and expiry,
    HMAC-signed with a key of the :class:`TokenKeyRing` (or one fixed :class:`SigningKey`). Verified without
    a database read; the caller of ``verify`` checks the credential is still alive."""

    PURPOSE = "ecr-registry-password"

    def __init__(self, keys: SigningKey | TokenKeyRing) -> None:
        self._keys = keys

    def _current(self) -> tuple[str, SigningKey]:
        if isinstance(self._keys, SigningKey):
            return "0", self._keys
        return self._keys.current()

    def _key(self, kid: str) -> SigningKey | None:
        if isinstance(self._keys, SigningKey):
            return self._keys if kid == "0" else None
        return self._keys.key(kid)

    def issue(
        self, account: str, principal: str, expires_at: datetime, access_key_id: str | None = None
    ) -> str:
        claims: dict[str, Any] = {"a": account, "p": principal, "e": int(expires_at.timestamp())}
        if access_key_id is not None:
            claims["k"] = access_key_id
        kid, key = self._current()
        return f"{PASSWORD_PREFIX}.{kid}.{key.seal(self.PURPOSE, claims)}"

    def verify(self, password: str, now: datetime) -> TokenClaims | None:
        prefix, _, rest = password.partition(".")
        kid, dot, sealed = rest.partition(".")
        if prefix != PASSWORD_PREFIX or not dot or len(kid) > 16:
            return None
        key = self._key(kid)
        claims = None if key is None else key.open(self.PURPOSE, sealed)
        if claims is None:
            return None
        try:
            expires = datetime.fromtimestamp(int(claims["e"]), UTC)
            access_key = claims.get("k")
            found = TokenClaims(
                str(claims["a"]), str(claims["p"]), expires, None if access_key is None else str(access_key)
            )
        except (KeyError, TypeError, ValueError, OverflowError):
            return None
        return found if expires > now else None


# ------------------------------------------------------------------------------------------ download URLs


class UrlSigner:
    """Signs the query of a layer download URL: account, repository, digest and expiry."""

    PURPOSE = "ecr-layer-download"

    def __init__(self, key: SigningKey) -> None:
        self._key = key

    def _payload(self, account: str, repository: str, digest: str, expires: int) -> bytes:
        return f"{account}\n{repository}\n{digest}\n{expires}".encode()

    def sign(self, account: str, repository: str, digest: str, expires_at: datetime) -> dict[str, str]:
        expires = int(expires_at.timestamp())
        signature = self._key.mac(self.PURPOSE, self._payload(account, repository, digest, expires))
        return {
            "account": account,
            "repository": repository,
            "digest": digest,
            "expires": str(expires),
            "signature": signature,
        }

    def verify(
        self, account: str, repository: str, digest: str, expires: str, signature: str, now: datetime
    ) -> bool:
        if not expires.isdigit() or len(expires) > 12:
            return False
        wanted = self._key.mac(self.PURPOSE, self._payload(account, repository, digest, int(expires)))
        return hmac.compare_digest(wanted.encode(), signature.encode()) and int(expires) > now.timestamp()


# --------------------------------------------------------------------------------------- pagination tokens


class PageTokens:
    """``nextToken`` values: where the next page starts, bound to the operation and repository."""

    PURPOSE = "ecr-page"

    def __init__(self, key: SigningKey) -> None:
        self._key = key

    def issue(self, operation: str, scope: str, position: Any) -> str:
        return self._key.seal(self.PURPOSE, {"o": operation, "s": scope, "p": position})

    def read(self, token: str, operation: str, scope: str) -> Any:
        """The position ``token`` carries; ``ValueError`` unless it was issued for this listing."""
        claims = self._key.open(self.PURPOSE, token)
        if claims is None or claims.get("o") != operation or claims.get("s") != scope or "p" not in claims:
            raise ValueError("invalid nextToken")
        return claims["p"]
