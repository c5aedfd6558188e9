"""The ECR layer API: availability, download URLs, and uploads in parts; an image uploaded this way and
put with PutImage is pulled over /v2/ with the same digests."""

from __future__ import annotations

import hashlib
import json
import os
import urllib.parse
from typing import Any

import pytest

from .support import ACCOUNT, OCI_CONFIG, OCI_LAYER, OCI_MANIFEST, Server, descriptor, digest_of
from .test_repositories import error

MIB = 1024 * 1024


def upload(ecr: Any, repo: str, data: bytes, part: int | None = None) -> str:
    started = ecr.initiate_layer_upload(repositoryName=repo)
    assert started["partSize"] == 10 * MIB
    upload_id = started["uploadId"]
    size = part or max(len(data), 1)
    for first in range(0, len(data), size):
        chunk = data[first : first + size]
        answer = ecr.upload_layer_part(
            repositoryName=repo,
            uploadId=upload_id,
            partFirstByte=first,
            partLastByte=first + len(chunk) - 1,
            layerPartBlob=chunk,
        )
        assert answer["lastByteReceived"] == first + len(chunk) - 1
        assert (answer["registryId"], answer["repositoryName"], answer["uploadId"]) == (
            ACCOUNT,
            repo,
            upload_id,
        )
    done = ecr.complete_layer_upload(repositoryName=repo, uploadId=upload_id, layerDigests=[digest_of(data)])
    assert done["layerDigest"] == digest_of(data)
    return upload_id


def test_image_uploaded_through_ecr_is_pulled_over_v2(server: Server, ecr: Any, repo: str) -> None:
    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers"}}).encode()
    layer = os.urandom(11 * MIB + 123)
    upload(ecr, repo, config)
    upload(ecr, repo, layer, part=5 * MIB)
    document = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": descriptor(OCI_CONFIG, config),
        "layers": [descriptor(OCI_LAYER, layer)],
    }
    manifest = json.dumps(document, indent=2)
    image = ecr.put_image(repositoryName=repo, imageManifest=manifest, imageTag="v1")["image"]
    digest = digest_of(manifest.encode())
    assert image["imageId"] == {"imageDigest": digest, "imageTag": "v1"}
    pulled = server.http.get(f"/v2/{repo}/manifests/v1", headers={"Accept": OCI_MANIFEST})
    assert pulled.headers["docker-content-digest"] == digest
    assert pulled.content == manifest.encode()
    blob = server.http.get(f"/v2/{repo}/blobs/{digest_of(layer)}")
    assert hashlib.sha256(blob.content).hexdigest() == digest_of(layer).split(":")[1]
    detail = ecr.describe_images(repositoryName=repo)["imageDetails"][0]
    assert detail["imageSizeInBytes"] == len(config) + len(layer)


def test_layer_availability_and_download_url(server: Server, ecr: Any, repo: str) -> None:
    data = b"layer bytes " * 100
    present = server.push_blob(repo, data)
    missing = digest_of(b"absent")
    answer = ecr.batch_check_layer_availability(
        repositoryName=repo, layerDigests=[present, missing, "sha256:zz"]
    )
    assert answer["layers"] == [
        {"layerDigest": present, "layerAvailability": "AVAILABLE", "layerSize": len(data)},
        {"layerDigest": missing, "layerAvailability": "UNAVAILABLE"},
    ]
    assert [f["failureCode"] for f in answer["failures"]] == ["InvalidLayerDigest"]
    url = ecr.get_download_url_for_layer(repositoryName=repo, layerDigest=present)
    assert url["layerDigest"] == present
    fetched = server.http.get(url["downloadUrl"])  # no credentials: the URL is signed
    assert (fetched.status_code, fetched.content) == (200, data)
    ranged = server.http.get(url["downloadUrl"], headers={"Range": "bytes=0-4"})
    assert (ranged.status_code, ranged.content) == (206, data[:5])
    parts = urllib.parse.urlsplit(url["downloadUrl"])
    query = dict(urllib.parse.parse_qsl(parts.query))
    for tampered in (
        {**query, "digest": missing},
        {**query, "expires": str(int(query["expires"]) + 60)},
        {**query, "expires": "1"},
    ):
        response = server.http.get(f"{parts.path}?{urllib.parse.urlencode(tampered)}")
        assert response.status_code == 403
    with pytest.raises(ecr.exceptions.LayersNotFoundException):
        ecr.get_download_url_for_layer(repositoryName=repo, layerDigest=missing)


def test_parts_must_arrive_in_order(ecr: Any, repo: str) -> None:
    upload_id = ecr.initiate_layer_upload(repositoryName=repo)["uploadId"]
    ecr.upload_layer_part(
        repositoryName=repo, uploadId=upload_id, partFirstByte=0, partLastByte=9, layerPartBlob=b"0" * 10
    )
    with pytest.raises(ecr.exceptions.InvalidLayerPartException) as caught:
        ecr.upload_layer_part(
            repositoryName=repo,
            uploadId=upload_id,
            partFirstByte=20,
            partLastByte=29,
            layerPartBlob=b"1" * 10,
        )
    assert caught.value.response["lastValidByteReceived"] == 9
    with pytest.raises(ecr.exceptions.InvalidLayerPartException):  # length does not match the range
        ecr.upload_layer_part(
            repositoryName=repo,
            uploadId=upload_id,
            partFirstByte=10,
            partLastByte=29,
            layerPartBlob=b"1" * 10,
        )
    ecr.upload_layer_part(
        repositoryName=repo, uploadId=upload_id, partFirstByte=10, partLastByte=19, layerPartBlob=b"1" * 10
    )
    whole = digest_of(b"0" * 10 + b"1" * 10)
    with pytest.raises(ecr.exceptions.LayerPartTooSmallException):  # the first part was small and not last
        ecr.complete_layer_upload(repositoryName=repo, uploadId=upload_id, layerDigests=[whole])


def test_completion_errors(server: Server, ecr: Any, repo: str) -> None:
    empty = ecr.initiate_layer_upload(repositoryName=repo)["uploadId"]
    with pytest.raises(ecr.exceptions.EmptyUploadException):
        ecr.complete_layer_upload(repositoryName=repo, uploadId=empty, layerDigests=[digest_of(b"")])
    wrong = ecr.initiate_layer_upload(repositoryName=repo)["uploadId"]
    ecr.upload_layer_part(
        repositoryName=repo, uploadId=wrong, partFirstByte=0, partLastByte=2, layerPartBlob=b"abc"
    )
    with pytest.raises(ecr.exceptions.InvalidLayerException):
        ecr.complete_layer_upload(repositoryName=repo, uploadId=wrong, layerDigests=[digest_of(b"xyz")])
    assert server.http.head(f"/v2/{repo}/blobs/{digest_of(b'abc')}").status_code == 404
    with pytest.raises(ecr.exceptions.UploadNotFoundException):  # a failed completion ends the session
        ecr.complete_layer_upload(repositoryName=repo, uploadId=wrong, layerDigests=[digest_of(b"abc")])
    upload(ecr, repo, b"abc")
    again = ecr.initiate_layer_upload(repositoryName=repo)["uploadId"]
    ecr.upload_layer_part(
        repositoryName=repo, uploadId=again, partFirstByte=0, partLastByte=2, layerPartBlob=b"abc"
    )
    with pytest.raises(ecr.exceptions.LayerAlreadyExistsException):
        ecr.complete_layer_upload(repositoryName=repo, uploadId=again, layerDigests=[digest_of(b"abc")])
    with pytest.raises(ecr.exceptions.UploadNotFoundException) as caught:
        ecr.upload_layer_part(
            repositoryName=repo,
            uploadId="00000000-0000-0000-0000-000000000000",
            partFirstByte=0,
            partLastByte=0,
            layerPartBlob=b"a",
        )
    assert "00000000-0000-0000-0000-000000000000" in error(caught)[2]
