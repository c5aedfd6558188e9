"""End-to-end fixtures: a real ``dockyard serve``, images built offline with umoci, and real clients
(skopeo, podman, buildah, Docker Engine, containerd's ctr) that keep their state in pytest's tmp dirs.

See /work/shared/design/CLIENTS.md for the recipes these fixtures follow. Everything listens on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from .support import (
    OCI_INDEX,
    STARTUP_TIMEOUT,
    LocalImages,
    Manifest,
    Registry,
    ServerProcess,
    Tool,
    hermetic_environ,
    run,
    server_problems,
    start_registry,
    stop,
)

BUSYBOX = Path("/usr/bin/busybox")
APPLETS = ("sh", "echo", "ls", "cat", "env", "id", "hostname", "sleep", "true", "wget")


def require(*binaries: str) -> None:
    """Skip when a client is truly absent (`make test` installs them all)."""
    missing = [name for name in binaries if shutil.which(name) is None]
    if missing:
        pytest.skip(f"not installed: {', '.join(missing)} (make test installs them)")


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


# -- images built offline ----------------------------------------------------------------------------


def umoci_config(image: str, *options: str, cmd: tuple[str, ...] = ()) -> None:
    words = [arg for word in cmd for arg in ("--config.cmd", word)]
    run(["umoci", "config", "--image", image, *options, *words])


@pytest.fixture(scope="session")
def images(e2e_dir: Path) -> LocalImages:
    require("umoci")
    assert BUSYBOX.is_file(), "busybox-static is not installed"
    root = e2e_dir / "images"
    root.mkdir()
    layout = root / "oci"
    image = f"{layout}:busybox"
    run(["umoci", "init", "--layout", layout])
    run(["umoci", "new", "--image", image])
    bundle = root / "bundle"
    run(["umoci", "unpack", "--image", image, bundle])
    rootfs = bundle / "rootfs"
    for name in ("bin", "etc", "tmp", "proc", "sys", "dev"):
        (rootfs / name).mkdir(exist_ok=True)
    shutil.copy2(BUSYBOX, rootfs / "bin" / "busybox")
    for applet in APPLETS:
        (rootfs / "bin" / applet).symlink_to("busybox")
    (rootfs / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    run(["umoci", "repack", "--image", image, bundle])
    platform = ("--os", "linux", "--architecture", "amd64")
    umoci_config(image, *platform, "--config.entrypoint", "/bin/busybox", "--config.env", "PATH=/bin")
    umoci_config(image, cmd=("echo", "hello-from-busybox"))
    # Three layers: busybox, then /app/hello.txt, then /app/three.txt.
    three = f"{layout}:busybox-3layer"
    shutil.rmtree(bundle)
    run(["umoci", "unpack", "--image", image, bundle])
    (rootfs / "app").mkdir()
    (rootfs / "app" / "hello.txt").write_text("layer two\n")
    run(["umoci", "repack", "--image", three, bundle])
    shutil.rmtree(bundle)
    run(["umoci", "unpack", "--image", three, bundle])
    (rootfs / "app" / "three.txt").write_text("layer three\n")
    run(["umoci", "repack", "--image", three, bundle])
    umoci_config(three, cmd=("cat", "/app/hello.txt"))
    shutil.rmtree(bundle)
    # The same bytes labelled arm64, for a multi-arch index.
    umoci_config(image, "--tag", "busybox-arm64", "--architecture", "arm64", cmd=("echo", "hello-arm64"))
    images = LocalImages(layout)
    assert len(json.loads(images.manifest("busybox-3layer"))["layers"]) == 3
    return images


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


# -- Docker Engine and containerd --------------------------------------------------------------------


@dataclass
class DockerDaemon:
    env: dict[str, str]
    containerd_socket: Path


def start_daemon(argv: list[str | Path], log_path: Path) -> subprocess.Popen[bytes]:
    with log_path.open("ab") as log:
        return subprocess.Popen(
            [os.fspath(a) for a in argv],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def wait_until_ready(
    process: subprocess.Popen[bytes], log_path: Path, probe: list[str], env: dict[str, str]
) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while run(probe, env=env, check=False).returncode != 0:
        if process.poll() is not None:
            raise AssertionError(
                f"{probe[0]}'s daemon exited with {process.returncode}:\n{log_path.read_text()}"
            )
        if time.monotonic() > deadline:
            raise AssertionError(f"{probe[0]}'s daemon did not come up:\n{log_path.read_text()[-4000:]}")
        time.sleep(0.2)


@pytest.fixture(scope="session")
def dockerd(e2e_dir: Path) -> Iterator[DockerDaemon]:
    """One containerd and one dockerd on it for the session: vfs storage, no bridge or iptables, every
    path (sockets, state, containerd's opt dir, dockerd's key.json) under tmp."""
    require("dockerd", "docker", "containerd", "ctr", "runc")
    root = e2e_dir / "docker"
    short = None
    if len(os.fspath(root)) > 60:  # unix socket paths (shims' too) must stay under 108 bytes
        short = Path(tempfile.mkdtemp(prefix="dockyard-e2e-"))
        root = short / "docker"
    for name in ("data", "exec", "cfg", "containerd"):
        (root / name).mkdir(parents=True)
    env = hermetic_environ()

    # containerd, configured so that nothing lands in /var/lib/containerd, /run/containerd or /opt/containerd.
    state = root / "containerd"
    containerd_socket = state / "containerd.sock"
    (state / "config.toml").write_text(
        "version = 2\n"
        f'root = "{state}/root"\n'
        f'state = "{state}/state"\n'
        'disabled_plugins = ["io.containerd.grpc.v1.cri"]\n'
        f'[grpc]\n  address = "{containerd_socket}"\n'
        f'[ttrpc]\n  address = "{state}/containerd.sock.ttrpc"\n'
        f'[debug]\n  address = "{state}/debug.sock"\n'
        f'[plugins."io.containerd.internal.v1.opt"]\n  path = "{state}/opt"\n'
    )
    containerd = start_daemon(["containerd", "--config", state / "config.toml"], state / "containerd.log")
    processes = [containerd]
    try:
        wait_until_ready(
            containerd, state / "containerd.log", ["ctr", "--address", str(containerd_socket), "version"], env
        )

        # Without a config file dockerd reads /etc/docker/daemon.json and writes /etc/docker/key.json.
        config = root / "daemon.json"
        config.write_text(json.dumps({"deprecated-key-path": f"{root}/key.json"}))
        sock = root / "docker.sock"
        argv: list[str | Path] = ["dockerd", "--config-file", config, "--containerd", containerd_socket]
        argv += [
            "--data-root",
            root / "data",
            "--exec-root",
            root / "exec",
            "--pidfile",
            root / "dockerd.pid",
        ]
        argv += ["-H", f"unix://{sock}", "--storage-driver=vfs", "--iptables=false", "--ip-masq=false"]
        argv += ["--bridge=none"]
        processes.insert(0, start_daemon(argv, root / "dockerd.log"))
        env.update(
            DOCKER_HOST=f"unix://{sock}", DOCKER_CONFIG=os.fspath(root / "cfg"), DOCKER_CLI_HINTS="false"
        )
        env.pop("DOCKER_CONTEXT", None)
        wait_until_ready(processes[0], root / "dockerd.log", ["docker", "version"], env)
        yield DockerDaemon(env, containerd_socket)
    finally:
        for process in processes:  # dockerd first, then containerd
            stop(process)
        if short is not None:
            shutil.rmtree(short, ignore_errors=True)


@pytest.fixture(scope="session")
def docker(dockerd: DockerDaemon) -> Tool:
    return Tool(["docker"], dockerd.env)


@pytest.fixture(scope="session")
def ctr(dockerd: DockerDaemon) -> Tool:
    """containerd's ctr on dockerd's own containerd, in a namespace of its own."""
    require("ctr")
    return Tool(["ctr", "--address", os.fspath(dockerd.containerd_socket), "--namespace", "e2e"], dockerd.env)
