"""`dockyard serve` as a process: TLS, environment overrides, graceful shutdown, restart with live uploads."""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

DOCKYARD = str(Path(sys.executable).with_name("dockyard"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_ready(url: str, verify: bool | ssl.SSLContext = True) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, verify=verify, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise AssertionError(f"server at {url} did not become ready")


class Server:
    def __init__(self, data_dir: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.port = _free_port()
        command = [DOCKYARD, "serve", "--data-dir", str(data_dir), "--port", str(self.port), "--auth", "none"]
        command += args
        self.log = data_dir.parent / f"serve-{self.port}.log"
        self.process = subprocess.Popen(
            command,
            env={**os.environ, **(env or {})},
            stdout=self.log.open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so teardown reaches the server's workers too
        )

    def stop(self, sig: int = signal.SIGTERM) -> int:
        self.process.send_signal(sig)
        return self.process.wait(timeout=60)


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[type[Server]]:
    started: list[Server] = []

    class Tracked(Server):
        def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
            super().__init__(tmp_path / "data", *args, env=env)
            started.append(self)

    yield Tracked
    for server in started:
        if server.process.poll() is not None:
            continue  # stopped and reaped: its pid (and group id) may already belong to someone else
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.process.pid, signal.SIGTERM)
        try:
            server.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.process.pid, signal.SIGKILL)
            server.process.wait()


def _start_upload(base: str, name: str) -> str:
    response = httpx.post(f"{base}/v2/{name}/blobs/uploads/")
    assert response.status_code == 202
    return str(response.headers["location"])


def test_graceful_shutdown_finishes_an_in_flight_chunk_and_the_upload_resumes(
    server_factory: type[Server],
) -> None:
    server = server_factory()
    base = f"http://127.0.0.1:{server.port}"
    _wait_ready(base + "/v2/")
    location = _start_upload(base, "shutdown/test")
    first, second = os.urandom(3 * 1024 * 1024), os.urandom(1024 * 1024)
    chunk_status: list[int] = []

    def slow_body() -> Iterator[bytes]:
        for offset in range(0, len(first), 256 * 1024):
            yield first[offset : offset + 256 * 1024]
            time.sleep(0.1)

    def send_chunk() -> None:
        response = httpx.patch(
            base + location,
            content=slow_body(),
            headers={"Content-Type": "application/octet-stream", "Content-Length": str(len(first))},
            timeout=60,
        )
        chunk_status.append(response.status_code)

    sender = threading.Thread(target=send_chunk)
    sender.start()
    time.sleep(0.4)
    assert server.stop(signal.SIGTERM) == 0
    sender.join(timeout=60)
    assert chunk_status == [202]

    restarted = server_factory()
    base = f"http://127.0.0.1:{restarted.port}"
    _wait_ready(base + "/v2/")
    status = httpx.get(base + location)
    assert status.status_code == 204
    assert status.headers["range"] == f"0-{len(first) - 1}"
    digest = "sha256:" + hashlib.sha256(first + second).hexdigest()
    done = httpx.put(f"{base}{location}?digest={digest}", content=second)
    assert done.status_code == 201, done.text
    pulled = httpx.get(f"{base}/v2/shutdown/test/blobs/{digest}")
    assert pulled.content == first + second


def test_environment_overrides_and_tls(server_factory: type[Server], tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    server = server_factory(
        "--tls-cert", str(cert), "--tls-key", str(key), env={"DOCKYARD_CREATE_ON_PUSH": "false"}
    )
    base = f"https://127.0.0.1:{server.port}"
    trust = ssl.create_default_context(cafile=str(cert))
    _wait_ready(base + "/v2/", verify=trust)
    refused = httpx.post(f"{base}/v2/not/created/blobs/uploads/", verify=trust)
    assert refused.status_code == 404
    assert refused.json()["errors"][0]["code"] == "NAME_UNKNOWN"
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{server.port}/v2/", timeout=2)


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc")
def test_the_process_supervising_the_workers_does_not_keep_the_app_loaded(
    server_factory: type[Server],
) -> None:
    server = server_factory("--workers", "2")
    base = f"http://127.0.0.1:{server.port}"
    _wait_ready(base + "/v2/")
    children = Path(f"/proc/{server.process.pid}/task/{server.process.pid}/children").read_text().split()
    workers = [int(pid) for pid in children]
    assert len(workers) == 2
    for _ in range(4):  # requests reach both workers' apps, whichever answers
        assert httpx.get(base + "/v2/_catalog").status_code == 200
    supervisor, loaded = _rss_kib(server.process.pid), max(_rss_kib(worker) for worker in workers)
    # The CLI had imported the whole app (about 130 MiB resident, as much as a worker); what it leaves
    # running holds only the settings and the server: measured 43 MiB.
    assert supervisor * 2 < loaded, (supervisor, loaded)
    assert server.stop(signal.SIGTERM) == 0
