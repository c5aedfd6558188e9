"""Session fixtures shared by the end-to-end and the access tests (registered for the whole suite by
``tests/conftest.py``, so one Docker Engine and one set of images serve both): images built offline with
umoci, and one containerd + dockerd whose state lives in pytest's tmp dirs.
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

from .support import STARTUP_TIMEOUT, LocalImages, Tool, hermetic_environ, run, stop

BUSYBOX = Path("/usr/bin/busybox")
APPLETS = ("sh", "echo", "ls", "cat", "env", "id", "hostname", "sleep", "true", "wget")


def require(*binaries: str) -> None:
    """Skip when a client is truly absent (`make test` installs them all)."""
    missing = [name for name in binaries if shutil.which(name) is None]
    if missing:
        pytest.skip(f"not installed: {', '.join(missing)} (make test installs them)")


# -- images built offline ----------------------------------------------------------------------------


def umoci_config(image: str, *options: str, cmd: tuple[str, ...] = ()) -> None:
    words = [arg for word in cmd for arg in ("--config.cmd", word)]
    run(["umoci", "config", "--image", image, *options, *words])


@pytest.fixture(scope="session")
def images(tmp_path_factory: pytest.TempPathFactory) -> LocalImages:
    require("umoci")
    assert BUSYBOX.is_file(), "busybox-static is not installed"
    root = tmp_path_factory.mktemp("images")
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
def dockerd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DockerDaemon]:
    """One containerd and one dockerd on it for the session: vfs storage, no bridge or iptables, every
    path (sockets, state, containerd's opt dir, dockerd's key.json) under tmp."""
    require("dockerd", "docker", "containerd", "ctr", "runc")
    root = tmp_path_factory.mktemp("dockerd") / "docker"
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
