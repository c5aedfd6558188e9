"""End-to-end fixtures: a real ``dockyard serve``, images built offline with umoci, and real clients
(skopeo, podman, buildah, Docker Engine, containerd's ctr) that keep their state in pytest's tmp dirs.

See /work/shared/design/CLIENTS.md for the recipes these fixtures follow. Everything listens on 127.0.0.1.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from .shared import DockerDaemon, require
from .support import (
    OCI_INDEX,
    LocalImages,
    Manifest,
    Registry,
    ServerProcess,
    Tool,
    hermetic_environ,
    server_problems,
    start_registry,
    stop,
)

# -- the registry under test -------------------------------------------------------------------------


@pytest.fixture(scope="session")
def e2e_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("e2e")


@pytest.fixture(scope="session")
def registry_server(e2e_dir: Path) -> Iterator[ServerProcess]:
    server = start_registry(e2e_dir / "registry")
    try:
        yield server
    finally:
        server.registry.client.close()
        stop(server.process)


@pytest.fixture(scope="session")
def registry(registry_server: ServerProcess) -> Registry:
    return registry_server.registry


@pytest.fixture(autouse=True)
def _server_stays_healthy(registry_server: ServerProcess) -> Iterator[None]:
    """Fail a test during which the registry answered 5xx, logged an error, or died."""
    offset = registry_server.registry.log_offset()
    yield
    assert registry_server.process.poll() is None, "dockyard serve exited during the test"
    problems = server_problems(registry_server.registry, offset)
    assert not problems, "the registry reported errors:\n" + "\n".join(problems[:20])


# -- skopeo, podman and buildah ----------------------------------------------------------------------


@pytest.fixture(scope="session")
def containers_env(e2e_dir: Path, registry: Registry) -> dict[str, str]:
    """containers/* configuration for skopeo, podman and buildah: vfs storage, runc with ulimits the
    sandbox allows, the registry marked insecure (plain HTTP), an empty auth file, tmp files here."""
    root = e2e_dir / "containers"
    tmp = root / "tmp"
    tmp.mkdir(parents=True)
    (root / "storage.conf").write_text(
        f'[storage]\ndriver = "vfs"\nrunroot = "{root}/run"\ngraphroot = "{root}/graph"\n'
    )
    (root / "containers.conf").write_text(
        "[containers]\n"
        'default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]\n'
        "[engine]\n"
        'runtime = "runc"\n'
        'cgroup_manager = "cgroupfs"\n'
        'events_logger = "file"\n'
        f'events_logfile_path = "{root}/events.log"\n'
        f'tmp_dir = "{root}/libpod-tmp"\n'
        f'image_copy_tmp_dir = "{tmp}"\n'
    )
    (root / "registries.conf").write_text(
        f'unqualified-search-registries = []\n[[registry]]\nlocation = "{registry.host}"\ninsecure = true\n'
    )
    (root / "auth.json").write_text('{"auths": {}}\n')
    env = hermetic_environ()
    env.update(
        CONTAINERS_STORAGE_CONF=f"{root}/storage.conf",
        CONTAINERS_CONF=f"{root}/containers.conf",
        CONTAINERS_REGISTRIES_CONF=f"{root}/registries.conf",
        REGISTRY_AUTH_FILE=f"{root}/auth.json",
        TMPDIR=os.fspath(tmp),
    )
    return env


@pytest.fixture(scope="session")
def skopeo(containers_env: dict[str, str]) -> Tool:
    require("skopeo")
    return Tool(["skopeo"], containers_env)


@pytest.fixture(scope="session")
def podman(containers_env: dict[str, str]) -> Tool:
    require("podman", "runc")
    return Tool(["podman"], containers_env)


@pytest.fixture(scope="session")
def buildah(containers_env: dict[str, str]) -> Tool:
    require("buildah")
    return Tool(["buildah"], containers_env)


@pytest.fixture(scope="session")
def seeded(registry: Registry, images: LocalImages, skopeo: Tool) -> dict[str, Manifest]:
    """Images pushed with skopeo for the other clients to pull, by tag of ``e2e/base``:
    ``latest`` (1 layer, OCI), ``3layer`` (OCI), ``v2s2`` (the 3-layer image as Docker schema 2),
    ``arm64`` (OCI, arm64 config)."""
    pushes = {
        "latest": ("busybox", []),
        "3layer": ("busybox-3layer", []),
        "v2s2": ("busybox-3layer", ["--format", "v2s2"]),
        "arm64": ("busybox-arm64", []),
    }
    pushed = {}
    for tag, (local, flags) in pushes.items():
        skopeo(
            "copy",
            "--dest-tls-verify=false",
            *flags,
            images.ref(local),
            f"docker://{registry.ref('e2e/base', tag)}",
        )
        pushed[tag] = registry.verify_image("e2e/base", tag)
    return pushed


@pytest.fixture(scope="session")
def multiarch(registry: Registry, seeded: dict[str, Manifest], buildah: Tool) -> Manifest:
    """``e2e/multi:latest``: an OCI index (linux/amd64 + linux/arm64) made with ``buildah manifest``."""
    name = "localhost/e2e-multi:latest"
    buildah("manifest", "create", name)
    for tag, arch in (("latest", "amd64"), ("arm64", "arm64")):
        source = f"docker://{registry.ref('e2e/base', tag)}"
        buildah("manifest", "add", "--tls-verify=false", "--os", "linux", "--arch", arch, name, source)
    target = f"docker://{registry.ref('e2e/multi', 'latest')}"
    buildah("manifest", "push", "--all", "--tls-verify=false", name, target)
    index = registry.verify_image("e2e/multi", "latest")
    assert index.media_type == OCI_INDEX
    return index


# -- containerd's ctr on the shared dockerd (tests/e2e/shared.py) ---------------------------------------


@pytest.fixture(scope="session")
def ctr(dockerd: DockerDaemon) -> Tool:
    """containerd's ctr on dockerd's own containerd, in a namespace of its own."""
    require("ctr")
    return Tool(["ctr", "--address", os.fspath(dockerd.containerd_socket), "--namespace", "e2e"], dockerd.env)
