"""Helpers of the replica tests: `/v2/` pushes whose requests go to replicas in turn, and verified pulls."""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import uvicorn

from dockyard.app import create_app
from dockyard.config import Settings

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MIB = 1 << 20


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Pushed:
    repo: str
    tag: str
    manifest: str
    blobs: dict[str, bytes]


class Replicas:
    """Sends each request to the next replica (round robin), as a load balancer may."""

    def __init__(self, urls: list[str], authorization: str | None) -> None:
        self.urls = urls
        self._next = itertools.cycle(range(len(urls)))
        self.headers = {"Authorization": authorization} if authorization else {}
        self.used: list[str] = []

    def request(self, method: str, path: str, **kwargs: object) -> httpx.Response:
        url = self.urls[next(self._next)]
        self.used.append(url)
        headers = {**self.headers, **kwargs.pop("headers", {})}  # type: ignore[dict-item]
        return httpx.request(method, url + path, headers=headers, timeout=60, **kwargs)  # type: ignore[arg-type]

    def push_layer(self, repo: str, data: bytes, chunk: int) -> str:
        """A chunked upload: start, each chunk and the finish each on the next replica."""
        started = self.request("POST", f"/v2/{repo}/blobs/uploads/")
        assert started.status_code == 202, started.text
        location = started.headers["location"]
        for offset in range(0, len(data), chunk):
            part = data[offset : offset + chunk]
            sent = self.request(
                "PATCH",
                location,
                content=part,
                headers={"Content-Range": f"{offset}-{offset + len(part) - 1}"},
            )
            assert sent.status_code == 202, sent.text
            location = sent.headers["location"]
        finished = self.request("PUT", location, params={"digest": digest_of(data)})
        assert finished.status_code == 201, finished.text
        return digest_of(data)

    def push_image(self, repo: str, tag: str, layer_size: int, chunk: int) -> Pushed:
        """A config (one ``POST ?digest=``), one random layer (chunked) and the manifest."""
        return self.push_layers(repo, tag, [os.urandom(layer_size)], chunk)

    def push_layers(self, repo: str, tag: str, layers: list[bytes], chunk: int) -> Pushed:
        """An image of ``layers`` (each a chunked upload), a random config and the manifest by ``tag``."""
        config = json.dumps({"architecture": "amd64", "os": "linux", "seed": os.urandom(4).hex()}).encode()
        posted = self.request(
            "POST", f"/v2/{repo}/blobs/uploads/", params={"digest": digest_of(config)}, content=config
        )
        assert posted.status_code == 201, posted.text
        for layer in layers:
            self.push_layer(repo, layer, chunk)
        document = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": digest_of(config),
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": digest_of(layer),
                    "size": len(layer),
                }
                for layer in layers
            ],
        }
        body = json.dumps(document).encode()
        put = self.request(
            "PUT", f"/v2/{repo}/manifests/{tag}", content=body, headers={"Content-Type": OCI_MANIFEST}
        )
        assert put.status_code == 201, put.text
        blobs = {digest_of(config): config, **{digest_of(layer): layer for layer in layers}}
        return Pushed(repo, tag, digest_of(body), blobs)


def pull_and_verify(
    url: str, authorization: str | None, repo: str, tag: str, accept: str = OCI_MANIFEST
) -> str:
    """Pull ``repo:tag`` from ``url`` (following blob redirects to storage) and check every digest; the
    manifest digest."""
    headers = {"Authorization": authorization} if authorization else {}
    with httpx.Client(base_url=url, headers=headers, timeout=60, follow_redirects=True) as client:
        got = client.get(f"/v2/{repo}/manifests/{tag}", headers={"Accept": accept})
        assert got.status_code == 200, got.text
        assert got.headers["docker-content-digest"] == digest_of(got.content)
        document = got.json()
        for descriptor in [document["config"], *document["layers"]]:
            blob = client.get(f"/v2/{repo}/blobs/{descriptor['digest']}")
            assert blob.status_code == 200, blob.text
            assert digest_of(blob.content) == descriptor["digest"]
            assert len(blob.content) == descriptor["size"]
        return digest_of(got.content)


@contextlib.contextmanager
def serve(settings: Settings) -> Iterator[str]:
    """The real app for ``settings`` under uvicorn in a thread, on a free loopback port; its URL."""
    app = create_app(settings)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "the app did not start"
        assert thread.is_alive(), "the app failed to start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()
