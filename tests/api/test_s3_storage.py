"""``/v2/`` with blobs in S3 (moto on loopback, or ``DOCKYARD_TEST_S3_*``): 307 to a presigned URL whose
bytes verify, the proxy setting, chunked uploads that move between app instances, and nothing left behind
by a cancelled, wrong or interrupted upload."""

from __future__ import annotations

import os
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from s3_target import S3Target

from .conftest import Registry, RunApp, digest_of, error_code, raw_request

MIB = 1 << 20


@pytest.fixture
def storage() -> str:
    return "s3"


async def fetch(url: str, headers: dict[str, str] | None = None) -> httpx.Response:
    async with httpx.AsyncClient(trust_env=False) as direct:  # no registry credentials: the URL is signed
        return await direct.get(url, headers=headers)


async def upload_range(client: httpx.AsyncClient, location: str) -> str:
    response = await client.get(location)
    assert response.status_code == 204, response.text
    return response.headers["range"]


async def test_blob_get_redirects_to_a_presigned_url_whose_bytes_verify(
    registry: Registry, s3_target: S3Target
) -> None:
    data = os.urandom(6 * MIB + 5)
    digest = await registry.push_blob("s3/redirect", data)
    response = await registry.http.get(f"/v2/s3/redirect/blobs/{digest}")
    assert response.status_code == 307
    assert response.headers["docker-content-digest"] == digest
    location = response.headers["location"]
    assert location.startswith(f"{s3_target.endpoint_url}/")
    query = parse_qs(urlsplit(location).query)
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    assert query["X-Amz-Expires"] == ["1200"]
    fetched = await fetch(location)
    assert fetched.status_code == 200
    assert digest_of(fetched.content) == digest
    ranged = await fetch(location, {"Range": "bytes=6291456-"})
    assert ranged.status_code == 206
    assert ranged.content == data[6 * MIB :]
    head = await registry.http.head(f"/v2/s3/redirect/blobs/{digest}")
    assert head.status_code == 200
    assert head.headers["content-length"] == str(len(data))


async def test_the_presigned_url_lifetime_is_configurable(run_app: RunApp) -> None:
    async with run_app(redirect_ttl_seconds=77) as registry:
        digest = await registry.push_blob("s3/ttl", b"short-lived")
        response = await registry.http.get(f"/v2/s3/ttl/blobs/{digest}")
        assert response.status_code == 307
        assert parse_qs(urlsplit(response.headers["location"]).query)["X-Amz-Expires"] == ["77"]


async def test_without_redirects_the_registry_proxies_the_bytes(run_app: RunApp) -> None:
    async with run_app(redirect=False) as registry:
        data = os.urandom(3 * MIB + 1)
        digest = await registry.push_blob("s3/proxy", data)
        response = await registry.http.get(f"/v2/s3/proxy/blobs/{digest}")
        assert response.status_code == 200
        assert response.content == data
        ranged = await registry.http.get(f"/v2/s3/proxy/blobs/{digest}", headers={"Range": "bytes=10-19"})
        assert ranged.status_code == 206
        assert ranged.content == data[10:20]
        image = await registry.push_image("s3/proxy", "v1", layers=2)
        manifest = await registry.http.get(f"/v2/s3/proxy/manifests/{image.digest}")
        assert manifest.content == image.body


async def test_a_chunked_upload_moves_between_app_instances(run_app: RunApp) -> None:
    """Each chunk on a new app (as on another replica): only S3 and the database carry the upload."""
    chunks = [os.urandom(3 * MIB), os.urandom(7 * MIB + 3), os.urandom(1000)]
    data = b"".join(chunks)
    async with run_app() as first:
        location = await first.start_upload("s3/chunked")
    start = 0
    for chunk in chunks[:-1]:
        async with run_app() as replica:
            end = start + len(chunk) - 1
            response = await replica.http.patch(
                location, content=chunk, headers={"Content-Range": f"{start}-{end}"}
            )
            assert response.status_code == 202, response.text
            assert response.headers["range"] == f"0-{end}"
            start = end + 1
    async with run_app() as last:
        digest = digest_of(data)
        response = await last.http.put(location, params={"digest": digest}, content=chunks[-1])
        assert response.status_code == 201, response.text
        redirect = await last.http.get(f"/v2/s3/chunked/blobs/{digest}")
        assert digest_of((await fetch(redirect.headers["location"])).content) == digest
        await last.assert_no_uploads_left()


async def test_cancel_leaves_nothing_in_the_bucket(registry: Registry) -> None:
    location = await registry.start_upload("s3/cancel")
    await registry.http.patch(location, content=os.urandom(6 * MIB + 1))
    assert any("unfinished multipart upload" in path for path in registry.upload_files())
    assert (await registry.http.delete(location)).status_code == 204
    await registry.assert_no_uploads_left()


async def test_a_wrong_digest_leaves_nothing(registry: Registry) -> None:
    data = os.urandom(6 * MIB + 2)
    location = await registry.start_upload("s3/wrong")
    await registry.http.patch(location, content=data)
    claimed = digest_of(b"not these bytes")
    response = await registry.http.put(location, params={"digest": claimed})
    assert response.status_code == 400
    assert error_code(response) == "DIGEST_INVALID"
    await registry.assert_no_blob("s3/wrong", claimed)
    await registry.assert_no_blob("s3/wrong", digest_of(data))
    await registry.assert_no_uploads_left()


async def test_an_interrupted_chunk_does_not_count(registry: Registry) -> None:
    data = os.urandom(7 * MIB)
    location = await registry.start_upload("s3/gone")
    await registry.http.patch(location, content=data[:10], headers={"Content-Range": "0-9"})
    status, _ = await raw_request(
        registry.app,
        "PATCH",
        location,
        {"content-length": str(len(data) - 10), "content-range": f"10-{len(data) - 1}"},
        [data[10 : 6 * MIB], os.urandom(100_000)],
        disconnect=True,
    )
    assert 400 <= status < 500
    assert await upload_range(registry.http, location) == "0-9"
    response = await registry.http.put(location, params={"digest": digest_of(data)}, content=data[10:])
    assert response.status_code == 201, response.text
    assert registry.blob_files(digest_of(data)) != []


async def test_a_failed_single_request_upload_leaves_nothing(registry: Registry) -> None:
    data = os.urandom(6 * MIB)
    claimed = digest_of(b"other")
    response = await registry.http.post(
        "/v2/s3/direct/blobs/uploads/", params={"digest": claimed}, content=data
    )
    assert response.status_code == 400
    await registry.assert_no_blob("s3/direct", claimed)
    assert registry.stored("") == []
