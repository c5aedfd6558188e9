"""The helper's logic in-process, with a fake AWS side and a fake clock: host names, routes, the token
cache's reuse and refresh, the proxyEndpoint guard, list and erase."""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from dockyard.credential_helper import (
    Authorization,
    CachedToken,
    CredentialHelper,
    CredentialsNotFound,
    MappingEntry,
    RegistryHost,
    Route,
    Routes,
    TokenCache,
    TokenFetchError,
    _go_json,
    load_mapping,
    parse_server_url,
    redact_url,
)

from .support import login_token

ACCOUNT = "111122223333"
HOST = f"{ACCOUNT}.dkr.dockyard.localhost:5000"
ENDPOINT = "http://127.0.0.1:5000"
LIFETIME = timedelta(hours=12)
START = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


# -- host names ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("server_url", "expected"),
    [
        (HOST, RegistryHost(HOST, f"{ACCOUNT}.dkr.dockyard.localhost", 5000, ACCOUNT, "dockyard.localhost")),
        (
            f"https://{ACCOUNT}.DKR.Example.COM./v2/",
            RegistryHost(
                f"{ACCOUNT}.dkr.example.com", f"{ACCOUNT}.dkr.example.com", None, ACCOUNT, "example.com"
            ),
        ),
        (
            f"http://{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com",
            RegistryHost(
                f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com",
                f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com",
                None,
                ACCOUNT,
                "ecr.us-east-1.amazonaws.com",
            ),
        ),
        ("127.0.0.1:5000", RegistryHost("127.0.0.1:5000", "127.0.0.1", 5000)),
        ("[::1]:5000", RegistryHost("[::1]:5000", "[::1]", 5000)),
        ("https://index.docker.io/v1/", RegistryHost("index.docker.io", "index.docker.io", None)),
        ("1234.dkr.example.com", RegistryHost("1234.dkr.example.com", "1234.dkr.example.com", None)),
        ("", None),
        ("user:pass@host", None),
        ("a host", None),
        ("host:99999", None),
        ("host:", None),
    ],
)
def test_parse_server_url(server_url: str, expected: RegistryHost | None) -> None:
    assert parse_server_url(server_url) == expected


def test_redact_url() -> None:
    assert redact_url("https://user:pw@example.com:8443/p?q=secret#f") == "https://example.com:8443/p"


def test_go_json_is_compact_and_html_safe() -> None:
    assert _go_json({"a": "<&>", "b": "\u2028"}) == '{"a":"\\u003c\\u0026\\u003e","b":"\\u2028"}\n'
    assert json.loads(_go_json({"a": "<&>"})) == {"a": "<&>"}


# -- routes -------------------------------------------------------------------------------------------


def test_routes_prefer_the_hosts_own_mapping_entry() -> None:
    mapping = {
        HOST: MappingEntry("http://exact:1", region="eu-west-1", profile="p"),
        f"{ACCOUNT}.dkr.dockyard.localhost": MappingEntry("http://no-port:1"),
        "*.dkr.dockyard.localhost:5000": MappingEntry("http://wildcard-port:1"),
        "*.dkr.dockyard.localhost": MappingEntry("http://wildcard:1"),
        "registry.internal": MappingEntry("http://internal:1", account="444455556666"),
    }
    routes = Routes(mapping, "http://env:1/")

    def route(url: str) -> Route | None:
        found = parse_server_url(url)
        assert found is not None
        return routes.for_registry(found)

    assert route(HOST) == Route("http://exact:1", "eu-west-1", "p", ACCOUNT, True, f"mapping {HOST!r}")
    assert getattr(route(f"{ACCOUNT}.dkr.dockyard.localhost:443"), "endpoint", None) == "http://no-port:1"
    assert (
        getattr(route("444455556666.dkr.dockyard.localhost:5000"), "endpoint", None)
        == "http://wildcard-port:1"
    )
    assert getattr(route("444455556666.dkr.dockyard.localhost"), "endpoint", None) == "http://wildcard:1"
    internal = route("registry.internal:5000")
    assert internal is not None
    assert (internal.endpoint, internal.account, internal.vouched) == (
        "http://internal:1",
        "444455556666",
        True,
    )
    env = route("444455556666.dkr.example.com")
    assert env == Route("http://env:1", account="444455556666", source="DOCKYARD_ENDPOINT")
    assert route("registry.example.com") is None  # neither <account>.dkr.<domain> nor listed
    sdk = Routes({}, None).for_registry(RegistryHost("h", "h", None, ACCOUNT, "d"))
    assert sdk is not None
    assert (sdk.endpoint, sdk.vouched) == (None, False)


def test_load_mapping(tmp_path: Path) -> None:
    path = tmp_path / "credential-helper.json"
    assert load_mapping(path) == {}
    path.write_text(
        json.dumps({"registries": {"Host.Example:5000": {"endpoint": "https://x/", "region": "r"}}})
    )
    assert load_mapping(path) == {"host.example:5000": MappingEntry("https://x", "r")}
    for bad in (
        "{",
        "[]",
        '{"registries": []}',
        '{"registries": {"h": {}}}',
        '{"registries": {"h": {"endpoint": "ftp://x"}}}',
        '{"registries": {"h": {"endpoint": "http://x", "account": "12"}}}',
        '{"registries": {"h": {"endpoint": "http://x", "region": 1}}}',
    ):
        path.write_text(bad)
        with pytest.raises(ValueError, match=r"credential-helper\.json"):
            load_mapping(path)


# -- the helper with a fake AWS side --------------------------------------------------------------------


@dataclass
class FakeConnection:
    backend: FakeBackend
    identity: str
    endpoint: str
    region: str

    def get_authorization_token(self, registry_id: str | None) -> Authorization:
        self.backend.calls.append((self.identity, self.endpoint, registry_id))
        if self.backend.failure is not None:
            raise TokenFetchError(self.backend.failure)
        number = len(self.backend.calls)
        account = registry_id or ACCOUNT
        proxy = self.backend.proxy or f"https://{account}.dkr.dockyard.localhost"
        return Authorization(
            login_token(f"token-{number}"), self.backend.now() + self.backend.lifetime, proxy
        )


@dataclass
class FakeBackend:
    now: FakeClock
    identity: str = "alice"
    lifetime: timedelta = LIFETIME
    failure: str | None = None
    proxy: str | None = None
    calls: list[tuple[str, str, str | None]] = field(default_factory=list)
    routes: list[Route] = field(default_factory=list)

    def connect(self, route: Route) -> FakeConnection:
        self.routes.append(route)
        if not self.identity:
            raise CredentialsNotFound("no AWS credentials were found")
        return FakeConnection(
            self, self.identity, route.endpoint or "http://sdk-configured", route.region or "r"
        )


@dataclass
class FakeClock:
    at: datetime = START

    def __call__(self) -> datetime:
        return self.at


@dataclass
class World:
    helper: CredentialHelper
    backend: FakeBackend
    clock: FakeClock
    cache_dir: Path

    def secret(self, url: str = HOST) -> str:
        username, secret = self.helper.get(url)
        assert username == "AWS"
        return secret


@pytest.fixture
def world(tmp_path: Path) -> World:
    clock = FakeClock()
    backend = FakeBackend(clock)
    cache_dir = tmp_path / "cache" / "credential-helper"
    helper = CredentialHelper(
        routes=Routes({}, ENDPOINT), cache=TokenCache(cache_dir), backend=backend, clock=clock
    )
    return World(helper, backend, clock, cache_dir)


def test_a_token_is_reused_until_15_minutes_before_it_expires(world: World) -> None:
    assert world.secret() == "token-1"
    assert world.backend.calls == [("alice", ENDPOINT, ACCOUNT)]
    world.clock.at = START + LIFETIME - timedelta(minutes=15, seconds=1)
    assert world.secret() == "token-1"
    assert world.secret(f"https://{HOST}/") == "token-1"  # the same registry host
    world.clock.at = START + LIFETIME - timedelta(minutes=15)
    assert world.secret() == "token-2"
    assert len(world.backend.calls) == 2
    world.clock.at += timedelta(minutes=10)
    assert world.secret() == "token-2"


def test_a_short_lived_token_is_refreshed_halfway(world: World) -> None:
    world.backend.lifetime = timedelta(minutes=20)
    assert world.secret() == "token-1"
    world.clock.at = START + timedelta(minutes=9, seconds=59)
    assert world.secret() == "token-1"
    world.clock.at = START + timedelta(minutes=10)
    assert world.secret() == "token-2"


def test_a_failed_refresh_falls_back_to_the_unexpired_token(world: World) -> None:
    assert world.secret() == "token-1"
    world.backend.failure = "EndpointConnectionError: could not connect"
    world.clock.at = START + LIFETIME - timedelta(minutes=5)
    assert world.secret() == "token-1"
    world.clock.at = START + LIFETIME
    with pytest.raises(CredentialsNotFound, match="credentials not found in native keychain") as caught:
        world.secret()
    assert "EndpointConnectionError" in caught.value.reason
    world.backend.failure = None
    assert world.secret() == "token-4"


def test_tokens_are_cached_per_identity_endpoint_and_host(world: World) -> None:
    assert world.secret() == "token-1"
    world.backend.identity = "bob"
    assert world.secret() == "token-2"
    world.backend.identity = "alice"
    assert world.secret() == "token-1"
    world.helper.routes = Routes({}, "http://127.0.0.1:6000")
    assert world.secret() == "token-3"
    assert world.secret(f"{ACCOUNT}.dkr.dockyard.localhost:6000") == "token-4"
    assert len(list(world.cache_dir.glob("*.json"))) == 4
    assert all(ACCOUNT not in path.name and "alice" not in path.name for path in world.cache_dir.iterdir())


def test_no_credentials(world: World) -> None:
    world.backend.identity = ""
    with pytest.raises(CredentialsNotFound) as caught:
        world.secret()
    assert caught.value.reason == "no AWS credentials were found"


def test_the_server_must_name_the_host_unless_the_user_listed_it(world: World) -> None:
    world.backend.proxy = "https://111122223333.dkr.other.example"
    with pytest.raises(CredentialsNotFound) as caught:
        world.secret()
    assert "registry host is 111122223333.dkr.other.example" in caught.value.reason
    assert not world.cache_dir.exists()  # nothing cached for it either
    world.helper.routes = Routes({HOST: MappingEntry(ENDPOINT)}, None)
    assert world.secret() == "token-2"


def test_a_malformed_token_is_not_found(world: World) -> None:
    for token in ("not base64!", login_token("", "AWS"), "QVdT"):  # "QVdT" is "AWS" without a password
        entry = Authorization(token, START + LIFETIME, f"https://{HOST}")
        with pytest.raises(ValueError, match="token"):
            entry.login()


def test_the_cache_survives_garbage_and_is_private(world: World) -> None:
    assert world.secret() == "token-1"
    [path] = world.cache_dir.glob("*.json")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(world.cache_dir).st_mode) == 0o700
    path.write_text("{garbage")
    assert world.secret() == "token-2"
    assert json.loads(path.read_text())["authorizationToken"] == login_token("token-2")
    path.write_text(json.dumps({**json.loads(path.read_text()), "version": 99}))
    assert world.secret() == "token-3"
    world.cache_dir.chmod(0o755)
    world.clock.at = START + LIFETIME
    assert world.secret() == "token-4"
    assert stat.S_IMODE(os.stat(world.cache_dir).st_mode) == 0o700


def test_without_a_cache_every_get_fetches(world: World) -> None:
    world.helper.cache = TokenCache(None)
    assert [world.secret(), world.secret()] == ["token-1", "token-2"]


def test_an_unwritable_cache_only_costs_refetches(world: World, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    world.helper.cache = TokenCache(blocker / "cache")
    assert [world.secret(), world.secret()] == ["token-1", "token-2"]


def test_erase_drops_the_hosts_tokens(world: World) -> None:
    other = "444455556666.dkr.dockyard.localhost:5000"
    assert [world.secret(), world.secret(other)] == ["token-1", "token-2"]
    world.helper.erase(f"https://{HOST}")
    world.helper.erase("not a host")
    assert [world.secret(), world.secret(other)] == ["token-3", "token-2"]


def test_list_shows_unexpired_cached_hosts_or_else_the_callers_registry(world: World) -> None:
    assert world.helper.list() == {
        f"{ACCOUNT}.dkr.dockyard.localhost": "AWS",
        f"https://{ACCOUNT}.dkr.dockyard.localhost": "AWS",
    }
    assert world.backend.calls == [("alice", ENDPOINT, None)]  # GetAuthorizationToken without registryIds
    assert world.secret() == "token-2"
    assert set(world.helper.list()) == {
        f"{ACCOUNT}.dkr.dockyard.localhost",
        f"https://{ACCOUNT}.dkr.dockyard.localhost",
        HOST,
        f"https://{HOST}",
    }
    world.clock.at = START + LIFETIME + timedelta(seconds=1)
    world.backend.failure = "no"
    assert world.helper.list() == {}
    world.helper.routes = Routes({}, None)
    assert world.helper.list() == {}
    assert len(world.backend.calls) == 3


def test_cached_token_round_trip() -> None:
    entry = CachedToken(HOST, Authorization(login_token("p"), START + LIFETIME, f"https://{HOST}"), START)
    assert CachedToken.from_json(json.loads(json.dumps(entry.to_json()))) == entry
    naive = {**entry.to_json(), "expiresAt": "2026-01-01T00:00:00"}
    assert CachedToken.from_json(naive) is None
    assert CachedToken.from_json({**entry.to_json(), "registry": 1}) is None
    assert CachedToken.from_json([]) is None
