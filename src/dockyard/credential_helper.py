"""``docker-credential-dockyard``: a Docker credential helper that logs in to Dockyard with AWS credentials.

It speaks the credential-helper protocol of ``docker/docker-credential-helpers`` (one action word as the
only argument: ``get``, ``store``, ``erase``, ``list``, ``version``), and behaves like Amazon's
``docker-credential-ecr-login``: for a registry host ``<account id>.dkr.<domain>[:port]`` it calls ECR's
``GetAuthorizationToken`` (``registryIds=[<account id>]``) on the Dockyard endpoint with the credentials of
the usual AWS chain (environment, ``AWS_PROFILE``, shared config and credentials files, SSO, web identity,
container and instance metadata), and answers ``Username`` ``AWS`` with the token's password as ``Secret``.

Which endpoint serves a registry host, first match wins:

1. the host's entry in the mapping file (``DOCKYARD_CREDENTIAL_HELPER_CONFIG``, default
   ``~/.dockyard/credential-helper.json``)::

       {"registries": {
           "111122223333.dkr.registry.example.com": {"endpoint": "https://registry.example.com",
                                                     "region": "eu-west-1", "profile": "dockyard"},
           "*.dkr.dockyard.localhost:5000": {"endpoint": "http://127.0.0.1:5000"},
           "registry.internal:5000": {"endpoint": "http://registry.internal:5000",
                                      "account": "111122223333"}}}

   Keys are host names with an optional port; ``*.dkr.<domain>[:port]`` stands for every account's host.
   A host that is not ``<account id>.dkr.<domain>`` gets credentials only through an entry of its own.
2. ``DOCKYARD_ENDPOINT``;
3. the ECR endpoint configured for the AWS SDKs (``AWS_ENDPOINT_URL_ECR``, ``AWS_ENDPOINT_URL``, or
   ``endpoint_url`` in the profile).

The region is the entry's, else ``AWS_REGION``, ``AWS_DEFAULT_REGION`` or the profile's, else us-east-1.
Under 2 and 3 a token is handed out only when the server's ``proxyEndpoint`` names the very host Docker
asked about, so a helper configured as Docker's ``credsStore`` never gives a Dockyard token to another
registry. Tokens are cached in ``$XDG_CACHE_HOME/dockyard/credential-helper/`` (``~/.cache/…``; directory
0700, one 0600 file per registry host, endpoint, region and credential identity) and reused until 15
minutes before they expire (half their lifetime for short-lived tokens); a cached token that has not
expired yet also stands in when the endpoint cannot be reached. ``store`` and ``erase`` succeed without
storing anything (``erase``, from ``docker logout``, drops the host's cached tokens).

Nothing but ``get``'s answer ever carries a secret: the log (``--debug`` or
``DOCKYARD_CREDENTIAL_HELPER_DEBUG=1``, on stderr) names hosts, endpoints and hashes only.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import json
import logging
import os
import re
import secrets
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any, Protocol
from urllib.parse import urlsplit, urlunsplit

PROGRAM = "docker-credential-dockyard"
PACKAGE = "dockyard"

# The protocol's fixed messages (docker-credential-helpers, credentials/error.go): Docker matches the first
# one to tell "no credentials" (pull anonymously) from a failing helper.
NOT_FOUND = "credentials not found in native keychain"
MISSING_SERVER_URL = "no credentials server URL"
MISSING_USERNAME = "no credentials username"
USAGE = f"Usage: {PROGRAM} <store|get|erase|list|version>"

ENV_ENDPOINT = "DOCKYARD_ENDPOINT"
ENV_CONFIG = "DOCKYARD_CREDENTIAL_HELPER_CONFIG"
ENV_CACHE_DIR = "DOCKYARD_CREDENTIAL_HELPER_CACHE_DIR"
ENV_DISABLE_CACHE = "DOCKYARD_CREDENTIAL_HELPER_DISABLE_CACHE"
ENV_DEBUG = "DOCKYARD_CREDENTIAL_HELPER_DEBUG"

DEFAULT_REGION = "us-east-1"  # Dockyard's default region
REFRESH_MARGIN = timedelta(minutes=15)
CACHE_VERSION = 1

log = logging.getLogger("dockyard.credential_helper")


class HelperError(Exception):
    """Ends the action: its message goes to stdout and the exit status is 1, as the protocol has it."""


class CredentialsNotFound(HelperError):
    """No credentials for this server; ``reason`` is for the debug log only."""

    def __init__(self, reason: str) -> None:
        super().__init__(NOT_FOUND)
        self.reason = reason


# ------------------------------------------------------------------------------------------ host names

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


class TokenFetchError(Exception):
    """The endpoint did not hand out a token (unreachable, denied, malformed answer)."""


class Connection(Protocol):
    """Credentials resolved for a route: who (``identity``, never a secret), where, and the API call."""

    @property
    def identity(self) -> str: ...

    @property
    def endpoint(self) -> str: ...

    @property
    def region(self) -> str: ...

    def get_authorization_token(self, registry_id: str | None) -> Authorization: ...


class Backend(Protocol):
    def connect(self, route: Route) -> Connection:
        """Raises :class:`CredentialsNotFound` without credentials or an endpoint."""
        ...


_DEFERRED_IDENTITY_KEYS = (
    "role_arn",
    "source_profile",
    "credential_source",
    "role_session_name",
    "external_id",
    "web_identity_token_file",
    "sso_session",
    "sso_start_url",
    "sso_account_id",
    "sso_role_name",
    "credential_process",
)
_AWS_DOMAINS = (".amazonaws.com", ".amazonaws.com.cn", ".api.aws", ".c2s.ic.gov", ".sc2s.sgov.gov")


class BotoConnection:
    def __init__(
        self, client: Any, identity: str, endpoint: str, region: str, errors: tuple[type[Exception], ...]
    ) -> None:
        self._client = client
        self._errors = errors  # botocore's, imported only when a token is needed
        self.identity = identity
        self.endpoint = endpoint
        self.region = region

    def get_authorization_token(self, registry_id: str | None) -> Authorization:
        params: dict[str, Any] = {"registryIds": [registry_id]} if registry_id else {}
        try:
            output = self._client.get_authorization_token(**params)
        except self._errors as exc:
            response = getattr(exc, "response", None)  # a ClientError: the service's code and message
            if isinstance(response, dict):
                error = response.get("Error", {})
                raise TokenFetchError(f"{error.get('Code', 'error')}: {error.get('Message', '')}") from None
            raise TokenFetchError(f"{type(exc).__name__}: {exc}") from None
        for data in output.get("authorizationData") or []:
            token, proxy, expires = (
                data.get(k) for k in ("authorizationToken", "proxyEndpoint", "expiresAt")
            )
            if isinstance(token, str) and isinstance(proxy, str) and isinstance(expires, datetime):
                if expires.tzinfo is None:
                    expires = expires.replace(tzinfo=UTC)
                return Authorization(token, expires, proxy)
        raise TokenFetchError("the answer carried no authorizationData")


class BotoBackend:
    """boto3 sessions: the standard AWS credential chain, ``AWS_PROFILE`` or the route's profile."""

    def connect(self, route: Route) -> Connection:
        import boto3  # type: ignore[import-untyped]
        import botocore.session  # type: ignore[import-untyped]
        from botocore.config import Config  # type: ignore[import-untyped]
        from botocore.exceptions import BotoCoreError, ClientError  # type: ignore[import-untyped]

        try:
            core = botocore.session.Session(profile=route.profile)
            credentials = core.get_credentials()
            if credentials is None:
                raise CredentialsNotFound("no AWS credentials were found")
            identity = credential_identity(core, credentials)
            region = (  # AWS_REGION as the other SDKs read it; botocore knows only AWS_DEFAULT_REGION
                route.region
                or os.environ.get("AWS_REGION")
                or core.get_config_variable("region")
                or DEFAULT_REGION
            )
            session = boto3.Session(botocore_session=core)
            config = Config(connect_timeout=5, read_timeout=20)
            if core.get_config_variable("max_attempts") is None:
                # Docker waits for the helper: a few quick retries unless AWS_MAX_ATTEMPTS says otherwise.
                config = config.merge(Config(retries={"max_attempts": 3}))
            client = session.client("ecr", region_name=region, endpoint_url=route.endpoint, config=config)
            endpoint = route.endpoint or str(client.meta.endpoint_url)
            if route.endpoint is None:
                default = session.client(
                    "ecr",
                    region_name=region,
                    config=config.merge(Config(ignore_configured_endpoint_urls=True)),
                )
                hostname = (urlsplit(endpoint).hostname or "").lower()
                if endpoint == default.meta.endpoint_url or hostname.endswith(_AWS_DOMAINS):
                    raise CredentialsNotFound(
                        f"no Dockyard endpoint: set {ENV_ENDPOINT}, list the host in the mapping file, "
                        "or configure endpoint_url for ECR in the AWS profile"
                    )
        except BotoCoreError as exc:
            raise CredentialsNotFound(f"AWS configuration: {type(exc).__name__}: {exc}") from None
        return BotoConnection(client, identity, endpoint.rstrip("/"), region, (BotoCoreError, ClientError))


def credential_identity(core: Any, credentials: Any) -> str:
    """Who the credentials are, for the cache key: the access key id of resolved credentials; for ones
    fetched only on first use (assumed roles, SSO, web identity), the configuration that defines them, so
    that a cached token is found without calling STS or SSO first."""
    from botocore.credentials import DeferredRefreshableCredentials  # type: ignore[import-untyped]

    if isinstance(credentials, DeferredRefreshableCredentials):
        scoped = core.get_scoped_config() or {}
        defining = {key: str(scoped[key]) for key in _DEFERRED_IDENTITY_KEYS if scoped.get(key)}
        for variable in ("AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_SESSION_NAME"):
            if os.environ.get(variable):
                defining[variable] = os.environ[variable]
        profile = core.get_config_variable("profile") or "default"
        return json.dumps(["deferred", credentials.method, profile, defining], sort_keys=True)
    return json.dumps(["key", credentials.get_frozen_credentials().access_key])


# ------------------------------------------------------------------------------------------------ helper


def _short(identity: str) -> str:
    return hashlib.sha256(identity.encode()).hexdigest()[:12]


class CredentialHelper:
    def __init__(
        self,
        *,
        routes: Routes,
        cache: TokenCache,
        backend: Backend,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        margin: timedelta = REFRESH_MARGIN,
    ) -> None:
        self.routes = routes
        self.cache = cache
        self.backend = backend
        self.clock = clock
        self.margin = margin

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> CredentialHelper:
        environ = os.environ if environ is None else environ
        disabled = environ.get(ENV_DISABLE_CACHE, "").strip().lower() not in ("", "0", "false", "no")
        cache = TokenCache(None if disabled else default_cache_dir(environ))
        return cls(routes=Routes.from_environment(environ), cache=cache, backend=BotoBackend())

    def get(self, server_url: str) -> tuple[str, str]:
        """``(username, secret)`` for ``server_url``; :class:`CredentialsNotFound` when there are none."""
        registry = parse_server_url(server_url)
        if registry is None:
            raise CredentialsNotFound("the server URL names no registry host")
        route = self.routes.for_registry(registry)
        if route is None:
            raise CredentialsNotFound(
                f"{registry.host} is not <account>.dkr.<domain> nor in the mapping file"
            )
        log.debug(
            "%s: account %s via %s (%s)",
            registry.host,
            route.account or "of the caller",
            redact_url(route.endpoint) if route.endpoint else "the AWS SDK's endpoint",
            route.source,
        )
        connection = self.backend.connect(route)
        key = cache_key(registry.host, connection.endpoint, connection.region, connection.identity)
        log.debug(
            "credential identity %s, region %s, cache key %s",
            _short(connection.identity),
            connection.region,
            key[:12],
        )
        now = self.clock()
        cached = self.cache.load(key)
        if cached is not None and cached.registry == registry.host:
            if cached.fresh(now, self.margin):
                log.debug("using the cached token (expires %s)", cached.authorization.expires_at.isoformat())
                return self._login(cached.authorization)
            log.debug(
                "the cached token is due for refresh (expires %s)",
                cached.authorization.expires_at.isoformat(),
            )
        else:
            cached = None
        try:
            authorization = connection.get_authorization_token(route.account)
            login = authorization.login()
        except (TokenFetchError, ValueError) as exc:
            log.warning("GetAuthorizationToken at %s failed: %s", redact_url(connection.endpoint), exc)
            if cached is not None and cached.unexpired(now):
                log.warning("using the cached token until it expires")
                return self._login(cached.authorization)
            raise CredentialsNotFound(str(exc)) from None
        self._check_host(registry, route, authorization)
        log.debug(
            "new token from %s, expires %s",
            redact_url(connection.endpoint),
            authorization.expires_at.isoformat(),
        )
        self.cache.save(key, CachedToken(registry.host, authorization, now))
        return login

    def _login(self, authorization: Authorization) -> tuple[str, str]:
        try:
            return authorization.login()
        except ValueError as exc:
            raise CredentialsNotFound(str(exc)) from None

    @staticmethod
    def _check_host(registry: RegistryHost, route: Route, authorization: Authorization) -> None:
        """Unless the user vouched for the host, the server must name it as its registry: a helper that is
        Docker's ``credsStore`` hands no Dockyard token to another registry."""
        if route.vouched:
            return
        named = parse_server_url(authorization.proxy_endpoint)
        if named is None or named.name != registry.name:
            shown = named.name if named is not None else "no host"
            raise CredentialsNotFound(
                f"the server's registry host is {shown}, not {registry.name}; "
                "list the host in the mapping file to use this endpoint for it"
            )

    def erase(self, server_url: str) -> None:
        registry = parse_server_url(server_url)
        if registry is not None:
            dropped = self.cache.drop(registry.host)
            log.debug("dropped %d cached token(s) for %s", dropped, registry.host)

    def list(self) -> dict[str, str]:
        """Registry hosts with a cached, unexpired token; with none, the caller's own registry at
        ``DOCKYARD_ENDPOINT`` (as ``docker-credential-ecr-login`` lists its default registry)."""
        now = self.clock()
        found: dict[str, str] = {}
        for _, entry in self.cache.entries():
            if entry.unexpired(now):
                with contextlib.suppress(ValueError):
                    username, _ = entry.authorization.login()
                    found[entry.registry] = username
                    found[f"https://{entry.registry}"] = username
        if found or self.routes.default_endpoint is None:
            return found
        try:
            connection = self.backend.connect(Route(self.routes.default_endpoint, source=ENV_ENDPOINT))
            authorization = connection.get_authorization_token(None)
            username, _ = authorization.login()
            registry = parse_server_url(authorization.proxy_endpoint)
        except (HelperError, TokenFetchError, ValueError) as exc:
            log.warning("could not list the default registry: %s", getattr(exc, "reason", exc))
            return {}
        if registry is None:
            return {}
        key = cache_key(registry.host, connection.endpoint, connection.region, connection.identity)
        self.cache.save(key, CachedToken(registry.host, authorization, now))
        return {registry.host: username, f"https://{registry.host}": username}


# -------------------------------------------------------------------------------------------- protocol


def _read(stream: IO[bytes]) -> str:
    """What the Go helpers read: every line of stdin, joined without the line breaks."""
    return "".join(stream.read().decode("utf-8", errors="replace").splitlines())


def _go_json(value: object) -> str:
    """JSON as Go's ``json.Encoder`` writes it: compact, HTML-safe, one line ending in a newline."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    for char, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(char, escaped)
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029") + "\n"


def _store(data: str) -> None:
    try:  # like Go's json.Decoder: the first JSON value, whatever follows it
        document, _ = json.JSONDecoder().raw_decode(data.lstrip())
    except json.JSONDecodeError as exc:
        raise HelperError(str(exc)) from None
    if document is None:
        raise HelperError(MISSING_SERVER_URL)
    if not isinstance(document, dict):
        raise HelperError("json: cannot unmarshal into Go value of type credentials.Credentials")
    fields = {str(key).lower(): value for key, value in document.items()}  # Go matches names case-blind
    if not fields.get("serverurl"):
        raise HelperError(MISSING_SERVER_URL)
    if not fields.get("username"):
        raise HelperError(MISSING_USERNAME)
    log.debug("store: nothing to store, tokens come from AWS credentials")


def version_line() -> str:
    from importlib.metadata import PackageNotFoundError, version

    from dockyard import __version__

    try:
        number = version(PACKAGE)
    except PackageNotFoundError:
        number = __version__
    return f"{PROGRAM} ({PACKAGE}) {number}\n"


def handle(
    action: str,
    stdin: IO[bytes],
    stdout: IO[str],
    helper_factory: Callable[[], CredentialHelper] = CredentialHelper.from_environment,
) -> None:
    """One protocol action; raises :class:`HelperError` for the exit-1 answers."""
    if action == "version":
        stdout.write(version_line())
    elif action == "store":
        _store(_read(stdin))
    elif action in ("get", "erase"):
        server_url = _read(stdin).strip()
        if not server_url:
            raise HelperError(MISSING_SERVER_URL)
        if action == "erase":
            helper_factory().erase(server_url)
            return
        username, secret = helper_factory().get(server_url)
        stdout.write(_go_json({"ServerURL": server_url, "Username": username, "Secret": secret}))
    elif action == "list":
        stdout.write(_go_json(helper_factory().list()))
    else:
        raise HelperError(f"Unknown credential action `{action}`")


def _setup_logging(debug: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(f"{PROGRAM}: %(levelname)s %(message)s"))
    log.handlers[:] = [handler]
    log.propagate = False  # botocore's own loggers stay silent: at DEBUG they would print the token
    log.setLevel(logging.DEBUG if debug else logging.WARNING)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    debug = os.environ.get(ENV_DEBUG, "").strip().lower() not in ("", "0", "false", "no")
    words: list[str] = []
    for arg in args:
        if arg == "--debug":
            debug = True
        elif arg in ("-v", "--version"):
            words.append("version")
        elif arg in ("-h", "--help"):
            sys.stdout.write(f"{USAGE}\n\n{__doc__}")
            return 0
        else:
            words.append(arg)
    _setup_logging(debug)
    if len(words) != 1:
        sys.stdout.write(USAGE + "\n")
        return 1
    try:
        handle(words[0], sys.stdin.buffer, sys.stdout)
    except CredentialsNotFound as exc:
        log.debug("credentials not found: %s", exc.reason)
        sys.stdout.write(f"{exc}\n")
        return 1
    except HelperError as exc:
        sys.stdout.write(f"{exc}\n")
        return 1
    except Exception as exc:  # a helper that crashes must still answer in the protocol
        log.warning("unexpected %s", type(exc).__name__, exc_info=debug)
        sys.stdout.write(f"{NOT_FOUND if words[0] == 'get' else type(exc).__name__}\n")
        return 1
    finally:
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
