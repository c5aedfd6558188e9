"""Docker Engine (dockerd 20.10 with vfs, CLI from the machine) and containerd's ctr against dockyard."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from .support import DOCKER_MANIFEST, OCI_MANIFEST, Manifest, Registry, Tool, sha256

pytestmark = pytest.mark.e2e
RUN = ("run", "--rm", "--network", "none")
DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


def docker_repo_digests(docker: Tool, ref: str) -> set[str]:
    return set(json.loads(docker("image", "inspect", "--format", "{{json .RepoDigests}}", ref).stdout))


def pushed_digest(output: str) -> str:
    """The digest ``docker push`` reports: ``<tag>: digest: sha256:... size: N``."""
    match = re.search(r"digest: (sha256:[0-9a-f]{64}) size: \d+", output)
    assert match, output
    return match.group(1)


def mounted_uploads(registry: Registry, offset: int, repository: str) -> list[dict[str, object]]:
    return [
        entry
        for entry in registry.requests_since(offset)
        if entry["path"] == f"/v2/{repository}/blobs/uploads/"
        and entry["method"] == "POST"
        and entry["status"] == 201
    ]


@pytest.mark.parametrize(
    ("tag", "media_type"), [("3layer", OCI_MANIFEST), ("v2s2", DOCKER_MANIFEST)], ids=["oci", "schema2"]
)
def test_docker_pull_and_run(
    registry: Registry, seeded: dict[str, Manifest], docker: Tool, tag: str, media_type: str
) -> None:
    expected = seeded[tag]
    assert expected.media_type == media_type
    ref = registry.ref("e2e/base", tag)
    pulled = docker("pull", ref).stdout
    assert f"Digest: {expected.digest}" in pulled
    assert f"{registry.host}/e2e/base@{expected.digest}" in docker_repo_digests(docker, ref)
    assert docker(*RUN, ref).stdout == "layer two\n"
    assert docker(*RUN, ref, "/bin/busybox", "cat", "/app/three.txt").stdout == "layer three\n"
    # Leave no image behind, so that the next pull downloads the layers again.
    docker("rmi", ref)


def test_docker_pull_multiarch_index(registry: Registry, multiarch: Manifest, docker: Tool) -> None:
    ref = registry.ref("e2e/multi", "latest")
    pulled = docker("pull", ref).stdout
    assert f"Digest: {multiarch.digest}" in pulled
    assert f"{registry.host}/e2e/multi@{multiarch.digest}" in docker_repo_digests(docker, ref)
    assert docker("image", "inspect", "--format", "{{.Architecture}}", ref).stdout.strip() == "amd64"
    assert docker(*RUN, ref).stdout == "hello-from-busybox\n"


def test_docker_push_retagged_image_mounts_layers(
    registry: Registry, seeded: dict[str, Manifest], docker: Tool
) -> None:
    source = registry.ref("e2e/base", "3layer")
    target = registry.ref("e2e/docker-push", "1")
    docker("pull", source)
    docker("tag", source, target)
    offset = registry.log_offset()
    output = docker("push", target).stdout
    assert "Mounted from e2e/base" in output

    pushed = registry.verify_image("e2e/docker-push", "1")
    assert pushed.digest == pushed_digest(output)
    assert pushed.media_type == DOCKER_MANIFEST
    base_layers = [layer["digest"] for layer in seeded["3layer"].json["layers"]]
    assert [layer["digest"] for layer in pushed.json["layers"]] == base_layers
    assert len(mounted_uploads(registry, offset, "e2e/docker-push")) == len(base_layers)
    assert f"{registry.host}/e2e/docker-push@{pushed.digest}" in docker_repo_digests(docker, target)


def test_docker_legacy_build_push_and_run(
    registry: Registry, seeded: dict[str, Manifest], docker: Tool, tmp_path: Path
) -> None:
    base = registry.ref("e2e/base", "3layer")
    context = tmp_path / "context"
    context.mkdir()
    (context / "Dockerfile").write_text(
        f"FROM {base}\n"
        'RUN ["/bin/busybox", "sh", "-c", "echo built-by-docker > /app/built.txt"]\n'
        'CMD ["cat", "/app/built.txt"]\n'
    )
    ref = registry.ref("e2e/docker-build", "1")
    build = Tool(docker.argv, {**docker.env, "DOCKER_BUILDKIT": "0"})
    build("build", "--network", "none", "--pull", "-t", ref, context)
    output = docker("push", ref).stdout

    pushed = registry.verify_image("e2e/docker-build", "1")
    assert pushed.digest == pushed_digest(output)
    base_layers = [layer["digest"] for layer in seeded["3layer"].json["layers"]]
    layers = [layer["digest"] for layer in pushed.json["layers"]]
    assert layers[:3] == base_layers
    assert len(layers) == 4

    # Run it from the registry: drop the local tag so that `docker run` pulls the manifest again.
    docker("rmi", ref)
    assert docker(*RUN, ref).stdout == "built-by-docker\n"
    assert f"{registry.host}/e2e/docker-build@{pushed.digest}" in docker_repo_digests(docker, ref)


# -- containerd ---------------------------------------------------------------------------------------


def ctr_image_digest(ctr: Tool, ref: str) -> str:
    for line in ctr("images", "ls").stdout.splitlines():
        fields = line.split()
        if fields and fields[0] == ref:
            digest = next(f for f in fields if DIGEST.fullmatch(f))
            return digest
    raise AssertionError(f"{ref} is not in ctr images ls")


def ctr_check_content(ctr: Tool, digests: list[str]) -> None:
    """Each blob in containerd's content store hashes to its digest."""
    stored = set(ctr("content", "ls", "--quiet").stdout.split())
    for digest in digests:
        assert digest in stored, f"{digest} was not pulled"
        assert sha256(ctr.raw("content", "get", digest)) == digest


def test_ctr_pull_and_push(registry: Registry, seeded: dict[str, Manifest], ctr: Tool) -> None:
    expected = seeded["3layer"]
    ref = registry.ref("e2e/base", "3layer")
    ctr("images", "pull", "--plain-http", ref)
    assert ctr_image_digest(ctr, ref) == expected.digest
    blobs = [expected.json["config"]["digest"], *(layer["digest"] for layer in expected.json["layers"])]
    ctr_check_content(ctr, [expected.digest, *blobs])

    target = registry.ref("e2e/ctr", "1")
    ctr("images", "tag", ref, target)
    offset = registry.log_offset()
    ctr("images", "push", "--plain-http", target)
    # containerd remembers where it pulled each blob from and mounts them all (config and layers).
    assert len(mounted_uploads(registry, offset, "e2e/ctr")) == len(blobs)
    pushed = registry.verify_image("e2e/ctr", "1")
    assert pushed.digest == expected.digest
    assert pushed.content == expected.content
    assert pushed.media_type == OCI_MANIFEST


def test_ctr_pull_all_platforms(
    registry: Registry, seeded: dict[str, Manifest], multiarch: Manifest, ctr: Tool
) -> None:
    ref = registry.ref("e2e/multi", "latest")
    ctr("images", "pull", "--plain-http", "--all-platforms", ref)
    assert ctr_image_digest(ctr, ref) == multiarch.digest
    wanted = [multiarch.digest]
    for tag in ("latest", "arm64"):
        image = seeded[tag]
        wanted += [image.digest, image.json["config"]["digest"]]
        wanted += [layer["digest"] for layer in image.json["layers"]]
    ctr_check_content(ctr, wanted)
    platforms = ctr("images", "ls").stdout
    assert "linux/amd64" in platforms
    assert "linux/arm64" in platforms
