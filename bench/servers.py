"""Start the registries under test on free loopback ports with fresh data directories, and stop them.

Each server runs in its own session (process group) so that stopping it also stops its workers; only
process groups started here are ever signalled.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from bench.cpu import CpuMeter

HOST = "127.0.0.1"
READY_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0
DISTRIBUTION_BIN = "/usr/bin/docker-registry"


@dataclass
class Server:
    name: str
    label: str
    port: int
    process: subprocess.Popen[bytes]
    data_dir: Path
    log_path: Path
    command: list[str]
    cpu: CpuMeter = field(init=False)

    def __post_init__(self) -> None:
        self.cpu = CpuMeter(self.process.pid)  # before it starts workers: they join its control group

    @property
    def pid(self) -> int:
        return self.process.pid


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _spawn(command: list[str], log_path: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    with log_path.open("wb") as log:
        return subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=env,
        )


@dataclass(frozen=True)
class S3Bucket:
    """A bucket on an S3-protocol server on loopback (moto), with moto's test credentials."""

    endpoint: str
    bucket: str
    access_key: str = "test"
    secret_key: str = "test"
    region: str = "us-east-1"


def start_distribution(workdir: Path, s3: S3Bucket | None = None) -> Server:
    """Filesystem storage, or with ``s3`` its S3 driver with redirects to presigned URLs (as ECR does)."""
    port = free_port()
    data_dir = workdir / "distribution-data"
    data_dir.mkdir(parents=True)
    config = workdir / "distribution.yml"
    if s3 is None:
        storage = f"  filesystem: {{rootdirectory: {data_dir}}}\n"
    else:
        storage = (
            f"  s3: {{accesskey: {s3.access_key}, secretkey: {s3.secret_key}, region: {s3.region},"
            f" regionendpoint: '{s3.endpoint}', bucket: {s3.bucket}, secure: false, v4auth: true,"
            " forcepathstyle: true}\n"
            "  redirect: {disable: false}\n"
        )
    config.write_text(
        "version: 0.1\n"
        "log: {level: info}\n"
        "storage:\n"
        "  cache: {blobdescriptor: inmemory}\n"
        f"{storage}"
        "  delete: {enabled: true}\n"
        f"http: {{addr: '{HOST}:{port}'}}\n"
    )
    log_path = workdir / "distribution.log"
    command = [DISTRIBUTION_BIN, "serve", str(config)]
    # Distribution's AWS SDK panics on AWS_CA_BUNDLE ("LoadCustomCABundleError"): never pass it on.
    env = {k: v for k, v in os.environ.items() if k != "AWS_CA_BUNDLE"}
    process = _spawn(command, log_path, env)
    label = "Distribution 2.8.2" + (" (S3, redirects)" if s3 else "")
    return Server("distribution", label, port, process, data_dir, log_path, command)


def _supports_flag(executable: Path, flag: str) -> bool:
    help_text = subprocess.run([str(executable), "serve", "--help"], capture_output=True, text=True).stdout
    return flag in help_text


def start_dockyard(
    workdir: Path, extra_args: list[str], env: dict[str, str] | None = None, label_extra: str = ""
) -> Server:
    """``dockyard serve`` on a free port; anonymous ``/v2/`` (``--auth none``), as Distribution is run;
    ``env``: ``DOCKYARD_*`` settings (database, storage) on top of this process's environment."""
    port = free_port()
    data_dir = workdir / "dockyard-data"
    executable = Path(sys.executable).with_name("dockyard")
    command = [str(executable), "serve", "--host", HOST, "--port", str(port), "--data-dir", str(data_dir)]
    if "--auth" not in extra_args and _supports_flag(executable, "--auth"):
        command += ["--auth", "none"]
    log_path = workdir / "dockyard.log"
    command += extra_args
    process = _spawn(command, log_path, None if env is None else {**os.environ, **env})
    notes = [part for part in (label_extra, " ".join(extra_args)) if part]
    label = "Dockyard" + (f" ({', '.join(notes)})" if notes else "")
    return Server("dockyard", label, port, process, data_dir, log_path, command)


def wait_ready(server: Server, timeout: float = READY_TIMEOUT) -> None:
    """Poll ``GET /v2/`` until it answers 200; fail if the process exits or the deadline passes."""
    deadline = time.monotonic() + timeout
    url = f"http://{HOST}:{server.port}/v2/"
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(
                f"{server.name} exited with {server.process.returncode}; see {server.log_path}"
            )
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{server.name} not ready on {url} after {timeout:.0f} s; see {server.log_path}")


def stop(server: Server) -> None:
    """SIGTERM the server's process group, then SIGKILL it if it lingers."""
    if server.process.poll() is None:
        _signal_group(server.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.process.wait(STOP_TIMEOUT)
    _signal_group(server.pid, signal.SIGKILL)
    server.process.wait(STOP_TIMEOUT)
    server.cpu.close()


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, sig)
