"""Whatever a client sends, the answer is never a server error: on SQLite and on PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import OCI_MANIFEST, Registry, digest_of

DIGEST = digest_of(b"junk")
LONG = "a" * 5000

# (method, path, request options)
JUNK: list[tuple[str, str, dict[str, Any]]] = [
    ("GET", "/v2/%00/tags/list", {}),
    ("GET", "/v2/a%0A/tags/list", {}),
    ("GET", f"/v2/{LONG}/tags/list", {}),
    ("GET", "/v2/app/tags/list?n=-1", {}),
    ("GET", "/v2/app/tags/list?n=1e3", {}),
    ("GET", "/v2/app/tags/list?n=99999999999999999999999999", {}),
    ("GET", "/v2/app/tags/list?last=%00", {}),
    ("GET", "/v2/app/tags/list?n=1&last=%00zz", {}),
    ("GET", f"/v2/app/tags/list?last={LONG}", {}),
    ("GET", "/v2/_catalog?last=%00", {}),
    ("GET", "/v2/_catalog?n=%00", {}),
    ("GET", "/v2/_catalog?n=99999999999999999999999999", {}),
    ("GET", "/v2/app/manifests/%00", {}),
    ("GET", "/v2/app/manifests/sha256:%00", {}),
    ("GET", "/v2/app/manifests/bad:tag", {}),
    ("GET", "/v2/app/manifests/sha256:", {}),
    ("GET", f"/v2/app/manifests/sha256:{LONG}", {}),
    ("GET", "/v2/app/manifests/v1", {"headers": {"Accept": "\x01;;;,,,"}}),
    ("DELETE", "/v2/app/manifests/%00", {}),
    ("DELETE", "/v2/app/manifests/bad:tag", {}),
    ("PUT", "/v2/app/manifests/v1", {"content": b"\x00" * 100}),
    ("PUT", "/v2/app/manifests/v1", {"content": b'{"schemaVersion": 2, "mediaType": null, "config": {}}'}),
    ("PUT", "/v2/app/manifests/v1", {"content": b'{"schemaVersion": 2.0, "layers": [], "config": 1e999}'}),
    ("PUT", "/v2/app/manifests/v1", {"content": b'{"schemaVersion": 2, "manifests": [{}]}'}),
    ("PUT", "/v2/app/manifests/v1", {"content": b"{}", "headers": {"Content-Type": "\x00"}}),
    ("PUT", "/v2/app/manifests/v1", {"content": b"{}", "headers": {"Content-Length": "abc"}}),
    ("PUT", "/v2/app/manifests/v1", {"content": b"[" * 200_000}),
    ("PUT", "/v2/app/manifests/%00", {"content": b"{}"}),
    ("PUT", "/v2/app/manifests/sha999:abc", {"content": b"{}"}),
    ("PATCH", "/v2/app/manifests/v1", {}),
    ("POST", "/v2/app/manifests/v1", {}),
    ("GET", "/v2/app/blobs/%00", {}),
    ("GET", f"/v2/app/blobs/{DIGEST}", {"headers": {"Range": "bytes=99999999999999999999999-"}}),
    ("GET", f"/v2/app/blobs/{DIGEST}", {"headers": {"Range": "bytes=0-1,2-3"}}),
    ("GET", f"/v2/app/blobs/{DIGEST}", {"headers": {"Range": "\x00"}}),
    ("DELETE", "/v2/app/blobs/sha256:abc", {}),
    ("PUT", f"/v2/app/blobs/{DIGEST}", {"content": b"x"}),
    ("POST", "/v2/app/blobs/uploads/?mount=%00", {}),
    ("POST", "/v2/app/blobs/uploads/?mount=sha256:abc&from=%00", {}),
    ("POST", f"/v2/app/blobs/uploads/?mount={DIGEST}&from=../../etc", {}),
    ("POST", f"/v2/app/blobs/uploads/?mount={DIGEST}&from={LONG}", {}),
    ("POST", "/v2/app/blobs/uploads/?digest=", {"content": b"x"}),
    ("POST", "/v2/app/blobs/uploads/?digest=%00", {"content": b"x"}),
    ("POST", f"/v2/app/blobs/uploads/?digest={DIGEST}", {"content": b"x", "headers": {"Content-Range": "x"}}),
    ("POST", f"/v2/app/blobs/uploads/?digest={DIGEST}", {"headers": {"Content-Length": "-1"}}),
    ("GET", "/v2/app/blobs/uploads/%00", {}),
    ("GET", "/v2/app/blobs/uploads/..", {}),
    ("GET", f"/v2/app/blobs/uploads/{LONG}", {}),
    ("PATCH", "/v2/app/blobs/uploads/%00", {"content": b"x"}),
    ("PUT", f"/v2/app/blobs/uploads/%00?digest={DIGEST}", {}),
    ("DELETE", "/v2/app/blobs/uploads/%00", {}),
    ("PATCH", "{upload}", {"content": b"x", "headers": {"Content-Range": "0-99999999999999999999999"}}),
    (
        "PATCH",
        "{upload}",
        {"content": b"x", "headers": {"Content-Range": "99999999999999999999999-99999999999999999999999"}},
    ),
    ("PATCH", "{upload}", {"content": b"x", "headers": {"Content-Range": "-1-0"}}),
    ("PATCH", "{upload}", {"content": b"x", "headers": {"Content-Length": "99999999999999999999999"}}),
    ("PUT", "{upload}?digest=sha256:abc", {"content": b"x"}),
    ("PUT", "{upload}?digest=" + digest_of(b"x", "sha512"), {"content": b"y"}),
    ("GET", "/v2/app/referrers/%00", {}),
    ("GET", f"/v2/app/referrers/{DIGEST}?artifactType=%00", {}),
    ("GET", f"/v2/%00/referrers/{DIGEST}", {}),
    ("GET", "/v2/app/unknown-endpoint", {}),
    ("GET", "/v2/../../etc/passwd", {}),
    ("TRACE", "/v2/", {}),
]


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def test_no_request_gets_a_server_error(registry: Registry) -> None:
    await registry.push_image("app", "v1")
    upload = await registry.start_upload("app")
    failures = []
    for method, path, options in JUNK:
        response = await registry.http.request(method, path.replace("{upload}", upload), **options)
        if response.status_code >= 500:
            failures.append((method, path[:80], response.status_code, response.text[:200]))
    assert failures == []
    assert (
        await registry.http.get("/v2/app/manifests/v1", headers={"Accept": OCI_MANIFEST})
    ).status_code == 200
