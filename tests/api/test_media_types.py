"""Every manifest media type the registry stores, Accept negotiation and the subject header."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from dockyard.domain.manifest import DOCKER_LIST, DOCKER_MANIFEST, OCI_INDEX

from .conftest import OCI_CONFIG, OCI_LAYER, OCI_MANIFEST, Registry, descriptor, digest_of, error_code

DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_FOREIGN = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"


async def docker_image(registry: Registry, repo: str, seed: str = "d") -> bytes:
    config, layer = json.dumps({"os": "linux", "seed": seed}).encode(), f"layer {seed}".encode()
    await registry.push_blob(repo, config)
    await registry.push_blob(repo, layer)
    document = {
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST,
        "config": descriptor(DOCKER_CONFIG, config),
        "layers": [descriptor(DOCKER_LAYER, layer)],
    }
    return json.dumps(document, indent=3).encode()


async def assert_pull(
    client: httpx.AsyncClient, repo: str, reference: str, body: bytes, media_type: str
) -> None:
    response = await client.get(f"/v2/{repo}/manifests/{reference}")
    assert response.status_code == 200
    assert response.content == body
    assert response.headers["content-type"] == media_type
    assert response.headers["docker-content-digest"] == digest_of(body)


async def test_docker_schema2(registry: Registry, client: httpx.AsyncClient) -> None:
    body = await docker_image(registry, "docker")
    response = await registry.put_manifest("docker", "latest", body, DOCKER_MANIFEST)
    assert response.status_code == 201, response.text
    await assert_pull(client, "docker", "latest", body, DOCKER_MANIFEST)


async def test_docker_manifest_list(registry: Registry, client: httpx.AsyncClient) -> None:
    children = [await docker_image(registry, "multi", seed) for seed in ("amd64", "arm64")]
    for child in children:
        assert (
            await registry.put_manifest("multi", digest_of(child), child, DOCKER_MANIFEST)
        ).status_code == 201
    document = {
        "schemaVersion": 2,
        "mediaType": DOCKER_LIST,
        "manifests": [
            descriptor(DOCKER_MANIFEST, child, platform={"architecture": arch, "os": "linux"})
            for child, arch in zip(children, ("amd64", "arm64"), strict=True)
        ],
    }
    body = json.dumps(document).encode()
    response = await registry.put_manifest("multi", "latest", body, DOCKER_LIST)
    assert response.status_code == 201, response.text
    await assert_pull(client, "multi", "latest", body, DOCKER_LIST)


async def test_oci_index(registry: Registry, client: httpx.AsyncClient) -> None:
    child = await registry.push_image("index", seed="child")
    document = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [
            descriptor(OCI_MANIFEST, child.body, platform={"architecture": "amd64", "os": "linux"})
        ],
        "annotations": {"org.opencontainers.image.ref.name": "v1"},
    }
    body = json.dumps(document).encode()
    assert (await registry.put_manifest("index", "v1", body, OCI_INDEX)).status_code == 201
    await assert_pull(client, "index", "v1", body, OCI_INDEX)


async def test_index_with_a_missing_child(registry: Registry, client: httpx.AsyncClient) -> None:
    document = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [descriptor(OCI_MANIFEST, b"nope")]}
    body = json.dumps(document).encode()
    response = await registry.put_manifest("index", "v1", body, OCI_INDEX)
    assert response.status_code == 404
    assert error_code(response) == "MANIFEST_BLOB_UNKNOWN"
    await registry.assert_no_manifest("index", digest_of(body), "v1")


@pytest.mark.parametrize("media_type", [OCI_MANIFEST, DOCKER_MANIFEST])
async def test_manifest_without_media_type_takes_content_type(
    registry: Registry, client: httpx.AsyncClient, media_type: str
) -> None:
    image = await registry.push_image("umoci")
    document = json.loads(image.body)
    del document["mediaType"]
    body = json.dumps(document).encode()
    assert (await registry.put_manifest("umoci", "bare", body, media_type)).status_code == 201
    await assert_pull(client, "umoci", "bare", body, media_type)


async def test_manifest_without_any_type_is_typed_by_shape(
    registry: Registry, client: httpx.AsyncClient
) -> None:
    image = await registry.push_image("shape")
    document = json.loads(image.body)
    del document["mediaType"]
    body = json.dumps(document).encode()
    assert (await registry.put_manifest("shape", "bare", body, None)).status_code == 201
    await assert_pull(client, "shape", "bare", body, OCI_MANIFEST)


async def test_foreign_layers_need_not_be_pushed(registry: Registry, client: httpx.AsyncClient) -> None:
    config = b'{"os":"windows"}'
    await registry.push_blob("win", config)
    foreign = {
        "mediaType": DOCKER_FOREIGN,
        "digest": digest_of(b"windows base layer"),
        "size": 18,
        "urls": ["https://example.com/base.tar.gz"],
    }
    document = {
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST,
        "config": descriptor(DOCKER_CONFIG, config),
        "layers": [foreign],
    }
    body = json.dumps(document).encode()
    assert (await registry.put_manifest("win", "ltsc", body, DOCKER_MANIFEST)).status_code == 201
    await assert_pull(client, "win", "ltsc", body, DOCKER_MANIFEST)


async def test_manifest_with_sha512_layer(registry: Registry, client: httpx.AsyncClient) -> None:
    config, layer = b'{"a":1}', b"sha512 layer"
    await registry.push_blob("five", config)
    layer_digest = await registry.push_blob("five", layer, "sha512")
    document: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": descriptor(OCI_CONFIG, config),
        "layers": [{"mediaType": OCI_LAYER, "digest": layer_digest, "size": len(layer)}],
    }
    body = json.dumps(document).encode()
    assert (await registry.put_manifest("five", "v1", body)).status_code == 201
    assert (await client.get(f"/v2/five/blobs/{layer_digest}")).content == layer


# -- Accept negotiation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "accept",
    [
        [],
        [OCI_MANIFEST],
        [f"{DOCKER_MANIFEST}, {OCI_MANIFEST};q=0.9"],
        [DOCKER_MANIFEST, OCI_MANIFEST],  # one header per type, as containerd sends them
        ["*/*"],
        ["application/json"],
        ["text/html"],  # names no manifest type at all: not a refusal
    ],
)
async def test_acceptable(registry: Registry, client: httpx.AsyncClient, accept: list[str]) -> None:
    await registry.push_image("app", "v1")
    headers = httpx.Headers([("Accept", value) for value in accept])
    response = await client.get("/v2/app/manifests/v1", headers=headers)
    assert response.status_code == 200
    assert response.headers["content-type"] == OCI_MANIFEST


@pytest.mark.parametrize("accept", [[DOCKER_MANIFEST], [DOCKER_LIST, OCI_INDEX], [f"{DOCKER_MANIFEST};q=1"]])
async def test_not_acceptable(registry: Registry, client: httpx.AsyncClient, accept: list[str]) -> None:
    await registry.push_image("app", "v1")
    headers = httpx.Headers([("Accept", value) for value in accept])
    response = await client.get("/v2/app/manifests/v1", headers=headers)
    assert response.status_code == 404
    assert error_code(response) == "MANIFEST_UNKNOWN"
