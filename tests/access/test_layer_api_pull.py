"""One model of an image: layers uploaded with ECR's layer API and PutImage, pulled and run by docker."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from e2e.support import LocalImages

from .conftest import ACCOUNT_A, Registry

pytestmark = pytest.mark.e2e
PART = 5 * 1024 * 1024  # ECR's smallest part but the last


def upload_layer(ecr: Any, repository: str, data: bytes) -> str:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    upload = ecr.initiate_layer_upload(repositoryName=repository)["uploadId"]
    for first in range(0, len(data), PART):
        part = data[first : first + PART]
        ecr.upload_layer_part(
            repositoryName=repository,
            uploadId=upload,
            partFirstByte=first,
            partLastByte=first + len(part) - 1,
            layerPartBlob=part,
        )
    done = ecr.complete_layer_upload(repositoryName=repository, uploadId=upload, layerDigests=[digest])
    assert done["layerDigest"] == digest
    return digest


def test_an_image_uploaded_through_the_layer_api_is_pulled_and_run_by_docker(
    registry: Registry, images: LocalImages, docker_for: Any
) -> None:
    root = registry.roots[ACCOUNT_A]
    ecr = registry.ecr(root)
    ecr.create_repository(repositoryName="layer-api/busybox")
    manifest_bytes = images.manifest("busybox")
    manifest = json.loads(manifest_bytes)
    blobs = images.layout / "blobs" / "sha256"
    for descriptor in [manifest["config"], *manifest["layers"]]:
        data = (blobs / descriptor["digest"].split(":", 1)[1]).read_bytes()
        assert upload_layer(ecr, "layer-api/busybox", data) == descriptor["digest"]
    pushed = ecr.put_image(
        repositoryName="layer-api/busybox",
        imageManifest=manifest_bytes.decode(),
        imageManifestMediaType="application/vnd.oci.image.manifest.v1+json",
        imageTag="v1",
    )
    digest = pushed["image"]["imageId"]["imageDigest"]
    assert digest == "sha256:" + hashlib.sha256(manifest_bytes).hexdigest()

    docker = docker_for("layer-api")
    password = registry.password(root)
    docker("login", "--username", "AWS", "--password-stdin", registry.host(ACCOUNT_A), input_text=password)
    image = registry.ref(ACCOUNT_A, "layer-api/busybox", "v1")
    docker("pull", image)
    repo_digests = docker("inspect", "--format", "{{json .RepoDigests}}", image).stdout
    assert f"{registry.host(ACCOUNT_A)}/layer-api/busybox@{digest}" in json.loads(repo_digests)
    ran = docker("run", "--rm", "--network", "none", image)
    assert ran.stdout.strip() == "hello-from-busybox"
