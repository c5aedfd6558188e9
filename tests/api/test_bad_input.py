"""Bad input: each request gets its OCI error code and status, and leaves nothing behind."""

from __future__ import annotations

import json
import os

import httpx
import pytest

from dockyard.domain.manifest import MAX_MANIFEST_BYTES

from .conftest import OCI_CONFIG, OCI_LAYER, OCI_MANIFEST, Registry, descriptor, digest_of, error_code


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert error_code(response) == code


def image_document(config: bytes, *layers: bytes) -> bytes:
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": descriptor(OCI_CONFIG, config),
            "layers": [descriptor(OCI_LAYER, layer) for layer in layers],
        }
    ).encode()


# -- manifests ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"",
        b"[]",
        b'{"schemaVersion": 1}',
        b"\xff\xfe",
        b"[" * 50_000,
        b'{"schemaVersion": 2, "mediaType": "' + OCI_MANIFEST.encode() + b'", "config": "nope"}',
    ],
    ids=["truncated", "empty", "array", "schema1", "binary", "deep", "bad-config"],
)
@pytest.mark.parametrize("by_digest", [False, True], ids=["tag", "digest"])
async def test_malformed_manifest(registry: Registry, body: bytes, by_digest: bool) -> None:
    await registry.push_image("app", "v1")
    reference = digest_of(body) if by_digest else "v2"
    response = await registry.put_manifest("app", reference, body)
    assert_error(response, 400, "MANIFEST_INVALID")
    await registry.assert_no_manifest("app", digest_of(body), None if by_digest else "v2")


async def test_manifest_digest_mismatch(registry: Registry) -> None:
    image = await registry.push_image("app")
    other = image.body + b" "
    response = await registry.put_manifest("app", image.digest, other)
    assert_error(response, 400, "DIGEST_INVALID")
    await registry.assert_no_manifest("app", digest_of(other))
    response = await registry.put_manifest("app", digest_of(image.body, "sha512"), other)
    assert_error(response, 400, "DIGEST_INVALID")
    await registry.assert_no_manifest("app", digest_of(other, "sha512"))


@pytest.mark.parametrize("streamed", [False, True], ids=["content-length", "chunked"])
async def test_oversized_manifest(registry: Registry, streamed: bool) -> None:
    config = b"{}"
    await registry.push_blob("big", config)
    document = json.loads(image_document(config))
    document["annotations"] = {"padding": "x" * MAX_MANIFEST_BYTES}
    body = json.dumps(document).encode()

    async def chunks() -> object:
        for start in range(0, len(body), 1 << 20):
            yield body[start : start + (1 << 20)]

    content = chunks() if streamed else body
    response = await registry.http.put(
        "/v2/big/manifests/v1",
        content=content,
        headers={"Content-Type": OCI_MANIFEST},  # type: ignore[arg-type]
    )
    assert_error(response, 413, "SIZE_INVALID")
    await registry.assert_no_manifest("big", digest_of(body), "v1")


async def test_manifest_referencing_a_missing_blob(registry: Registry) -> None:
    config, layer = b'{"c":1}', b"never pushed"
    await registry.push_blob("app", config)
    await registry.push_blob("elsewhere", layer)  # in another repository: does not count
    body = image_document(config, layer)
    response = await registry.put_manifest("app", "v1", body)
    assert_error(response, 404, "MANIFEST_BLOB_UNKNOWN")
    await registry.assert_no_manifest("app", digest_of(body), "v1")


@pytest.mark.parametrize("tag", ["-leading-dash", ".dot", "a" * 129, "with space", "tag%0A", "%C3%A9"])
async def test_invalid_tag(registry: Registry, tag: str) -> None:
    image = await registry.push_image("app")
    response = await registry.put_manifest("app", tag, image.body)
    assert_error(response, 400, "TAG_INVALID")
    assert (await registry.http.get("/v2/app/tags/list")).json()["tags"] == []


async def test_unknown_manifest(registry: Registry) -> None:
    await registry.push_image("app", "v1")
    for reference in ("v2", digest_of(b"nothing")):
        assert_error(await registry.http.get(f"/v2/app/manifests/{reference}"), 404, "MANIFEST_UNKNOWN")
        head = await registry.http.head(f"/v2/app/manifests/{reference}")
        assert head.status_code == 404
        assert head.content == b""
    assert_error(await registry.http.get("/v2/nowhere/manifests/v1"), 404, "NAME_UNKNOWN")


# -- names -------------------------------------------------------------------------------------------

BAD_NAMES = ["UPPER", "a..b", "-x", "a/-b", "a__-b", "x" * 257, "a:b", "a%20b", "a//b", "caf%C3%A9"]


@pytest.mark.parametrize("name", BAD_NAMES)
async def test_invalid_repository_name(registry: Registry, name: str) -> None:
    client = registry.http
    digest = digest_of(b"x")
    image = await registry.push_image("valid", "v1")
    manifest_put = {"content": image.body, "headers": {"Content-Type": OCI_MANIFEST}}
    requests: list[tuple[str, str, dict[str, object]]] = [
        ("GET", f"/v2/{name}/tags/list", {}),
        ("GET", f"/v2/{name}/manifests/v1", {}),
        ("PUT", f"/v2/{name}/manifests/v1", manifest_put),
        ("DELETE", f"/v2/{name}/manifests/v1", {}),
        ("POST", f"/v2/{name}/blobs/uploads/", {}),
        ("POST", f"/v2/{name}/blobs/uploads/", {"params": {"digest": digest}, "content": b"x"}),
        ("POST", f"/v2/{name}/blobs/uploads/", {"params": {"mount": digest, "from": "valid"}}),
        ("GET", f"/v2/{name}/blobs/{digest}", {}),
        ("DELETE", f"/v2/{name}/blobs/{digest}", {}),
        ("GET", f"/v2/{name}/referrers/{digest}", {}),
    ]
    for method, url, options in requests:
        assert_error(await client.request(method, url, **options), 400, "NAME_INVALID")  # type: ignore[arg-type]
    assert (await client.get("/v2/_catalog")).json()["repositories"] == ["valid"]
    await registry.assert_no_uploads_left()
    assert registry.blob_files(digest) == []


# -- blobs and uploads -------------------------------------------------------------------------------


async def test_wrong_digest_on_upload_put(registry: Registry) -> None:
    data = os.urandom(100)
    claimed = digest_of(b"something else")
    location = await registry.start_upload("app")
    await registry.http.patch(location, content=data)
    response = await registry.http.put(location, params={"digest": claimed})
    assert_error(response, 400, "DIGEST_INVALID")
    await registry.assert_no_blob("app", claimed)
    await registry.assert_no_blob("app", digest_of(data))
    await registry.assert_no_uploads_left()


async def test_wrong_digest_on_single_request_post(registry: Registry) -> None:
    claimed = digest_of(b"something else")
    response = await registry.http.post("/v2/app/blobs/uploads/", params={"digest": claimed}, content=b"data")
    assert_error(response, 400, "DIGEST_INVALID")
    await registry.assert_no_blob("app", claimed)
    await registry.assert_no_uploads_left()


@pytest.mark.parametrize(
    ("digest", "status", "code"),
    [
        ("sha256:abc", 400, "DIGEST_INVALID"),
        ("sha256:" + "A" * 64, 400, "DIGEST_INVALID"),
        ("nocolon", 400, "DIGEST_INVALID"),
        ("md5:" + "a" * 32, 415, "UNSUPPORTED"),
    ],
)
@pytest.mark.parametrize("flow", ["post", "put"])
async def test_malformed_digest_on_upload(
    registry: Registry, digest: str, status: int, code: str, flow: str
) -> None:
    if flow == "post":
        response = await registry.http.post(
            "/v2/app/blobs/uploads/", params={"digest": digest}, content=b"data"
        )
        assert_error(response, status, code)
        await registry.assert_no_uploads_left()
    else:
        location = await registry.start_upload("app")
        response = await registry.http.put(location, params={"digest": digest}, content=b"data")
        assert_error(response, status, code)
        assert (await registry.http.get(location)).status_code == 204  # the session is still usable
        assert (await registry.http.put(location, params={"digest": digest_of(b"")})).status_code == 201


async def test_upload_put_without_digest(registry: Registry) -> None:
    location = await registry.start_upload("app")
    await registry.http.patch(location, content=b"abc")
    assert_error(await registry.http.put(location), 400, "DIGEST_INVALID")
    assert (await registry.http.put(location, params={"digest": digest_of(b"abc")})).status_code == 201


async def test_single_request_post_with_bad_content_range(registry: Registry) -> None:
    digest = digest_of(b"data")
    response = await registry.http.post(
        "/v2/app/blobs/uploads/",
        params={"digest": digest},
        content=b"data",
        headers={"Content-Range": "0-99"},
    )
    assert_error(response, 416, "BLOB_UPLOAD_INVALID")
    await registry.assert_no_blob("app", digest)
    await registry.assert_no_uploads_left()


async def test_single_request_post_with_a_failing_body(registry: Registry) -> None:
    class Broken(Exception):
        pass

    async def body() -> object:
        yield os.urandom(1_200_000)
        raise Broken

    digest = digest_of(b"whatever")
    try:
        response = await registry.http.post(
            "/v2/app/blobs/uploads/", params={"digest": digest}, content=body()
        )  # type: ignore[arg-type]
    except Broken:
        pass
    else:
        assert response.status_code >= 400
    await registry.assert_no_blob("app", digest)
    await registry.assert_no_uploads_left()


@pytest.mark.parametrize("method", ["GET", "PATCH", "PUT", "DELETE"])
async def test_unknown_upload_id(registry: Registry, method: str) -> None:
    await registry.push_blob("app", b"repo exists")
    for upload_id in ("00000000-0000-0000-0000-000000000000", "not-a-uuid", "x" * 300):
        response = await registry.http.request(
            method, f"/v2/app/blobs/uploads/{upload_id}", params={"digest": digest_of(b"")}, content=b""
        )
        assert_error(response, 404, "BLOB_UPLOAD_UNKNOWN")
    await registry.assert_no_uploads_left()


async def test_unknown_blob(registry: Registry) -> None:
    await registry.push_blob("app", b"repo exists")
    unknown = digest_of(b"unknown")
    assert_error(await registry.http.get(f"/v2/app/blobs/{unknown}"), 404, "BLOB_UNKNOWN")
    head = await registry.http.head(f"/v2/app/blobs/{unknown}")
    assert (head.status_code, head.content) == (404, b"")
    assert_error(await registry.http.get(f"/v2/nowhere/blobs/{unknown}"), 404, "NAME_UNKNOWN")
    assert_error(await registry.http.get("/v2/app/blobs/sha256:xyz"), 400, "DIGEST_INVALID")


@pytest.mark.parametrize("header", ["bytes=100-", "bytes=100-200", "bytes=500-", "bytes=-0", "bytes=7-3"])
async def test_range_past_the_end(registry: Registry, header: str) -> None:
    digest = await registry.push_blob("app", os.urandom(100))
    response = await registry.http.get(f"/v2/app/blobs/{digest}", headers={"Range": header})
    assert_error(response, 416, "RANGE_INVALID")
    assert response.headers["content-range"] == "bytes */100"
