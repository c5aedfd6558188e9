"""podman 4.3 and buildah 1.28 against dockyard: pull, run, push, build from scratch, manifest lists."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .support import (
    DOCKER_LIST,
    DOCKER_MANIFEST,
    OCI_INDEX,
    OCI_MANIFEST,
    Manifest,
    Registry,
    Tool,
)

pytestmark = pytest.mark.e2e
RUN = ("run", "--rm", "--network", "none")


def image_inspect(podman: Tool, ref: str) -> dict[str, object]:
    info: list[dict[str, object]] = json.loads(podman("image", "inspect", ref).stdout)
    assert len(info) == 1
    return info[0]


def repo_digests(podman: Tool, ref: str) -> set[str]:
    """Digests the image was pulled or pushed by (an image reached by several manifests has several)."""
    digests = image_inspect(podman, ref)["RepoDigests"]
    assert isinstance(digests, list)
    return set(digests)


def platforms(index: Manifest) -> dict[str, str]:
    return {m["platform"]["architecture"]: m["digest"] for m in index.json["manifests"]}


@pytest.mark.parametrize(
    ("tag", "media_type"), [("3layer", OCI_MANIFEST), ("v2s2", DOCKER_MANIFEST)], ids=["oci", "schema2"]
)
def test_podman_pull_and_run(
    registry: Registry, seeded: dict[str, Manifest], podman: Tool, tag: str, media_type: str
) -> None:
    expected = seeded[tag]
    assert expected.media_type == media_type
    ref = registry.ref("e2e/base", tag)
    # No --tls-verify: registries.conf marks the registry insecure.
    podman("pull", ref)
    assert f"{registry.host}/e2e/base@{expected.digest}" in repo_digests(podman, ref)
    assert podman(*RUN, ref).stdout == "layer two\n"
    assert podman(*RUN, ref, "/bin/busybox", "cat", "/app/three.txt").stdout == "layer three\n"


def test_podman_push_and_pull_back_by_digest(
    registry: Registry, seeded: dict[str, Manifest], podman: Tool, tmp_path: Path
) -> None:
    source = registry.ref("e2e/base", "latest")
    podman("pull", source)
    target = registry.ref("e2e/podman", "1")
    podman("tag", source, target)
    digest_file = tmp_path / "digest"
    podman("push", "--digestfile", digest_file, target)

    pushed = registry.verify_image("e2e/podman", "1")
    assert pushed.digest == digest_file.read_text().strip()
    assert len(pushed.json["layers"]) == len(seeded["latest"].json["layers"])
    assert pushed.json["config"]["digest"] == seeded["latest"].json["config"]["digest"]

    podman("rmi", target, source)
    by_digest = registry.ref("e2e/podman", pushed.digest)
    podman("pull", by_digest)
    assert f"{registry.host}/e2e/podman@{pushed.digest}" in repo_digests(podman, by_digest)
    assert podman(*RUN, by_digest).stdout == "hello-from-busybox\n"


def test_podman_manifest_push_all(registry: Registry, seeded: dict[str, Manifest], podman: Tool) -> None:
    name = "localhost/e2e-podman-list:1"
    podman("manifest", "create", name)
    for tag, arch in (("latest", "amd64"), ("arm64", "arm64")):
        source = f"docker://{registry.ref('e2e/base', tag)}"
        podman("manifest", "add", "--tls-verify=false", "--os", "linux", "--arch", arch, name, source)
    target = registry.ref("e2e/podman-list", "1")
    podman("manifest", "push", "--all", "--tls-verify=false", name, f"docker://{target}")

    index = registry.verify_image("e2e/podman-list", "1")
    assert index.media_type == OCI_INDEX
    assert platforms(index) == {"amd64": seeded["latest"].digest, "arm64": seeded["arm64"].digest}

    podman("pull", "--arch", "arm64", target)
    info = image_inspect(podman, target)
    assert info["Architecture"] == "arm64"
    assert f"{registry.host}/e2e/podman-list@{seeded['arm64'].digest}" in repo_digests(podman, target)


def test_buildah_from_scratch_commit_push(
    registry: Registry, buildah: Tool, podman: Tool, tmp_path: Path
) -> None:
    container = buildah("from", "scratch").stdout.strip()
    try:
        buildah("copy", container, "/usr/bin/busybox", "/bin/busybox")
        buildah("config", "--entrypoint", '["/bin/busybox"]', "--cmd", "echo hello-from-buildah", container)
        buildah("config", "--env", "PATH=/bin", "--os", "linux", "--arch", "amd64", container)
        buildah("commit", container, "localhost/e2e-buildah:1")
    finally:
        buildah("rm", container)
    digest_file = tmp_path / "digest"
    target = registry.ref("e2e/buildah", "1")
    buildah("push", "--digestfile", digest_file, "localhost/e2e-buildah:1", f"docker://{target}")

    pushed = registry.verify_image("e2e/buildah", "1")
    assert pushed.digest == digest_file.read_text().strip()
    assert pushed.media_type == OCI_MANIFEST
    assert len(pushed.json["layers"]) == 1
    config = json.loads(registry.blob("e2e/buildah", pushed.json["config"]["digest"]))
    assert config["config"]["Entrypoint"] == ["/bin/busybox"]

    # podman pulls it (the name is not in local storage under the registry's name) and runs it.
    assert podman(*RUN, target).stdout == "hello-from-buildah\n"
    assert f"{registry.host}/e2e/buildah@{pushed.digest}" in repo_digests(podman, target)


@pytest.mark.parametrize(
    ("fmt", "list_type", "instance_type"),
    [("oci", OCI_INDEX, OCI_MANIFEST), ("v2s2", DOCKER_LIST, DOCKER_MANIFEST)],
    ids=["oci", "v2s2"],
)
def test_buildah_manifest_push_all(
    registry: Registry,
    seeded: dict[str, Manifest],
    buildah: Tool,
    tmp_path: Path,
    fmt: str,
    list_type: str,
    instance_type: str,
) -> None:
    name = f"localhost/e2e-buildah-list:{fmt}"
    buildah("manifest", "create", name)
    for tag, arch in (("latest", "amd64"), ("arm64", "arm64")):
        source = f"docker://{registry.ref('e2e/base', tag)}"
        buildah("manifest", "add", "--tls-verify=false", "--os", "linux", "--arch", arch, name, source)
    digest_file = tmp_path / "digest"
    target = f"docker://{registry.ref('e2e/buildah-list', fmt)}"
    buildah(
        "manifest",
        "push",
        "--all",
        "--format",
        fmt,
        "--tls-verify=false",
        "--digestfile",
        digest_file,
        name,
        target,
    )

    index = registry.verify_image("e2e/buildah-list", fmt)
    assert index.digest == digest_file.read_text().strip()
    assert index.media_type == list_type
    assert index.json["mediaType"] == list_type
    assert {m["mediaType"] for m in index.json["manifests"]} == {instance_type}
    assert set(platforms(index)) == {"amd64", "arm64"}
    if fmt == "oci":  # the instances are pushed unchanged
        assert platforms(index) == {"amd64": seeded["latest"].digest, "arm64": seeded["arm64"].digest}
    for digest in platforms(index).values():
        assert registry.manifest("e2e/buildah-list", digest).media_type == instance_type
