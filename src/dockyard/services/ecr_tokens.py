"""Signed, opaque strings the ECR API hands out: pagination tokens, registry passwords, download URLs.

All are HMAC-SHA256 under one key, each with its own purpose label so that no token of one kind is ever
accepted as another. The key is ``<data_dir>/ecr-signing-key`` (created with mode 0600 on first use);
every process and replica sharing the data directory verifies what any of them issued.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

KEY_FILE = "ecr-signing-key"
PASSWORD_PREFIX = "dky1"  # noqa: S105  (a format marker, not a secret)


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
    account: str
    principal: str
    expires_at: datetime


class TokenIssuer(Protocol):
    """Issues the password inside GetAuthorizationToken's ``AWS:<password>``; ``/v2/`` will verify it."""

    def issue(self, account: str, principal: str, expires_at: datetime) -> str: ...

    def verify(self, password: str, now: datetime) -> TokenClaims | None: ...


class HmacTokenIssuer:
    """``dky1.<claims>.<mac>``: account, principal and expiry, signed with the data directory's key."""

    PURPOSE = "ecr-registry-password"

    def __init__(self, key: SigningKey) -> None:
        self._key = key

    def issue(self, account: str, principal: str, expires_at: datetime) -> str:
        claims = {"a": account, "p": principal, "e": int(expires_at.timestamp())}
        return f"{PASSWORD_PREFIX}.{self._key.seal(self.PURPOSE, claims)}"

    def verify(self, password: str, now: datetime) -> TokenClaims | None:
        prefix, dot, rest = password.partition(".")
        claims = self._key.open(self.PURPOSE, rest) if dot and prefix == PASSWORD_PREFIX else None
        if claims is None:
            return None
        try:
            expires = datetime.fromtimestamp(int(claims["e"]), UTC)
            found = TokenClaims(str(claims["a"]), str(claims["p"]), expires)
        except (KeyError, TypeError, ValueError, OverflowError):
            return None
        return found if expires > now else None


# ------------------------------------------------------------------------------------------ download URLs


class UrlSigner:
    """Signs the query of a layer download URL: repository, digest and expiry."""

    PURPOSE = "ecr-layer-download"

    def __init__(self, key: SigningKey) -> None:
        self._key = key

    def _payload(self, repository: str, digest: str, expires: int) -> bytes:
        return f"{repository}\n{digest}\n{expires}".encode()

    def sign(self, repository: str, digest: str, expires_at: datetime) -> dict[str, str]:
        expires = int(expires_at.timestamp())
        signature = self._key.mac(self.PURPOSE, self._payload(repository, digest, expires))
        return {"repository": repository, "digest": digest, "expires": str(expires), "signature": signature}

    def verify(self, repository: str, digest: str, expires: str, signature: str, now: datetime) -> bool:
        if not expires.isdigit() or len(expires) > 12:
            return False
        wanted = self._key.mac(self.PURPOSE, self._payload(repository, digest, int(expires)))
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
