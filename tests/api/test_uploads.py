"""Upload sessions under stress: broken bodies, client disconnects, restarts, sha512, empty blobs,
expiry, and repositories that must exist before a push."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from .conftest import (
    OCI_CONFIG,
    OCI_MANIFEST,
    Registry,
    RunApp,
    descriptor,
    digest_of,
    error_code,
    raw_request,
)

VALID_MANIFEST = json.dumps(
    {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": descriptor(OCI_CONFIG, b"{}"), "layers": []}
).encode()
EMPTY_SHA256 = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


async def upload_range(client: httpx.AsyncClient, location: str) -> str:
    response = await client.get(location)
    assert response.status_code == 204
    value: str = response.headers["range"]
    return value


async def finish(registry: Registry, location: str, data: bytes, repo: str) -> None:
    """Complete the upload holding ``data[:10]`` with the rest, and check what the registry serves."""
    response = await registry.http.patch(
        location, content=data[10:], headers={"Content-Range": f"10-{len(data) - 1}"}
    )
    assert response.status_code == 202, response.text
    response = await registry.http.put(location, params={"digest": digest_of(data)})
    assert response.status_code == 201, response.text
    assert (await registry.http.get(f"/v2/{repo}/blobs/{digest_of(data)}")).content == data
    await registry.assert_no_uploads_left()


class BodyFailed(Exception):
    pass


@pytest.mark.parametrize("sent", [100, 1_500_000], ids=["before-a-write", "after-a-write"])
async def test_body_failing_midway_does_not_advance_the_upload(registry: Registry, sent: int) -> None:
    client = registry.http
    data = os.urandom(10) + os.urandom(2_000_000)
    location = await registry.start_upload("broken")
    await client.patch(location, content=data[:10], headers={"Content-Range": "0-9"})

    async def failing_body() -> AsyncIterator[bytes]:
        for start in range(10, 10 + sent, 500_000):
            yield os.urandom(min(500_000, 10 + sent - start))  # garbage: it must never count
        raise BodyFailed

    try:
        response = await client.patch(location, content=failing_body())
    except BodyFailed:
        pass  # the transport may hand the client's own error back
    else:
        assert response.status_code >= 400
    assert await upload_range(client, location) == "0-9"
    await finish(registry, location, data, "broken")


async def test_client_disconnect_midway(registry: Registry) -> None:
    data = os.urandom(3_000_000)
    location = await registry.start_upload("gone")
    await registry.http.patch(location, content=data[:10], headers={"Content-Range": "0-9"})
    status, _ = await raw_request(
        registry.app,
        "PATCH",
        location,
        {"content-length": str(len(data) - 10), "content-range": f"10-{len(data) - 1}"},
        [data[10:1_200_000], os.urandom(100_000)],
        disconnect=True,
    )
    assert 400 <= status < 500
    assert await upload_range(registry.http, location) == "0-9"
    await finish(registry, location, data, "gone")


@pytest.mark.parametrize(("declared", "sent"), [(100, 40), (10, 50)], ids=["short-body", "long-body"])
async def test_body_not_matching_content_length(registry: Registry, declared: int, sent: int) -> None:
    data = os.urandom(200)
    location = await registry.start_upload("length")
    await registry.http.patch(location, content=data[:10], headers={"Content-Range": "0-9"})
    status, _ = await raw_request(
        registry.app, "PATCH", location, {"content-length": str(declared)}, [os.urandom(sent)]
    )
    assert status == 400
    assert await upload_range(registry.http, location) == "0-9"
    await finish(registry, location, data, "length")


async def test_short_final_chunk_then_retry(registry: Registry) -> None:
    data = os.urandom(100)
    location = await registry.start_upload("final")
    await registry.http.patch(location, content=data[:10], headers={"Content-Range": "0-9"})
    status, _ = await raw_request(
        registry.app,
        "PUT",
        f"{location}?digest={digest_of(data)}",
        {"content-length": "90", "content-range": "10-99"},
        [data[10:50]],
    )
    assert status == 400
    assert (await registry.http.head(f"/v2/final/blobs/{digest_of(data)}")).status_code == 404
    assert await upload_range(registry.http, location) == "0-9"
    response = await registry.http.put(
        location, params={"digest": digest_of(data)}, content=data[10:], headers={"Content-Range": "10-99"}
    )
    assert response.status_code == 201
    assert (await registry.http.get(f"/v2/final/blobs/{digest_of(data)}")).content == data


@pytest.mark.parametrize("content_range", ["0-99", "0-4", "5-14", "9-0", "bytes=abc", "0-"])
async def test_content_range_not_matching_the_chunk(registry: Registry, content_range: str) -> None:
    data = os.urandom(30)
    location = await registry.start_upload("mismatch")
    await registry.http.patch(location, content=data[:10], headers={"Content-Range": "0-9"})
    response = await registry.http.patch(
        location, content=data[10:20], headers={"Content-Range": content_range}
    )
    assert response.status_code == 416
    assert error_code(response) == "BLOB_UPLOAD_INVALID"
    assert await upload_range(registry.http, location) == "0-9"
    await finish(registry, location, data, "mismatch")


async def test_upload_survives_a_restart(run_app: RunApp) -> None:
    data = os.urandom(1_500_000)
    async with run_app() as first:
        location = await first.start_upload("restart")
        response = await first.http.patch(
            location, content=data[:700_000], headers={"Content-Range": "0-699999"}
        )
        assert response.status_code == 202
    async with run_app() as second:
        assert await upload_range(second.http, location) == "0-699999"
        response = await second.http.patch(
            location, content=data[700_000:], headers={"Content-Range": f"700000-{len(data) - 1}"}
        )
        assert response.status_code == 202
        wrong = await second.http.put(location, params={"digest": digest_of(data + b"x")})
        assert wrong.status_code == 400
        assert error_code(wrong) == "DIGEST_INVALID"
        await second.assert_no_uploads_left()

        location = await second.start_upload("restart")
        await second.http.patch(location, content=data[:10])
    async with run_app() as third:
        assert await upload_range(third.http, location) == "0-9"
        await finish(third, location, data, "restart")


async def test_upload_ids_belong_to_their_repository(registry: Registry) -> None:
    location = await registry.start_upload("owner")
    await registry.push_blob("intruder", b"exists")
    upload_id = location.rsplit("/", 1)[1]
    for method in ("GET", "PATCH", "PUT", "DELETE"):
        response = await registry.http.request(
            method, f"/v2/intruder/blobs/uploads/{upload_id}", params={"digest": digest_of(b"")}
        )
        assert response.status_code == 404, method
        assert error_code(response) == "BLOB_UPLOAD_UNKNOWN"
    assert await upload_range(registry.http, location) == "0-0"


# -- sha512 and empty blobs --------------------------------------------------------------------------


async def test_sha512_uploads(registry: Registry) -> None:
    client = registry.http
    data = os.urandom(5000)
    digest = await registry.push_blob("five", data, "sha512")
    response = await client.get(f"/v2/five/blobs/{digest}")
    assert response.content == data
    assert response.headers["docker-content-digest"] == digest

    other = os.urandom(3000)
    location = await registry.start_upload("five")
    await client.patch(location, content=other[:1000], headers={"Content-Range": "0-999"})
    await client.patch(location, content=other[1000:], headers={"Content-Range": "1000-2999"})
    wrong = await client.put(location, params={"digest": digest_of(data, "sha512")})
    assert wrong.status_code == 400
    assert error_code(wrong) == "DIGEST_INVALID"
    await registry.assert_no_blob("five", digest_of(other, "sha512"))

    location = await registry.start_upload("five")
    await client.patch(location, content=other)
    response = await client.put(location, params={"digest": digest_of(other, "sha512")})
    assert response.status_code == 201
    assert (await client.get(f"/v2/five/blobs/{digest_of(other, 'sha512')}")).content == other
    assert (await client.head(f"/v2/five/blobs/{digest_of(other)}")).status_code == 404  # not under sha256
    await registry.assert_no_uploads_left()


@pytest.mark.parametrize("algorithm", ["sha256", "sha512"])
async def test_zero_length_blob(registry: Registry, algorithm: str) -> None:
    client = registry.http
    digest = await registry.push_blob("empty", b"", algorithm)
    if algorithm == "sha256":
        assert digest == EMPTY_SHA256
    response = await client.get(f"/v2/empty/blobs/{digest}")
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["content-length"] == "0"
    head = await client.head(f"/v2/empty/blobs/{digest}")
    assert (head.status_code, head.headers["content-length"]) == (200, "0")
    suffix = await client.get(f"/v2/empty/blobs/{digest}", headers={"Range": "bytes=-5"})
    assert (suffix.status_code, suffix.content) == (200, b"")
    past = await client.get(f"/v2/empty/blobs/{digest}", headers={"Range": "bytes=0-"})
    assert past.status_code == 416
    assert past.headers["content-range"] == "bytes */0"


async def test_zero_length_blob_through_a_session(registry: Registry) -> None:
    location = await registry.start_upload("empty")
    response = await registry.http.put(location, params={"digest": EMPTY_SHA256})
    assert response.status_code == 201
    assert (await registry.http.get(f"/v2/empty/blobs/{EMPTY_SHA256}")).content == b""
    await registry.assert_no_uploads_left()


# -- expiry ------------------------------------------------------------------------------------------


class ManualClock:
    def __init__(self) -> None:
        self.current = datetime(2026, 6, 1, tzinfo=UTC)

    def now(self) -> datetime:
        return self.current


async def test_idle_uploads_expire(run_app: RunApp) -> None:
    clock = ManualClock()
    async with run_app(clock=clock) as registry:
        client = registry.http
        idle = await registry.start_upload("exp")
        await client.patch(idle, content=b"abandoned")
        clock.current += timedelta(hours=23)
        busy = await registry.start_upload("exp")
        await client.patch(busy, content=b"still going")
        clock.current += timedelta(hours=2)
        assert await registry.services.registry.expire_uploads() == 1
        assert (await client.get(idle)).status_code == 404
        assert (await client.get(busy)).status_code == 204
        assert await registry.upload_sessions() == [busy.rsplit("/", 1)[1]]
        assert {path.split("/")[1] for path in registry.upload_files()} == {busy.rsplit("/", 1)[1]}


async def test_scratch_of_an_interrupted_single_request_upload_is_swept(run_app: RunApp) -> None:
    clock = ManualClock()
    async with run_app(clock=clock) as registry:
        scratch = registry.settings.blob_root / "uploads" / "direct-left-by-a-crash"
        scratch.parent.mkdir(parents=True, exist_ok=True)
        scratch.write_bytes(b"half a blob")
        written = clock.current.timestamp()
        os.utime(scratch, (written, written))
        assert await registry.services.registry.expire_uploads() == 0
        clock.current += timedelta(hours=25)
        assert await registry.services.registry.expire_uploads() == 1
        assert not scratch.exists()


# -- create_on_push ----------------------------------------------------------------------------------


async def test_push_to_an_unknown_repository_without_create_on_push(run_app: RunApp) -> None:
    async with run_app(create_on_push=False) as registry:
        client = registry.http
        digest = digest_of(b"data")
        attempts = [
            await client.post("/v2/unknown/blobs/uploads/"),
            await client.post("/v2/unknown/blobs/uploads/", params={"digest": digest}, content=b"data"),
            await client.post("/v2/unknown/blobs/uploads/", params={"mount": digest}),
            await registry.put_manifest("unknown", "v1", VALID_MANIFEST, OCI_MANIFEST),
        ]
        for response in attempts:
            assert response.status_code == 404
            assert error_code(response) == "NAME_UNKNOWN"
        assert (await client.get("/v2/_catalog")).json()["repositories"] == []
        await registry.assert_no_uploads_left()

        account = await registry.services.registry_access.default_account()
        await registry.services.registry.create_repository(account, "known")
        image = await registry.push_image("known", "v1")
        assert (await client.get("/v2/known/manifests/v1")).content == image.body
