"""One `dockyard serve` process shared by the identity tests (account 111122223333, region eu-west-1), and a
tiny OpenID Connect issuer on 127.0.0.1 that signs tokens with a key the test generates."""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from .support import ACCOUNT, Creds, Server, client, init_account

REGION = "eu-west-1"


@dataclass
class Plane:
    """The shared server, its data directory and the account's root credentials."""

    server: Server
    root: Creds
    account: str = ACCOUNT

    @property
    def url(self) -> str:
        return self.server.url

    def iam(self, creds: Creds | None = None, region: str = "us-east-1") -> Any:
        return client(self.url, "iam", creds or self.root, region)

    def sts(self, creds: Creds | None = None, region: str = REGION) -> Any:
        return client(self.url, "sts", creds or self.root, region)


@pytest.fixture(scope="session")
def plane(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Iterator[Plane]:
    """The server starts while ``dockyard admin init`` creates the account: accounts are found on use."""
    data_dir = tmp_path_factory.mktemp("identity") / "data"
    data_dir.mkdir()
    shutil.copyfile(sqlite_template, data_dir / "dockyard.db")
    server = Server(data_dir, env={"DOCKYARD_REGION": REGION}, wait=False)
    try:
        root = init_account(data_dir)
        server.wait_ready()
        yield Plane(server, root)
    finally:
        server.stop()


@dataclass
class Issuer:
    """An OIDC issuer: ``/.well-known/openid-configuration`` and its JWKS, served on 127.0.0.1."""

    url: str
    key: RSAPrivateKey
    kid: str = "test-key"
    requests: list[str] = field(default_factory=list)

    @property
    def host(self) -> str:
        """The provider URL as IAM keeps it (no scheme): the prefix of its condition keys."""
        return self.url.removeprefix("http://")

    def token(self, *, key: RSAPrivateKey | None = None, **claims: Any) -> str:
        now = int(time.time())
        body = {"iss": self.url, "sub": "repo:acme/app", "aud": "dockyard", "iat": now, "exp": now + 600}
        body.update(claims)
        return jwt.encode(body, key or self.key, algorithm="RS256", headers={"kid": self.kid})


@pytest.fixture(scope="session")
def issuer() -> Iterator[Issuer]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    documents: dict[str, bytes] = {}
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.path)
            body = documents.get(self.path)
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body or b"{}")

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    url = f"http://127.0.0.1:{httpd.server_address[1]}"
    documents["/.well-known/openid-configuration"] = json.dumps(
        {"issuer": url, "jwks_uri": url + "/keys", "id_token_signing_alg_values_supported": ["RS256"]}
    ).encode()
    documents["/keys"] = json.dumps(
        {"keys": [{**public, "kid": "test-key", "use": "sig", "alg": "RS256"}]}
    ).encode()
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield Issuer(url, key, requests=seen)
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def tmp_home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    return home
