"""ECR's layer API with blobs in S3: GetDownloadUrlForLayer hands out a presigned S3 URL (as ECR does), and
layers uploaded in parts land in the bucket."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from dockyard.config import Settings
from s3_target import S3Target, unique_prefix

from .support import Server, digest_of, serve
from .test_layers import MIB, upload


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path, s3_target: S3Target
) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp("ecr-s3-data")
    (data_dir / "dockyard.db").write_bytes(sqlite_template.read_bytes())
    with serve(
        Settings(data_dir=data_dir, access_log=False, **s3_target.settings(unique_prefix()))
    ) as running:
        yield running


def presigned_bytes(url: str, endpoint: str) -> bytes:
    assert url.startswith(f"{endpoint}/"), url
    assert parse_qs(urlsplit(url).query)["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    response = httpx.get(url, trust_env=False)  # no credentials: the URL is signed
    assert response.status_code == 200
    return response.content


def test_download_url_is_a_presigned_s3_url(server: Server, ecr: Any, repo: str, s3_target: S3Target) -> None:
    data = os.urandom(4000)
    digest = server.push_blob(repo, data)
    answer = ecr.get_download_url_for_layer(repositoryName=repo, layerDigest=digest)
    assert answer["layerDigest"] == digest
    assert presigned_bytes(answer["downloadUrl"], s3_target.endpoint_url) == data
    with pytest.raises(ecr.exceptions.LayersNotFoundException):
        ecr.get_download_url_for_layer(repositoryName=repo, layerDigest=digest_of(b"absent"))


def test_a_layer_uploaded_in_parts_lands_in_the_bucket(ecr: Any, repo: str, s3_target: S3Target) -> None:
    data = os.urandom(12 * MIB + 77)
    upload(ecr, repo, data, part=5 * MIB)
    url = ecr.get_download_url_for_layer(repositoryName=repo, layerDigest=digest_of(data))["downloadUrl"]
    assert presigned_bytes(url, s3_target.endpoint_url) == data


def test_an_image_in_s3_is_scanned(server: Server, ecr: Any, repo: str, tmp_path: Path) -> None:
    """The scanner reads layers the blob store has no local file for (they are copied to scratch first)."""
    from .test_scanning import push, ubuntu_layers, wait_scanned

    ecr.put_image_scanning_configuration(repositoryName=repo, imageScanningConfiguration={"scanOnPush": True})
    digest = push(server, repo, "bionic", ubuntu_layers())
    found = wait_scanned(ecr, repo, digest)
    assert found["imageScanStatus"]["status"] == "COMPLETE"
    assert not list((server.settings.data_dir / "scan-scratch").iterdir())  # scratch copies are removed
    sbom = server.http.get(f"/dockyard/v1/sbom/{repo}/{digest}", params={"format": "spdx"}).json()
    assert {"apt", "Flask"} <= {p["name"] for p in sbom["packages"]}
