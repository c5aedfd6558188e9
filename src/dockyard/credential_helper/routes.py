"""Which Dockyard endpoint (and region, profile, account) serves a registry host: the mapping file, then
``DOCKYARD_ENDPOINT``, then the AWS SDKs' ECR endpoint."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from dockyard.credential_helper.protocol import ENV_CONFIG, ENV_ENDPOINT, log

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_LABEL = r"[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?"
_HOST = re.compile(rf"^(?P<name>{_LABEL}(\.{_LABEL})*\.?|\[[0-9a-f:.]+\])(:(?P<port>\d{{1,5}}))?$")
_REGISTRY = re.compile(r"^(?P<account>\d{12})\.dkr\.(?P<domain>.+)$")
_ACCOUNT = re.compile(r"^\d{12}$")


@dataclass(frozen=True, slots=True)
class RegistryHost:
    """A registry host as Docker names it: ``host`` keeps the port, ``name`` does not."""

    host: str
    name: str
    port: int | None
    account: str | None = None
    domain: str | None = None

    @property
    def wildcards(self) -> tuple[str, ...]:
        """The mapping-file keys that stand for this host among all accounts' hosts of its domain."""
        if self.account is None:
            return ()
        pattern = f"*.dkr.{self.domain}"
        return (f"{pattern}:{self.port}", pattern) if self.port is not None else (pattern,)


def parse_server_url(server_url: str) -> RegistryHost | None:
    """The registry host in what Docker passes (``host[:port]``, or a URL with a scheme and path), with its
    account and domain when it is ``<12-digit account id>.dkr.<domain>``; ``None`` when it is no host."""
    text = _SCHEME.sub("", server_url.strip())
    host = re.split(r"[/?#]", text, maxsplit=1)[0].lower()
    match = _HOST.match(host)
    if match is None:
        return None
    name = match["name"].rstrip(".")
    port = int(match["port"]) if match["port"] else None
    if port is not None and not 0 < port < 65536:
        return None
    host = f"{name}:{port}" if port is not None else name
    registry = _REGISTRY.match(name)
    if registry is None:
        return RegistryHost(host, name, port)
    return RegistryHost(host, name, port, registry["account"], registry["domain"])


def redact_url(url: str) -> str:
    """``url`` without user information, query or fragment: fit for a log line."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc.rpartition("@")[2]
        return urlunsplit((parts.scheme, netloc, parts.path, "", ""))
    except ValueError:
        return "<unparseable URL>"


# ------------------------------------------------------------------------------------------------ routes


@dataclass(frozen=True, slots=True)
class Route:
    """Where and as whom to ask for a registry's token.

    ``endpoint`` ``None`` means the ECR endpoint the AWS SDK configuration names. ``vouched``: the user
    listed the host in the mapping file, so the server's ``proxyEndpoint`` need not name it."""

    endpoint: str | None
    region: str | None = None
    profile: str | None = None
    account: str | None = None
    vouched: bool = False
    source: str = ""


@dataclass(frozen=True, slots=True)
class MappingEntry:
    endpoint: str
    region: str | None = None
    profile: str | None = None
    account: str | None = None


def default_config_path(environ: Mapping[str, str]) -> Path:
    configured = environ.get(ENV_CONFIG)
    return (
        Path(configured).expanduser() if configured else Path.home() / ".dockyard" / "credential-helper.json"
    )


def _valid_endpoint(value: object) -> bool:
    if not isinstance(value, str):
        return False
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def load_mapping(path: Path) -> dict[str, MappingEntry]:
    """The mapping file's entries by lower-cased host; ``ValueError`` naming what is wrong with it."""
    try:
        document = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: {exc}") from None
    registries = document.get("registries", {}) if isinstance(document, dict) else None
    if not isinstance(registries, dict):
        raise ValueError(f'{path}: expected {{"registries": {{"<host>": {{"endpoint": …}}}}}}')
    entries: dict[str, MappingEntry] = {}
    for key, value in registries.items():
        if not isinstance(value, dict) or not _valid_endpoint(value.get("endpoint")):
            raise ValueError(f"{path}: {key}: needs an http(s) endpoint")
        options = {name: value.get(name) for name in ("region", "profile", "account")}
        if any(option is not None and not isinstance(option, str) for option in options.values()):
            raise ValueError(f"{path}: {key}: region, profile and account are strings")
        account = options["account"]
        if account is not None and not _ACCOUNT.match(account):
            raise ValueError(f"{path}: {key}: account is a 12-digit account id")
        entries[str(key).strip().lower().rstrip(".")] = MappingEntry(
            str(value["endpoint"]).rstrip("/"), options["region"], options["profile"], account
        )
    return entries


class Routes:
    """The mapping file, then ``DOCKYARD_ENDPOINT``, then the AWS SDK's configured endpoint."""

    def __init__(self, mapping: Mapping[str, MappingEntry], default_endpoint: str | None) -> None:
        self.mapping = dict(mapping)
        self.default_endpoint = default_endpoint.rstrip("/") if default_endpoint else None

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> Routes:
        path = default_config_path(environ)
        try:
            mapping = load_mapping(path)
        except ValueError as exc:
            log.warning("ignoring the mapping file: %s", exc)
            mapping = {}
        endpoint = environ.get(ENV_ENDPOINT) or None
        if endpoint is not None and not _valid_endpoint(endpoint):
            log.warning("ignoring %s: not an http(s) URL", ENV_ENDPOINT)
            endpoint = None
        return cls(mapping, endpoint)

    def for_registry(self, registry: RegistryHost) -> Route | None:
        for key in (registry.host, registry.name, *registry.wildcards):
            entry = self.mapping.get(key)
            if entry is not None:
                account = entry.account or registry.account
                return Route(entry.endpoint, entry.region, entry.profile, account, True, f"mapping {key!r}")
        if registry.account is None:
            return None
        if self.default_endpoint is not None:
            return Route(self.default_endpoint, account=registry.account, source=ENV_ENDPOINT)
        return Route(None, account=registry.account, source="the AWS SDK configuration")


# ------------------------------------------------------------------------------------------------- tokens
