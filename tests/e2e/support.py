"""Helpers for the end-to-end tests: run a client, talk to the registry, check every digest."""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
INDEX_TYPES = (OCI_INDEX, DOCKER_LIST)
MANIFEST_ACCEPT = ", ".join((OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST))
COMMAND_TIMEOUT = 180.0
STARTUP_TIMEOUT = 60.0
SHUTDOWN_TIMEOUT = 30.0
BIN_DIR = Path(sys.executable).parent


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def file_sha256(path: Path) -> str:
    hasher = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            hasher.update(chunk)
    return "sha256:" + hasher.hexdigest()


def run(
    args: Sequence[str | os.PathLike[str]],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    check: bool = True,
    timeout: float = COMMAND_TIMEOUT,
    input_text: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a client; on failure the assertion message carries its command line, stdout and stderr."""
    argv = [os.fspath(a) for a in args]
    result = subprocess.run(
        argv,
        env=dict(env) if env is not None else None,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        input=input_text,
        check=False,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"command failed (rc={result.returncode}): {shlex.join(argv)}\n"
            f"--- stdout ---\n{result.stdout[-4000:]}\n--- stderr ---\n{result.stderr[-4000:]}"
        )
    return result


@dataclass
class Manifest:
    content: bytes
    media_type: str
    digest: str  # the registry's Docker-Content-Digest

    @property
    def json(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.content)
        return parsed

    @property
    def is_index(self) -> bool:
        return self.media_type in INDEX_TYPES


@dataclass
class Registry:
    """A running ``dockyard serve`` and what the tests need to ask it directly."""

    host: str  # 127.0.0.1:PORT, as clients spell it
    data_dir: Path
    log_path: Path
    client: httpx.Client = field(repr=False)

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def ref(self, repository: str, reference: str) -> str:
        separator = "@" if reference.startswith("sha256:") else ":"
        return f"{self.host}/{repository}{separator}{reference}"

    def manifest(self, repository: str, reference: str) -> Manifest:
        response = self.client.get(
            f"/v2/{repository}/manifests/{reference}", headers={"Accept": MANIFEST_ACCEPT}
        )
        assert response.status_code == 200, (repository, reference, response.status_code, response.text)
        digest = response.headers["docker-content-digest"]
        assert digest == sha256(response.content), "Docker-Content-Digest is not the body's sha256"
        media_type = response.headers["content-type"].split(";")[0].strip()
        return Manifest(response.content, media_type, digest)

    def manifest_status(self, repository: str, reference: str) -> int:
        response = self.client.head(
            f"/v2/{repository}/manifests/{reference}", headers={"Accept": MANIFEST_ACCEPT}
        )
        return response.status_code

    def blob(self, repository: str, digest: str) -> bytes:
        response = self.client.get(f"/v2/{repository}/blobs/{digest}")
        assert response.status_code == 200, (repository, digest, response.status_code, response.text)
        assert sha256(response.content) == digest, f"blob {digest} in {repository} has other bytes"
        return response.content

    def tags(self, repository: str) -> list[str]:
        response = self.client.get(f"/v2/{repository}/tags/list")
        assert response.status_code == 200, response.text
        tags: list[str] = response.json()["tags"]
        return sorted(tags)

    def verify_image(self, repository: str, reference: str) -> Manifest:
        """Fetch a manifest (or index) and every blob it reaches; check every size and digest."""
        top = self.manifest(repository, reference)
        pending = [top]
        while pending:
            manifest = pending.pop()
            body = manifest.json
            if manifest.is_index:
                for child in body["manifests"]:
                    fetched = self.manifest(repository, child["digest"])
                    assert fetched.digest == child["digest"]
                    assert len(fetched.content) == child["size"]
                    assert fetched.media_type == child["mediaType"]
                    pending.append(fetched)
                continue
            for descriptor in [body["config"], *body["layers"]]:
                data = self.blob(repository, descriptor["digest"])
                assert len(data) == descriptor["size"], descriptor
        return top

    # -- the access log (one JSON object per request) ----------------------------------------------

    def log_offset(self) -> int:
        return self.log_path.stat().st_size

    def requests_since(self, offset: int) -> list[dict[str, Any]]:
        with self.log_path.open("rb") as handle:
            handle.seek(offset)
            text = handle.read().decode(errors="replace")
        entries = []
        for line in text.splitlines():
            if not line.startswith("{"):
                continue
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                continue
            if entry.get("logger") == "dockyard.access":
                entries.append(entry)
        return entries


def image_blobs(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    return [manifest["config"], *manifest["layers"]]


def verify_oci_layout(layout: Path) -> dict[str, Any]:
    """Every blob's sha256 equals its file name; every descriptor reachable from index.json is present
    with the right size. Returns index.json."""
    blobs = layout / "blobs" / "sha256"
    files = sorted(blobs.iterdir())
    assert files, f"no blobs in {layout}"
    for path in files:
        assert file_sha256(path) == f"sha256:{path.name}", f"blob {path} does not hash to its name"
    index: dict[str, Any] = json.loads((layout / "index.json").read_text())
    pending = list(index["manifests"])
    while pending:
        descriptor = pending.pop()
        path = blobs / descriptor["digest"].removeprefix("sha256:")
        assert path.is_file(), f"{descriptor['digest']} is missing from {layout}"
        assert path.stat().st_size == descriptor["size"], descriptor
        if descriptor.get("mediaType") in (OCI_MANIFEST, DOCKER_MANIFEST, OCI_INDEX, DOCKER_LIST):
            body = json.loads(path.read_bytes())
            pending.extend(body.get("manifests", []))
            if "layers" in body:
                pending.extend(image_blobs(body))
    return index


def oci_layout_blob(layout: Path, digest: str) -> bytes:
    return (layout / "blobs" / "sha256" / digest.removeprefix("sha256:")).read_bytes()


def oci_layout_manifest(layout: Path, tag: str) -> bytes:
    """The manifest bytes that ``index.json`` of ``layout`` tags ``tag``."""
    index = json.loads((layout / "index.json").read_text())
    for descriptor in index["manifests"]:
        if descriptor.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag:
            return oci_layout_blob(layout, descriptor["digest"])
    raise AssertionError(f"no {tag} in {layout}/index.json")


def verify_dir_transport(directory: Path) -> dict[str, Any]:
    """A ``dir:`` copy: every blob file (named by hex digest) hashes to its name, and every
    descriptor in manifest.json has its file with the right size. Returns the manifest."""
    manifest: dict[str, Any] = json.loads((directory / "manifest.json").read_bytes())
    for descriptor in image_blobs(manifest):
        path = directory / descriptor["digest"].removeprefix("sha256:")
        assert path.is_file(), f"{descriptor['digest']} is missing from {directory}"
        assert path.stat().st_size == descriptor["size"], descriptor
    for path in directory.iterdir():
        if path.name in ("manifest.json", "version") or path.name.startswith("signature"):
            continue
        assert file_sha256(path) == f"sha256:{path.name}", f"{path} does not hash to its name"
    return manifest


@dataclass
class LocalImages:
    """An OCI layout with tags ``busybox`` (1 layer), ``busybox-3layer`` and ``busybox-arm64``."""

    layout: Path

    def ref(self, tag: str) -> str:
        return f"oci:{self.layout}:{tag}"

    def manifest(self, tag: str) -> bytes:
        return oci_layout_manifest(self.layout, tag)


@dataclass
class Tool:
    """A client command with its environment: ``tool("pull", ref)`` runs it and checks the exit code."""

    argv: list[str]
    env: dict[str, str]

    def __call__(
        self, *args: str | os.PathLike[str], check: bool = True, input_text: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        return run([*self.argv, *args], env=self.env, check=check, input_text=input_text)

    def raw(self, *args: str) -> bytes:
        """stdout as bytes (for blobs)."""
        result = subprocess.run(
            [*self.argv, *args], env=self.env, capture_output=True, timeout=120, check=False
        )
        assert result.returncode == 0, result.stderr.decode(errors="replace")
        return result.stdout


# -- processes ----------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def stop(process: subprocess.Popen[bytes], timeout: float = SHUTDOWN_TIMEOUT) -> None:
    """SIGTERM, then SIGKILL the whole process group if it does not exit in time."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)


def dockyard_executable() -> Path:
    candidate = BIN_DIR / "dockyard"
    if candidate.exists():
        return candidate
    found = shutil.which("dockyard")
    assert found, "the dockyard console script is not installed next to the interpreter nor on PATH"
    return Path(found)


def hermetic_environ() -> dict[str, str]:
    """The test process's environment without DOCKYARD_* settings, so a developer's shell cannot
    point the server under test at another database."""
    return {k: v for k, v in os.environ.items() if not k.startswith("DOCKYARD_")}


@dataclass
class ServerProcess:
    registry: Registry
    process: subprocess.Popen[bytes]


def start_registry(root: Path, *extra: str, environ: Mapping[str, str] | None = None) -> ServerProcess:
    """``dockyard serve`` on a free loopback port with its data in ``root`` (``environ`` added to the
    hermetic environment); returns once GET /v2/ answers."""
    root.mkdir(parents=True, exist_ok=True)
    data_dir, log_path = root / "data", root / "server.log"
    port = free_port()
    argv = [
        os.fspath(dockyard_executable()),
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--data-dir",
        os.fspath(data_dir),
        "--auth",
        "none",  # anonymous /v2/; tests/access covers registry logins and authorization
        *extra,
    ]
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**hermetic_environ(), **(environ or {})},
            start_new_session=True,
        )
    host = f"127.0.0.1:{port}"
    client = httpx.Client(base_url=f"http://{host}", timeout=30.0, trust_env=False)  # no proxies
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while True:
        if process.poll() is not None:
            raise AssertionError(f"dockyard serve exited with {process.returncode}:\n{log_path.read_text()}")
        try:
            if client.get("/v2/").status_code == 200:
                break
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            stop(process)
            raise AssertionError(f"dockyard serve did not answer GET /v2/:\n{log_path.read_text()}")
        time.sleep(0.1)
    return ServerProcess(Registry(host, data_dir, log_path, client), process)


def server_problems(registry: Registry, offset: int) -> list[str]:
    """5xx answers and error-level log records written since ``offset``."""
    problems = []
    with registry.log_path.open("rb") as handle:
        handle.seek(offset)
        for line in handle.read().decode(errors="replace").splitlines():
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                if "Traceback" in line or "[ERROR]" in line:
                    problems.append(line)
                continue
            if not isinstance(entry, dict):
                continue
            if entry.get("level") in ("error", "critical") or int(entry.get("status", 0)) >= 500:
                problems.append(line)
    return problems
