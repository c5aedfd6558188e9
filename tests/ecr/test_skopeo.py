"""skopeo against the same server: an image uploaded through the ECR layer API and PutImage is pulled by
skopeo with the same digests, and an image skopeo pushes shows up in DescribeImages."""

from __future__ import annotations

import gzip
import io
import json
import os
import shutil
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import pytest

from .support import OCI_CONFIG, OCI_LAYER, OCI_MANIFEST, Server, descriptor, digest_of
from .test_layers import upload

pytestmark = pytest.mark.skipif(shutil.which("skopeo") is None, reason="skopeo is not installed")


def skopeo(home: Path, *args: str) -> None:
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(home), "XDG_RUNTIME_DIR": str(home)}
    done = subprocess.run(
        ["skopeo", *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr


def layer_tar() -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        data = b"hello from an ECR upload\n"
        info = tarfile.TarInfo("hello.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), mtime=0)


def test_skopeo_pulls_an_ecr_upload_and_pushes_an_image(
    server: Server, ecr: Any, repo: str, tmp_path: Path
) -> None:
    layer = layer_tar()
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [digest_of(gzip.decompress(layer))]},
        }
    ).encode()
    upload(ecr, repo, config)
    upload(ecr, repo, layer)
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": descriptor(OCI_CONFIG, config),
            "layers": [descriptor(OCI_LAYER, layer)],
        }
    )
    ecr.put_image(repositoryName=repo, imageManifest=manifest, imageTag="v1")
    host = server.url.removeprefix("http://")
    layout = tmp_path / "layout"
    skopeo(tmp_path, "copy", "--src-tls-verify=false", f"docker://{host}/{repo}:v1", f"oci:{layout}:v1")
    index = json.loads((layout / "index.json").read_text())
    assert index["manifests"][0]["digest"] == digest_of(manifest.encode())
    blob = layout / "blobs" / "sha256" / digest_of(layer).split(":")[1]
    assert blob.read_bytes() == layer

    target = f"{repo}-copy"
    skopeo(tmp_path, "copy", "--dest-tls-verify=false", f"oci:{layout}:v1", f"docker://{host}/{target}:v1")
    detail = ecr.describe_images(repositoryName=target)["imageDetails"][0]
    assert detail["imageDigest"] == digest_of(manifest.encode())
    assert detail["imageTags"] == ["v1"]
    assert detail["imageSizeInBytes"] == len(config) + len(layer)
