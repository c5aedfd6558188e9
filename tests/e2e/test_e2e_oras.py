"""The oras Python SDK against dockyard: push files as an OCI artifact, list tags, read the manifest, pull."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import oras.client
import pytest

from .support import OCI_MANIFEST, Registry, sha256

pytestmark = pytest.mark.e2e
TITLE = "org.opencontainers.image.title"
CHUNK = 64 * 1024


@pytest.mark.parametrize("chunked", [False, True], ids=["monolithic", "chunked"])
def test_oras_push_tags_manifest_pull(
    registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunked: bool
) -> None:
    source = tmp_path / "source"
    source.mkdir()
    files = {
        "artifact.txt": b"an artifact pushed by oras\n",
        # Several chunks of the chunked upload, and not a multiple of the chunk size.
        "blob.bin": os.urandom(200_000) + hashlib.sha256(str(chunked).encode()).digest(),
    }
    for name, data in files.items():
        (source / name).write_bytes(data)
    monkeypatch.chdir(source)  # oras titles layers with the paths it is given, relative to here
    for variable in ("NO_PROXY", "no_proxy"):  # requests would send 127.0.0.1 through a configured proxy
        monkeypatch.setenv(variable, "127.0.0.1,localhost")

    client = oras.client.OrasClient(hostname=registry.host, insecure=True)
    tag = "chunked" if chunked else "monolithic"
    target = f"{registry.host}/e2e/oras:{tag}"
    offset = registry.log_offset()
    response = client.push(files=list(files), target=target, do_chunked=chunked, chunk_size=CHUNK)
    assert response.status_code == 201
    patches = [e for e in registry.requests_since(offset) if e["method"] == "PATCH"]
    if chunked:  # blob.bin goes up in several PATCHes
        assert len(patches) >= len(files["blob.bin"]) // CHUNK
    else:  # POST + PUT ?digest=, no PATCH
        assert patches == []

    assert tag in client.get_tags(f"{registry.host}/e2e/oras")
    manifest = client.get_manifest(target)
    titles = {layer["annotations"][TITLE]: layer for layer in manifest["layers"]}
    assert set(titles) == set(files)
    for name, data in files.items():
        assert titles[name]["digest"] == sha256(data)
        assert titles[name]["size"] == len(data)

    stored = registry.verify_image("e2e/oras", tag)
    assert stored.json == manifest
    assert stored.media_type == OCI_MANIFEST
    assert response.headers["Docker-Content-Digest"] == stored.digest

    out = tmp_path / "out"
    pulled = client.pull(target=target, outdir=str(out))
    assert sorted(Path(p).name for p in pulled) == sorted(files)
    for name, data in files.items():
        assert (out / name).read_bytes() == data
