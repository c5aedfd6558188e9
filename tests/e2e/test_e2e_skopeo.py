"""skopeo 1.9 against dockyard: push (OCI and Docker schema 2), pull to oci: and dir:, inspect, list-tags,
delete, copy between repositories (cross-repository mount) and multi-arch indexes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .support import (
    DOCKER_MANIFEST,
    OCI_INDEX,
    OCI_MANIFEST,
    LocalImages,
    Manifest,
    Registry,
    Tool,
    oci_layout_blob,
    oci_layout_manifest,
    sha256,
    verify_dir_transport,
    verify_oci_layout,
)

pytestmark = pytest.mark.e2e
NO_TLS = "--tls-verify=false"
SRC_NO_TLS = "--src-tls-verify=false"
DEST_NO_TLS = "--dest-tls-verify=false"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"


def docker_ref(registry: Registry, repository: str, reference: str) -> str:
    return f"docker://{registry.ref(repository, reference)}"


def layer_digests(manifest: dict[str, object]) -> list[str]:
    layers = manifest["layers"]
    assert isinstance(layers, list)
    return [layer["digest"] for layer in layers]


def test_push_oci_layout_keeps_the_manifest_bytes(
    registry: Registry, images: LocalImages, skopeo: Tool
) -> None:
    local = images.manifest("busybox-3layer")
    # umoci writes no top-level mediaType: the registry must take the type from Content-Type.
    assert "mediaType" not in json.loads(local)
    skopeo("copy", DEST_NO_TLS, images.ref("busybox-3layer"), docker_ref(registry, "e2e/skopeo-oci", "1"))

    pushed = registry.verify_image("e2e/skopeo-oci", "1")
    assert pushed.content == local
    assert pushed.digest == sha256(local)
    assert pushed.media_type == OCI_MANIFEST
    assert registry.tags("e2e/skopeo-oci") == ["1"]
    # The same manifest by digest.
    assert registry.manifest("e2e/skopeo-oci", pushed.digest).content == local


def test_push_docker_schema2_and_copy_back_out(
    registry: Registry, images: LocalImages, skopeo: Tool, tmp_path: Path
) -> None:
    ref = docker_ref(registry, "e2e/skopeo-v2s2", "1")
    skopeo("copy", "--format", "v2s2", DEST_NO_TLS, images.ref("busybox-3layer"), ref)

    pushed = registry.verify_image("e2e/skopeo-v2s2", "1")
    assert pushed.media_type == DOCKER_MANIFEST
    assert pushed.json["mediaType"] == DOCKER_MANIFEST
    assert {layer["mediaType"] for layer in pushed.json["layers"]} == {DOCKER_LAYER}
    # Conversion rewrites the manifest, never the layer bytes.
    assert layer_digests(pushed.json) == layer_digests(json.loads(images.manifest("busybox-3layer")))

    # dir: keeps the registry's manifest bytes as they are.
    directory = tmp_path / "dir"
    skopeo("copy", SRC_NO_TLS, ref, f"dir:{directory}")
    manifest = verify_dir_transport(directory)
    assert (directory / "manifest.json").read_bytes() == pushed.content
    assert layer_digests(manifest) == layer_digests(pushed.json)

    # oci: converts schema 2 to an OCI manifest with the same blobs.
    layout = tmp_path / "oci"
    skopeo("copy", SRC_NO_TLS, ref, f"oci:{layout}:out")
    verify_oci_layout(layout)
    converted = json.loads(oci_layout_manifest(layout, "out"))
    assert layer_digests(converted) == layer_digests(pushed.json)
    config = json.loads(oci_layout_blob(layout, converted["config"]["digest"]))
    assert config["config"]["Cmd"] == ["cat", "/app/hello.txt"]
    assert len(config["rootfs"]["diff_ids"]) == 3


def test_pull_to_oci_layout_and_dir(
    registry: Registry, seeded: dict[str, Manifest], skopeo: Tool, tmp_path: Path
) -> None:
    expected = seeded["3layer"]
    ref = docker_ref(registry, "e2e/base", "3layer")

    layout = tmp_path / "oci"
    skopeo("copy", SRC_NO_TLS, ref, f"oci:{layout}:pulled")
    index = verify_oci_layout(layout)
    assert [d["digest"] for d in index["manifests"]] == [expected.digest]
    assert oci_layout_manifest(layout, "pulled") == expected.content
    assert len(expected.json["layers"]) == 3
    for descriptor in [expected.json["config"], *expected.json["layers"]]:
        assert sha256(oci_layout_blob(layout, descriptor["digest"])) == descriptor["digest"]

    directory = tmp_path / "dir"
    skopeo("copy", SRC_NO_TLS, ref, f"dir:{directory}")
    verify_dir_transport(directory)
    assert (directory / "manifest.json").read_bytes() == expected.content


def test_inspect_raw_and_config(
    registry: Registry, images: LocalImages, seeded: dict[str, Manifest], skopeo: Tool
) -> None:
    expected = seeded["3layer"]
    ref = docker_ref(registry, "e2e/base", "3layer")

    info = json.loads(skopeo("inspect", NO_TLS, ref).stdout)
    assert info["Digest"] == expected.digest
    assert info["Layers"] == layer_digests(expected.json)
    assert (info["Os"], info["Architecture"]) == ("linux", "amd64")
    assert set(info["RepoTags"]) == set(seeded)

    raw = skopeo.raw("inspect", "--raw", NO_TLS, ref)
    assert raw == expected.content

    config_digest = expected.json["config"]["digest"]
    raw_config = skopeo.raw("inspect", "--config", "--raw", NO_TLS, ref)
    assert sha256(raw_config) == config_digest
    assert raw_config == oci_layout_blob(images.layout, config_digest)
    config = json.loads(skopeo("inspect", "--config", NO_TLS, ref).stdout)
    assert config["config"]["Cmd"] == ["cat", "/app/hello.txt"]
    assert len(config["rootfs"]["diff_ids"]) == 3


def test_list_tags_and_delete(registry: Registry, images: LocalImages, skopeo: Tool) -> None:
    repo = "e2e/skopeo-delete"
    for local, tag in (("busybox", "a"), ("busybox", "b"), ("busybox-3layer", "c")):
        skopeo("copy", DEST_NO_TLS, images.ref(local), docker_ref(registry, repo, tag))
    listed = json.loads(skopeo("list-tags", NO_TLS, f"docker://{registry.host}/{repo}").stdout)
    assert listed["Repository"] == f"{registry.host}/{repo}"
    assert sorted(listed["Tags"]) == ["a", "b", "c"]
    digest_a = registry.manifest(repo, "a").digest
    assert registry.manifest(repo, "b").digest == digest_a

    # skopeo deletes by digest: the manifest goes, with every tag pointing at it.
    skopeo("delete", NO_TLS, docker_ref(registry, repo, "a"))
    assert registry.manifest_status(repo, "a") == 404
    assert registry.manifest_status(repo, "b") == 404
    assert registry.manifest_status(repo, digest_a) == 404
    assert registry.manifest_status(repo, "c") == 200
    listed = json.loads(skopeo("list-tags", NO_TLS, f"docker://{registry.host}/{repo}").stdout)
    assert listed["Tags"] == ["c"]
    gone = skopeo("inspect", NO_TLS, docker_ref(registry, repo, "b"), check=False)
    assert gone.returncode != 0
    assert "manifest unknown" in gone.stderr.lower()


def test_copy_between_repositories_mounts_the_layers(
    registry: Registry, seeded: dict[str, Manifest], skopeo: Tool
) -> None:
    source = seeded["3layer"]
    offset = registry.log_offset()
    skopeo(
        "copy",
        SRC_NO_TLS,
        DEST_NO_TLS,
        docker_ref(registry, "e2e/base", "3layer"),
        docker_ref(registry, "e2e/skopeo-copy", "1"),
    )
    copied = registry.verify_image("e2e/skopeo-copy", "1")
    assert copied.digest == source.digest
    assert copied.content == source.content

    uploads = [
        entry
        for entry in registry.requests_since(offset)
        if entry["path"].startswith("/v2/e2e/skopeo-copy/blobs/uploads")
    ]
    # A mount is a POST .../blobs/uploads/?mount=..&from=e2e/base answered 201 with no body sent.
    mounted = [e for e in uploads if e["method"] == "POST" and e["status"] == 201]
    assert len(mounted) >= len(source.json["layers"]), uploads
    biggest = max(layer["size"] for layer in source.json["layers"])
    assert sum(e["bytes_in"] for e in uploads) < biggest, "the layer bytes were uploaded again"


def test_multiarch_index_copy_all_and_override_arch(
    registry: Registry, seeded: dict[str, Manifest], multiarch: Manifest, skopeo: Tool, tmp_path: Path
) -> None:
    platforms = {
        (m["platform"]["os"], m["platform"]["architecture"]): m["digest"] for m in multiarch.json["manifests"]
    }
    assert platforms == {
        ("linux", "amd64"): seeded["latest"].digest,
        ("linux", "arm64"): seeded["arm64"].digest,
    }
    ref = docker_ref(registry, "e2e/multi", "latest")

    layout = tmp_path / "multi"
    skopeo("copy", "--all", SRC_NO_TLS, ref, f"oci:{layout}:latest")
    index = verify_oci_layout(layout)
    assert [d["digest"] for d in index["manifests"]] == [multiarch.digest]
    copied = oci_layout_blob(layout, multiarch.digest)
    assert copied == multiarch.content
    for digest in platforms.values():
        assert sha256(oci_layout_blob(layout, digest)) == digest

    arm = json.loads(skopeo("--override-arch", "arm64", "inspect", NO_TLS, ref).stdout)
    assert arm["Architecture"] == "arm64"
    arm_config = json.loads(skopeo("--override-arch", "arm64", "inspect", "--config", NO_TLS, ref).stdout)
    assert arm_config["config"]["Cmd"] == ["echo", "hello-arm64"]
    amd_config = json.loads(skopeo("--override-arch", "amd64", "inspect", "--config", NO_TLS, ref).stdout)
    assert amd_config["config"]["Cmd"] == ["echo", "hello-from-busybox"]

    raw = skopeo.raw("inspect", "--raw", NO_TLS, ref)
    assert raw == multiarch.content
    assert json.loads(raw)["mediaType"] == OCI_INDEX
