"""The integrity checks botocore puts on Dockyard's uploads to S3: over plain http the signed SHA-256 of
every body (which the store verifies), over TLS a CRC32 as well."""

from __future__ import annotations

import hashlib
import os
from typing import Any

import pytest

from dockyard.blobstore.s3 import S3Driver, checksum_calculation
from s3_target import S3Target, unique_prefix

MIB = 1 << 20


def test_a_crc32_is_added_over_tls_only() -> None:
    assert checksum_calculation("http://127.0.0.1:9000") == "when_required"
    assert checksum_calculation("HTTP://minio.internal:9000") == "when_required"
    assert checksum_calculation("https://s3.eu-west-1.amazonaws.com") == "when_supported"
    assert checksum_calculation(None) == "when_supported"  # AWS's own endpoints: https


async def test_parts_sent_over_plain_http_carry_their_signed_sha256_and_no_crc32(s3_target: S3Target) -> None:
    if not s3_target.endpoint_url.startswith("http://"):
        pytest.skip("the S3 target is not on plain http")
    driver = S3Driver(s3_target.config(unique_prefix()))
    sent: list[tuple[dict[str, str], bytes]] = []

    def capture(request: Any, **_: Any) -> None:
        headers = {k.lower(): v.decode() if isinstance(v, bytes) else v for k, v in request.headers.items()}
        body = request.body if isinstance(request.body, bytes) else request.body.read()
        if hasattr(request.body, "seek"):
            request.body.seek(0)
        sent.append((headers, body))

    driver.client.meta.events.register("before-send.s3.UploadPart", capture)
    driver.client.meta.events.register("before-send.s3.PutObject", capture)
    data = os.urandom(5 * MIB + 3)
    writer = await driver.writer("uploads/u1/data")
    await writer.write(data)
    await writer.save()
    await writer.commit("blobs/sha256/ab/checked")
    assert sent, "no upload went out"
    assert sum(len(body) for _, body in sent) >= len(data)
    for headers, body in sent:
        assert headers["x-amz-content-sha256"] == hashlib.sha256(body).hexdigest()
        assert not [name for name in headers if name.startswith("x-amz-checksum")]
        assert "x-amz-sdk-checksum-algorithm" not in headers
    assert await driver.stat("blobs/sha256/ab/checked") == len(data)
