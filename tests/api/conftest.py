"""The app under test, driven in-process through httpx's ASGI transport, with helpers to push content
and to find anything a failed request left behind."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from dockyard.app import Services, create_app
from dockyard.blobstore.s3 import S3Driver
from dockyard.config import Settings
from dockyard.domain.manifest import OCI_MANIFEST
from dockyard.ports import Clock
from s3_target import list_keys, unique_prefix

OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
FAR_FUTURE = datetime(9999, 1, 1, tzinfo=UTC)


def digest_of(data: bytes, algorithm: str = "sha256") -> str:
    return f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"


def descriptor(media_type: str, data: bytes, **extra: Any) -> dict[str, Any]:
    return {"mediaType": media_type, "digest": digest_of(data), "size": len(data), **extra}


async def raw_request(
    app: Starlette,
    method: str,
    path: str,
    headers: dict[str, str],
    chunks: list[bytes],
    *,
    disconnect: bool = False,
) -> tuple[int, dict[str, str]]:
    """Drive ``app`` with ASGI messages httpx cannot produce: a body that does not match its
    ``Content-Length``, or a client that goes away (``http.disconnect``) after ``chunks``."""
    messages: list[dict[str, Any]] = [
        {"type": "http.request", "body": chunk, "more_body": True} for chunk in chunks
    ]
    messages.append({"type": "http.disconnect"} if disconnect else {"type": "http.request", "body": b""})
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    path_only, _, query = path.partition("?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path_only,
        "raw_path": path_only.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 1),
        "server": ("registry.test", 80),
    }
    await app(scope, receive, send)
    start = next(message for message in sent if message["type"] == "http.response.start")
    return start["status"], {k.decode(): v.decode() for k, v in start["headers"]}


def error_code(response: httpx.Response) -> str:
    """The first OCI error code of ``response`` (which must be an OCI error body)."""
    assert response.headers["content-type"].startswith("application/json"), response.text
    errors = response.json()["errors"]
    assert errors
    assert isinstance(errors[0]["message"], str)
    code: str = errors[0]["code"]
    return code


@dataclass
class Image:
    digest: str
    body: bytes
    blobs: dict[str, bytes]


class Registry:
    """An HTTP client on one running app, plus direct views of its storage for leftover checks."""

    def __init__(self, app: Starlette, client: httpx.AsyncClient, settings: Settings) -> None:
        self.app = app
        self.http = client
        self.services: Services = app.state.services
        self.settings = settings

    async def push_blob(self, repo: str, data: bytes, algorithm: str = "sha256") -> str:
        digest = digest_of(data, algorithm)
        response = await self.http.post(f"/v2/{repo}/blobs/uploads/", params={"digest": digest}, content=data)
        assert response.status_code == 201, response.text
        return digest

    async def start_upload(self, repo: str) -> str:
        """Open an upload session; returns its Location."""
        response = await self.http.post(f"/v2/{repo}/blobs/uploads/")
        assert response.status_code == 202, response.text
        location: str = response.headers["location"]
        return location

    async def put_manifest(
        self,
        repo: str,
        reference: str,
        document: dict[str, Any] | bytes,
        media_type: str | None = OCI_MANIFEST,
    ) -> httpx.Response:
        body = document if isinstance(document, bytes) else json.dumps(document).encode()
        headers = {"Content-Type": media_type} if media_type else {}
        return await self.http.put(f"/v2/{repo}/manifests/{reference}", content=body, headers=headers)

    async def push_image(
        self, repo: str, tag: str | None = None, *, seed: str = "x", layers: int = 1, **extra: Any
    ) -> Image:
        """Push a config, ``layers`` layers and an OCI manifest (tagged ``tag``, else by digest)."""
        config = json.dumps({"seed": seed}).encode()
        blobs = {digest_of(config): config}
        layer_data = [f"{seed}-layer-{i}".encode() * 10 for i in range(layers)]
        for data in [config, *layer_data]:
            blobs[await self.push_blob(repo, data)] = data
        document = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": descriptor(OCI_CONFIG, config),
            "layers": [descriptor(OCI_LAYER, data) for data in layer_data],
            **extra,
        }
        body = json.dumps(document).encode()
        response = await self.put_manifest(repo, tag or digest_of(body), body)
        assert response.status_code == 201, response.text
        assert response.headers["docker-content-digest"] == digest_of(body)
        return Image(digest_of(body), body, blobs)

    def stored(self, prefix: str) -> list[str]:
        """Paths of everything the blob storage holds under ``prefix`` (``uploads/`` or ``blobs/``)."""
        driver = self.services.registry.blobs.driver
        if isinstance(driver, S3Driver):
            root = driver.prefix
            return [key[len(root) :] for key in list_keys(driver.client, driver.bucket, root + prefix)]
        base = self.settings.blob_root
        found = (base / prefix).rglob("*") if (base / prefix).exists() else []
        return sorted(str(path.relative_to(base)) for path in found if path.is_file())

    def upload_files(self) -> list[str]:
        return self.stored("uploads/")

    async def upload_sessions(self) -> list[str]:
        return await self.services.registry.store.stale_uploads(FAR_FUTURE)

    async def assert_no_uploads_left(self) -> None:
        assert self.upload_files() == []
        assert await self.upload_sessions() == []

    def blob_files(self, digest: str) -> list[str]:
        return [path for path in self.stored("blobs/") if path.endswith(digest.split(":", 1)[1])]

    async def assert_no_blob(self, repo: str, digest: str) -> None:
        """Neither visible in ``repo`` nor stored at all."""
        assert (await self.http.head(f"/v2/{repo}/blobs/{digest}")).status_code == 404
        assert self.blob_files(digest) == []

    async def assert_no_manifest(self, repo: str, digest: str, tag: str | None = None) -> None:
        assert (await self.http.get(f"/v2/{repo}/manifests/{digest}")).status_code == 404
        if tag is not None:
            assert (await self.http.get(f"/v2/{repo}/manifests/{tag}")).status_code == 404
            tags = await self.http.get(f"/v2/{repo}/tags/list")
            assert tags.status_code == 404 or tag not in tags.json()["tags"]


@pytest.fixture(autouse=True)
def _hermetic_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings read ``DOCKYARD_*``: none may leak in from the shell running the tests."""
    for key in list(os.environ):
        if key.startswith("DOCKYARD_"):
            monkeypatch.delenv(key)


@pytest.fixture
def backend() -> str:
    """Metadata database of the app under test; modules may override it with parameters."""
    return "sqlite"


@pytest.fixture
def storage() -> str:
    """Blob storage of the app under test (``filesystem`` or ``s3``); modules may override it."""
    return "filesystem"


@pytest.fixture
def settings(
    backend: str,
    storage: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    migrated_sqlite: Callable[[Path], Path],
) -> Settings:
    data_dir = tmp_path / "data"
    blobs: dict[str, Any] = {}
    if storage == "s3":
        blobs = request.getfixturevalue("s3_target").settings(unique_prefix())
    if backend == "postgresql":
        data_dir.mkdir()
        return Settings(
            data_dir=data_dir,
            database_url=request.getfixturevalue("empty_postgres_url"),
            access_log=False,
            auth="none",
            **blobs,
        )
    migrated_sqlite(data_dir)
    return Settings(data_dir=data_dir, access_log=False, auth="none", **blobs)  # /v2/ without credentials


RunApp = Callable[..., contextlib.AbstractAsyncContextManager[Registry]]


@pytest.fixture
def run_app(settings: Settings) -> RunApp:
    """``async with run_app(clock=..., **setting_overrides) as registry:`` runs one app, lifespan included."""

    @contextlib.asynccontextmanager
    async def run(clock: Clock | None = None, **overrides: Any) -> AsyncIterator[Registry]:
        effective = settings.model_copy(update=overrides) if overrides else settings
        app = create_app(effective, clock=clock)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://registry.test") as client:
                yield Registry(app, client, effective)

    return run


@pytest.fixture
async def registry(run_app: RunApp) -> AsyncIterator[Registry]:
    async with run_app() as running:
        yield running


@pytest.fixture
def client(registry: Registry) -> httpx.AsyncClient:
    return registry.http
