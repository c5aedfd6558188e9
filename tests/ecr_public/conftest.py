"""A real `dockyard serve` with IAM on, two accounts (A, the default account, with the configured alias
``acme``; B with a random one), boto3 ``ecr-public`` clients, and a minimal pusher for the public host that
speaks the Docker token flow with httpx."""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from identity.support import Creds, Server, client, init_account

ACCOUNT_A = "111111111111"
ACCOUNT_B = "222222222222"
ALIAS_A = "acme"
DOMAIN = "dockyard.localhost"
PUBLIC = f"public.{DOMAIN}"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


@dataclass
class Plane:
    server: Server
    roots: dict[str, Creds]

    @property
    def url(self) -> str:
        return self.server.url

    def public(self, account: str = ACCOUNT_A, creds: Creds | None = None) -> Any:
        return client(self.url, "ecr-public", creds or self.roots[account])

    def iam(self, account: str = ACCOUNT_A) -> Any:
        return client(self.url, "iam", self.roots[account])

    def password(self, creds: Creds) -> str:
        data = client(self.url, "ecr-public", creds).get_authorization_token()["authorizationData"]
        return base64.b64decode(data["authorizationToken"]).decode().partition(":")[2]

    def token(self, scope: str, password: str | None = None) -> httpx.Response:
        auth = None if password is None else ("AWS", password)
        return httpx.get(
            f"{self.url}/token",
            params={"service": PUBLIC, "scope": scope},
            headers={"Host": PUBLIC},
            auth=auth,
        )

    def v2(self, method: str, path: str, token: str | None = None, **kwargs: Any) -> httpx.Response:
        headers = {"Host": PUBLIC, **kwargs.pop("headers", {})}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return httpx.request(method, f"{self.url}/v2/{path}", headers=headers, **kwargs)

    def push(self, path: str, tag: str, password: str, seed: str = "") -> str:
        """A one-layer image at ``<path>:<tag>`` on the public host; its manifest digest."""
        answer = self.token(f"repository:{path}:pull,push", password)
        assert answer.status_code == 200, answer.text
        token = answer.json()["token"]
        config = json.dumps({"architecture": "amd64", "os": "linux", "seed": seed + tag}).encode()
        layer = f"layer {seed}{tag}".encode()
        for blob in (config, layer):
            done = self.v2("POST", f"{path}/blobs/uploads/?digest={_digest(blob)}", token, content=blob)
            assert done.status_code == 201, done.text
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": _descriptor("application/vnd.oci.image.config.v1+json", config),
                "layers": [_descriptor("application/vnd.oci.image.layer.v1.tar", layer)],
            }
        ).encode()
        put = self.v2(
            "PUT", f"{path}/manifests/{tag}", token, content=manifest, headers={"Content-Type": OCI_MANIFEST}
        )
        assert put.status_code == 201, put.text
        return _digest(manifest)


def _digest(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


def _descriptor(media_type: str, data: bytes) -> dict[str, Any]:
    return {"mediaType": media_type, "digest": _digest(data), "size": len(data)}


@pytest.fixture(scope="package")
def plane(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Iterator[Plane]:
    data_dir = tmp_path_factory.mktemp("ecr-public") / "data"
    data_dir.mkdir()
    shutil.copyfile(sqlite_template, data_dir / "dockyard.db")
    roots = {ACCOUNT_A: init_account(data_dir, ACCOUNT_A)}
    roots[ACCOUNT_B] = init_account(data_dir, ACCOUNT_B, "create-account")
    env = {"DOCKYARD_DOMAIN": DOMAIN, "DOCKYARD_PUBLIC_ALIAS": ALIAS_A, "DOCKYARD_ACCESS_LOG": "false"}
    server = Server(data_dir, env=env)
    try:
        yield Plane(server, roots)
    finally:
        server.stop()
