"""The helper itself: ``get``, ``store``, ``erase``, ``list``, ``version``, and the command line."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import IO

from dockyard.credential_helper.backend import Backend, BotoBackend, TokenFetchError, short_identity
from dockyard.credential_helper.cache import (
    Authorization,
    CachedToken,
    TokenCache,
    cache_key,
    default_cache_dir,
)
from dockyard.credential_helper.protocol import (
    ENV_DEBUG,
    ENV_DISABLE_CACHE,
    ENV_ENDPOINT,
    MISSING_SERVER_URL,
    MISSING_USERNAME,
    NOT_FOUND,
    PACKAGE,
    PROGRAM,
    REFRESH_MARGIN,
    USAGE,
    CredentialsNotFound,
    HelperError,
    log,
)
from dockyard.credential_helper.routes import RegistryHost, Route, Routes, parse_server_url, redact_url


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
            short_identity(connection.identity),
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
