"""``dockyard serve`` with blobs in S3 (moto's server on loopback, or ``DOCKYARD_TEST_S3_*``): skopeo pushes,
then skopeo, podman and Docker Engine pull. With redirects on, every blob GET answers 307 to a presigned
S3 URL that the clients follow and verify; with them off, the registry proxies the bytes."""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from s3_target import S3Target, unique_prefix

from .shared import umoci_config
from .support import (
    LocalImages,
    Registry,
    Tool,
    oci_layout_manifest,
    run,
    server_problems,
    sha256,
    start_registry,
    stop,
    verify_oci_layout,
)

pytestmark = pytest.mark.e2e


@pytest.fixture(params=[True, False], ids=["redirect", "proxy"])
def s3_registry(request: pytest.FixtureRequest, tmp_path: Path, s3_target: S3Target) -> Iterator[Registry]:
    settings = {**s3_target.settings(unique_prefix()), "redirect": request.param}
    config = tmp_path / "dockyard.toml"
    config.write_text("".join(f"{key} = {json.dumps(value)}\n" for key, value in settings.items()))
    server = start_registry(tmp_path / "server", "--config", str(config))
    try:
        yield server.registry
        assert server.process.poll() is None, "dockyard serve exited during the test"
        problems = server_problems(server.registry, 0)
        assert not problems, "\n".join(problems[:20])
    finally:
        server.registry.client.close()
        stop(server.process)


@pytest.fixture
def unique_image(images: LocalImages, tmp_path: Path) -> tuple[LocalImages, str]:
    """The busybox image plus a layer no client has seen (so every client downloads it); its command
    prints the returned text."""
    layout = tmp_path / "layout"
    shutil.copytree(images.layout, layout)
    text = f"from s3 {uuid.uuid4().hex}"
    bundle = tmp_path / "bundle"
    run(["umoci", "unpack", "--image", f"{layout}:busybox", bundle])
    (bundle / "rootfs" / "s3.txt").write_text(text + "\n")
    run(["umoci", "repack", "--image", f"{layout}:s3", bundle])
    umoci_config(f"{layout}:s3", cmd=("cat", "/s3.txt"))
    return LocalImages(layout), text


def blob_gets(registry: Registry, offset: int, digest: str) -> list[int]:
    return [
        int(entry["status"])
        for entry in registry.requests_since(offset)
        if entry["method"] == "GET" and entry["path"].endswith(f"/blobs/{digest}")
    ]


def test_push_and_pull_with_blobs_in_s3(
    s3_registry: Registry,
    unique_image: tuple[LocalImages, str],
    skopeo: Tool,
    podman: Tool,
    docker: Tool,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    registry, (local, text) = s3_registry, unique_image
    redirect = "redirect" in request.node.callspec.id
    target = registry.ref("e2e/s3", "1")
    skopeo("copy", "--dest-tls-verify=false", local.ref("s3"), f"docker://{target}")
    manifest = registry.manifest("e2e/s3", "1")
    assert manifest.content == local.manifest("s3")
    layer = json.loads(manifest.content)["layers"][-1]["digest"]

    offset = registry.log_offset()
    pulled = tmp_path / "pulled"
    skopeo("copy", "--src-tls-verify=false", f"docker://{target}", f"oci:{pulled}:1")
    verify_oci_layout(pulled)
    assert oci_layout_manifest(pulled, "1") == manifest.content
    podman("pull", "--tls-verify=false", target)
    assert podman("image", "inspect", "--format", "{{.Digest}}", target).stdout.strip() == manifest.digest
    podman("rmi", target)
    assert f"Digest: {manifest.digest}" in docker("pull", target).stdout
    assert docker("run", "--rm", "--network", "none", target).stdout == text + "\n"
    docker("rmi", target)

    statuses = blob_gets(registry, offset, layer)
    assert len(statuses) >= 3, statuses  # skopeo, podman and docker each fetched the new layer
    assert set(statuses) == ({307} if redirect else {200}), statuses
    if redirect:
        response = registry.client.get(f"/v2/e2e/s3/blobs/{layer}")
        assert response.status_code == 307
        fetched = registry.client.get(response.headers["location"])
        assert sha256(fetched.content) == layer
