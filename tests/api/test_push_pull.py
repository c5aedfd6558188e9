"""Push and pull as the OCI conformance suite drives them: every upload flavour, mounts, manifests."""

from __future__ import annotations

import asyncio
import os

import httpx
import pytest

from .conftest import OCI_MANIFEST, Registry, digest_of, error_code


async def test_base_endpoint(client: httpx.AsyncClient) -> None:
    for path in ("/v2/", "/v2"):
        response = await client.get(path)
        assert response.status_code == 200
        assert response.headers["docker-distribution-api-version"] == "registry/2.0"


async def pull_blob(client: httpx.AsyncClient, repo: str, digest: str) -> bytes:
    response = await client.get(f"/v2/{repo}/blobs/{digest}")
    assert response.status_code == 200, response.text
    assert response.headers["docker-content-digest"] == digest
    assert response.headers["etag"] == f'"{digest}"'
    assert int(response.headers["content-length"]) == len(response.content)
    return response.content


# -- pushing blobs -----------------------------------------------------------------------------------


async def test_monolithic_post_then_put(registry: Registry, client: httpx.AsyncClient) -> None:
    data = os.urandom(3000)
    digest = digest_of(data)
    location = await registry.start_upload("mono")
    assert location.startswith("/v2/mono/blobs/uploads/")
    response = await client.put(
        location,
        params={"digest": digest},
        content=data,
        headers={"Content-Type": "application/octet-stream"},
    )
    assert response.status_code == 201, response.text
    assert response.headers["location"] == f"/v2/mono/blobs/{digest}"
    assert response.headers["docker-content-digest"] == digest
    assert await pull_blob(client, "mono", digest) == data
    await registry.assert_no_uploads_left()


async def test_single_request_post_with_digest(registry: Registry, client: httpx.AsyncClient) -> None:
    data = b"single request"
    digest = digest_of(data)
    response = await client.post("/v2/single/blobs/uploads/", params={"digest": digest}, content=data)
    assert response.status_code == 201
    assert response.headers["location"] == f"/v2/single/blobs/{digest}"
    assert await pull_blob(client, "single", digest) == data
    head = await client.head(f"/v2/single/blobs/{digest}")
    assert head.status_code == 200
    assert head.headers["content-length"] == str(len(data))
    assert head.content == b""
    await registry.assert_no_uploads_left()


async def test_chunked_upload_with_content_range(registry: Registry, client: httpx.AsyncClient) -> None:
    data = os.urandom(25)
    location = await registry.start_upload("chunked")
    for start in (0, 10):
        chunk = data[start : start + 10]
        response = await client.patch(
            location,
            content=chunk,
            headers={"Content-Range": f"{start}-{start + 9}", "Content-Type": "application/octet-stream"},
        )
        assert response.status_code == 202, response.text
        assert response.headers["range"] == f"0-{start + 9}"
        location = response.headers["location"]
    response = await client.put(
        location, params={"digest": digest_of(data)}, content=data[20:], headers={"Content-Range": "20-24"}
    )
    assert response.status_code == 201, response.text
    assert await pull_blob(client, "chunked", digest_of(data)) == data
    await registry.assert_no_uploads_left()


async def test_streamed_patch_without_content_range(registry: Registry, client: httpx.AsyncClient) -> None:
    parts = [os.urandom(700_000), os.urandom(700_000)]  # crosses the 1 MiB write batch

    async def body() -> object:
        for part in parts:
            yield part

    location = await registry.start_upload("streamed")
    response = await client.patch(location, content=body())
    assert response.status_code == 202, response.text
    assert response.headers["range"] == f"0-{len(parts[0]) + len(parts[1]) - 1}"
    data = b"".join(parts)
    response = await client.put(location, params={"digest": digest_of(data)})
    assert response.status_code == 201, response.text
    assert await pull_blob(client, "streamed", digest_of(data)) == data


async def test_out_of_order_chunk_is_refused(registry: Registry, client: httpx.AsyncClient) -> None:
    location = await registry.start_upload("order")
    await client.patch(location, content=b"0123456789", headers={"Content-Range": "0-9"})
    response = await client.patch(location, content=b"x" * 10, headers={"Content-Range": "20-29"})
    assert response.status_code == 416
    assert error_code(response) == "BLOB_UPLOAD_INVALID"
    assert response.headers["range"] == "0-9"
    status = await client.get(location)
    assert status.headers["range"] == "0-9"


async def test_retrying_the_previous_chunk_is_refused(registry: Registry, client: httpx.AsyncClient) -> None:
    location = await registry.start_upload("retry")
    await client.patch(location, content=b"a" * 10, headers={"Content-Range": "0-9"})
    await client.patch(location, content=b"b" * 10, headers={"Content-Range": "10-19"})
    response = await client.patch(location, content=b"b" * 10, headers={"Content-Range": "10-19"})
    assert response.status_code == 416
    assert response.headers["range"] == "0-19"
    final = await client.put(location, params={"digest": digest_of(b"a" * 10 + b"b" * 10)})
    assert final.status_code == 201


async def test_upload_status(registry: Registry, client: httpx.AsyncClient) -> None:
    location = await registry.start_upload("status")
    response = await client.get(location)
    assert response.status_code == 204
    assert response.headers["location"] == location
    assert response.headers["range"] == "0-0"
    await client.patch(location, content=b"12345")
    response = await client.get(location)
    assert response.status_code == 204
    assert response.headers["range"] == "0-4"
    assert response.headers["docker-upload-uuid"] == location.rsplit("/", 1)[1]


async def test_cancel_upload(registry: Registry, client: httpx.AsyncClient) -> None:
    location = await registry.start_upload("cancel")
    await client.patch(location, content=b"some bytes")
    assert registry.upload_files() != []
    response = await client.delete(location)
    assert response.status_code == 204
    response = await client.get(location)
    assert response.status_code == 404
    assert error_code(response) == "BLOB_UPLOAD_UNKNOWN"
    await registry.assert_no_uploads_left()


async def test_blob_push_is_idempotent(registry: Registry, client: httpx.AsyncClient) -> None:
    data = b"twice"
    assert await registry.push_blob("again", data) == await registry.push_blob("again", data)
    assert await pull_blob(client, "again", digest_of(data)) == data
    await registry.assert_no_uploads_left()


# -- mounts ------------------------------------------------------------------------------------------


async def test_cross_repository_mount(registry: Registry, client: httpx.AsyncClient) -> None:
    digest = await registry.push_blob("source", b"shared layer")
    assert (await client.head(f"/v2/target/blobs/{digest}")).status_code == 404
    response = await client.post("/v2/target/blobs/uploads/", params={"mount": digest, "from": "source"})
    assert response.status_code == 201
    assert response.headers["location"] == f"/v2/target/blobs/{digest}"
    assert response.headers["docker-content-digest"] == digest
    assert await pull_blob(client, "target", digest) == b"shared layer"
    await registry.assert_no_uploads_left()


async def test_automatic_mount_without_from(registry: Registry, client: httpx.AsyncClient) -> None:
    digest = await registry.push_blob("origin", b"found anywhere")
    response = await client.post("/v2/elsewhere/blobs/uploads/", params={"mount": digest})
    assert response.status_code == 201
    assert await pull_blob(client, "elsewhere", digest) == b"found anywhere"


@pytest.mark.parametrize("source", ["lacking", "never-created", "Not_A_Valid_Name"])
async def test_mount_from_a_repository_without_the_blob_opens_a_session(
    registry: Registry, client: httpx.AsyncClient, source: str
) -> None:
    digest = await registry.push_blob("holder", b"not in the source")
    await registry.push_blob("lacking", b"something else")
    response = await client.post("/v2/mounter/blobs/uploads/", params={"mount": digest, "from": source})
    assert response.status_code == 202
    location = response.headers["location"]
    assert location.startswith("/v2/mounter/blobs/uploads/")
    assert (await client.head(f"/v2/mounter/blobs/{digest}")).status_code == 404
    final = await client.put(location, params={"digest": digest}, content=b"not in the source")
    assert final.status_code == 201


async def test_mount_of_an_unknown_blob_opens_a_session(
    registry: Registry, client: httpx.AsyncClient
) -> None:
    response = await client.post("/v2/m/blobs/uploads/", params={"mount": digest_of(b"nowhere")})
    assert response.status_code == 202
    assert (await client.get(response.headers["location"])).status_code == 204


# -- manifests ---------------------------------------------------------------------------------------


async def test_manifest_by_tag_and_by_digest(registry: Registry, client: httpx.AsyncClient) -> None:
    image = await registry.push_image("app", "v1", layers=2)
    for reference in ("v1", image.digest):
        response = await client.get(f"/v2/app/manifests/{reference}", headers={"Accept": OCI_MANIFEST})
        assert response.status_code == 200
        assert response.content == image.body
        assert response.headers["content-type"] == OCI_MANIFEST
        assert response.headers["docker-content-digest"] == image.digest
        assert response.headers["etag"] == f'"{image.digest}"'
        head = await client.head(f"/v2/app/manifests/{reference}")
        assert head.status_code == 200
        assert head.content == b""
        assert head.headers["content-length"] == str(len(image.body))
        assert head.headers["docker-content-digest"] == image.digest
    for digest, data in image.blobs.items():
        assert await pull_blob(client, "app", digest) == data


async def test_manifest_put_response(registry: Registry) -> None:
    image = await registry.push_image("app", "v1")
    response = await registry.put_manifest("app", "v2", image.body)
    assert response.status_code == 201
    assert response.headers["location"] == f"/v2/app/manifests/{image.digest}"
    assert response.headers["docker-content-digest"] == image.digest
    assert "oci-subject" not in response.headers


async def test_push_by_digest_then_tag(registry: Registry, client: httpx.AsyncClient) -> None:
    image = await registry.push_image("app")
    assert (await client.get("/v2/app/tags/list")).json()["tags"] == []
    assert (await registry.put_manifest("app", "later", image.body)).status_code == 201
    assert (await client.get("/v2/app/manifests/later")).content == image.body


async def test_manifest_by_sha512_digest(registry: Registry, client: httpx.AsyncClient) -> None:
    image = await registry.push_image("app")
    sha512 = digest_of(image.body, "sha512")
    response = await registry.put_manifest("app", sha512, image.body)
    assert response.status_code == 201
    assert response.headers["docker-content-digest"] == sha512
    assert (await client.get(f"/v2/app/manifests/{sha512}")).content == image.body


async def test_if_none_match(registry: Registry, client: httpx.AsyncClient) -> None:
    image = await registry.push_image("app", "v1")
    response = await client.get("/v2/app/manifests/v1", headers={"If-None-Match": f'"{image.digest}"'})
    assert response.status_code == 304
    assert response.content == b""


async def test_tag_moves(registry: Registry, client: httpx.AsyncClient) -> None:
    first = await registry.push_image("app", "latest", seed="1")
    assert (await client.get("/v2/app/manifests/latest")).content == first.body
    second = await registry.push_image("app", "latest", seed="2")
    assert (await client.get("/v2/app/manifests/latest")).content == second.body
    assert (await client.get(f"/v2/app/manifests/{first.digest}")).status_code == 200


async def test_nested_repository_names(registry: Registry, client: httpx.AsyncClient) -> None:
    repo = "org/team/manifests/blobs/app"
    image = await registry.push_image(repo, "v1")
    assert (await client.get(f"/v2/{repo}/manifests/v1")).content == image.body
    assert (await client.get(f"/v2/{repo}/tags/list")).json() == {"name": repo, "tags": ["v1"]}


# -- ranged blob reads -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [("bytes=2-5", 2, 5), ("bytes=10-", 10, 99), ("bytes=-7", 93, 99), ("bytes=0-1000", 0, 99)],
)
async def test_range_get(
    registry: Registry, client: httpx.AsyncClient, header: str, start: int, end: int
) -> None:
    data = os.urandom(100)
    digest = await registry.push_blob("ranged", data)
    response = await client.get(f"/v2/ranged/blobs/{digest}", headers={"Range": header})
    assert response.status_code == 206
    assert response.headers["content-range"] == f"bytes {start}-{end}/100"
    assert response.headers["content-length"] == str(end - start + 1)
    assert response.content == data[start : end + 1]


async def test_large_blob_round_trip(registry: Registry, client: httpx.AsyncClient) -> None:
    data = os.urandom(3 * (1 << 20) + 5)
    digest = await registry.push_blob("large", data)
    assert await pull_blob(client, "large", digest) == data
    response = await client.get(
        f"/v2/large/blobs/{digest}", headers={"Range": f"bytes={1 << 20}-{(2 << 20) + 3}"}
    )
    assert response.content == data[1 << 20 : (2 << 20) + 4]


async def test_concurrent_chunks_at_one_offset(registry: Registry, client: httpx.AsyncClient) -> None:
    location = await registry.start_upload("race")
    first, second = b"a" * 10, b"b" * 10
    responses = await asyncio.gather(
        client.patch(location, content=first, headers={"Content-Range": "0-9"}),
        client.patch(location, content=second, headers={"Content-Range": "0-9"}),
    )
    assert sorted(r.status_code for r in responses) == [202, 416]
    winner = first if responses[0].status_code == 202 else second
    assert (await client.get(location)).headers["range"] == "0-9"
    assert (await client.put(location, params={"digest": digest_of(winner)})).status_code == 201
    assert (await client.get(f"/v2/race/blobs/{digest_of(winner)}")).content == winner
