"""Registry passwords cached on disk per registry host, endpoint, region and credential identity."""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import json
import os
import secrets
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from dockyard.credential_helper.protocol import CACHE_VERSION, ENV_CACHE_DIR, log


@dataclass(frozen=True, slots=True)
class Authorization:
    """One ``authorizationData`` member: ``token`` is ``base64("<user>:<password>")``."""

    token: str
    expires_at: datetime
    proxy_endpoint: str

    def login(self) -> tuple[str, str]:
        """``(username, password)``; ``ValueError`` for a token that is not base64 ``user:password``."""
        try:
            text = base64.b64decode(self.token, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise ValueError("the authorization token is not base64 text") from None
        username, colon, password = text.partition(":")
        if not colon or not username or not password:
            raise ValueError("the authorization token is not user:password")
        return username, password


@dataclass(frozen=True, slots=True)
class CachedToken:
    registry: str  # the host as Docker named it
    authorization: Authorization
    requested_at: datetime

    def refresh_at(self, margin: timedelta) -> datetime:
        """When to stop reusing it: ``margin`` before expiry, or halfway for a short-lived token."""
        lifetime = self.authorization.expires_at - self.requested_at
        return self.authorization.expires_at - min(margin, max(lifetime, timedelta(0)) / 2)

    def fresh(self, now: datetime, margin: timedelta) -> bool:
        return now < self.refresh_at(margin)

    def unexpired(self, now: datetime) -> bool:
        return now < self.authorization.expires_at

    def to_json(self) -> dict[str, Any]:
        return {
            "version": CACHE_VERSION,
            "registry": self.registry,
            "proxyEndpoint": self.authorization.proxy_endpoint,
            "authorizationToken": self.authorization.token,
            "requestedAt": self.requested_at.isoformat(),
            "expiresAt": self.authorization.expires_at.isoformat(),
        }

    @classmethod
    def from_json(cls, data: object) -> CachedToken | None:
        if not isinstance(data, dict) or data.get("version") != CACHE_VERSION:
            return None
        try:
            requested = datetime.fromisoformat(data["requestedAt"])
            expires = datetime.fromisoformat(data["expiresAt"])
            fields = (data["registry"], data["proxyEndpoint"], data["authorizationToken"])
        except (KeyError, TypeError, ValueError):
            return None
        if not all(isinstance(field, str) for field in fields) or None in (requested.tzinfo, expires.tzinfo):
            return None
        registry, proxy, token = fields
        return cls(registry, Authorization(token, expires, proxy), requested)


def cache_key(registry: str, endpoint: str, region: str, identity: str) -> str:
    """The cache file's name: one token per registry host, endpoint, region and credential identity."""
    material = json.dumps([registry, endpoint, region, identity], separators=(",", ":"))
    return hashlib.sha256(material.encode()).hexdigest()


def default_cache_dir(environ: Mapping[str, str]) -> Path:
    configured = environ.get(ENV_CACHE_DIR)
    if configured:
        return Path(configured).expanduser()
    xdg = environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "dockyard" / "credential-helper"


class TokenCache:
    """One JSON file per key, written to a temporary file (0600) and renamed into place, so concurrent
    helpers (Docker pulls layers in parallel) never read half a file. ``directory`` ``None``: no cache."""

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory

    def _path(self, key: str) -> Path | None:
        return None if self.directory is None else self.directory / f"{key}.json"

    def load(self, key: str) -> CachedToken | None:
        path = self._path(key)
        if path is None:
            return None
        try:
            return CachedToken.from_json(json.loads(path.read_text()))
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            log.debug("ignoring unreadable cache entry %s: %s", path.name, type(exc).__name__)
            return None

    def save(self, key: str, entry: CachedToken) -> None:
        path = self._path(key)
        if path is None or self.directory is None:
            return
        temporary = self.directory / f".{key}.{secrets.token_hex(4)}.tmp"
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            if self.directory.stat().st_mode & 0o077:
                self.directory.chmod(0o700)
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                json.dump(entry.to_json(), handle)
            os.replace(temporary, path)
            log.debug("cached the token for %s in %s", entry.registry, path)
        except OSError as exc:
            log.warning("could not cache the token: %s", exc)
            with contextlib.suppress(OSError):
                temporary.unlink()

    def entries(self) -> Iterator[tuple[Path, CachedToken]]:
        if self.directory is None or not self.directory.is_dir():
            return
        for path in sorted(self.directory.glob("*.json")):
            try:
                entry = CachedToken.from_json(json.loads(path.read_text()))
            except (OSError, UnicodeDecodeError, json.JSONDecodeError):
                continue
            if entry is not None:
                yield path, entry

    def drop(self, registry: str) -> int:
        dropped = 0
        for path, entry in self.entries():
            if entry.registry == registry:
                with contextlib.suppress(OSError):
                    path.unlink()
                    dropped += 1
        return dropped


# ----------------------------------------------------------------------------------------------- backend
