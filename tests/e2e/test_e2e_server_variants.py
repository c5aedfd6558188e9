"""The same round trip under ``dockyard serve --server uvicorn`` (granian is the default elsewhere)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from .support import (
    OCI_MANIFEST,
    LocalImages,
    Registry,
    ServerProcess,
    Tool,
    oci_layout_manifest,
    server_problems,
    start_registry,
    stop,
    verify_oci_layout,
)

pytestmark = pytest.mark.e2e


@pytest.fixture
def uvicorn_registry(tmp_path: Path) -> Iterator[Registry]:
    server: ServerProcess = start_registry(tmp_path / "uvicorn", "--server", "uvicorn")
    offset = 0
    try:
        yield server.registry
        assert server.process.poll() is None, "dockyard serve --server uvicorn exited during the test"
        problems = server_problems(server.registry, offset)
        assert not problems, "\n".join(problems[:20])
    finally:
        server.registry.client.close()
        stop(server.process)


def test_uvicorn_push_and_pull(
    uvicorn_registry: Registry, images: LocalImages, skopeo: Tool, tmp_path: Path
) -> None:
    registry = uvicorn_registry
    target = f"docker://{registry.ref('e2e/uvicorn', '1')}"
    skopeo("copy", "--dest-tls-verify=false", images.ref("busybox-3layer"), target)
    pushed = registry.verify_image("e2e/uvicorn", "1")
    assert pushed.content == images.manifest("busybox-3layer")
    assert pushed.media_type == OCI_MANIFEST

    layout = tmp_path / "pulled"
    skopeo("copy", "--src-tls-verify=false", target, f"oci:{layout}:1")
    verify_oci_layout(layout)
    assert oci_layout_manifest(layout, "1") == pushed.content
    assert len(json.loads(pushed.content)["layers"]) == 3
