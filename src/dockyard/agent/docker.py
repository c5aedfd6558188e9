"""A small asynchronous Docker Engine API client (httpx over the unix socket).

The agent needs a dozen calls of the Engine API and runs them from its event loop next to its two HTTP
servers and the poll; the Docker SDK for Python is synchronous and would need a thread per waiting
container or log stream, so these calls are made directly. The API version is negotiated once from
``GET /version``: the daemon's, capped at the newest this client was written against.
"""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from dockyard.agent.docker_frames import FrameDecoder, LogLine

NEWEST_API = (1, 43)
OLDEST_API = (1, 25)
DEFAULT_HOST = "unix:///var/run/docker.sock"


class DockerError(Exception):
    """The Engine answered an error: its HTTP status and its ``message``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class PullError(DockerError):
    """A pull failed; ``message`` is the daemon's, which carries the registry's own words."""


@dataclass(frozen=True)
class ImageRef:
    """An image reference split as Docker splits it (``busybox`` is ``docker.io/library/busybox:latest``)."""

    registry: str
    repository: str
    tag: str | None
    digest: str | None

    @classmethod
    def parse(cls, ref: str) -> ImageRef:
        name, _, digest = ref.partition("@")
        tag = None
        if name.rfind(":") > name.rfind("/"):
            name, _, tag = name.rpartition(":")
        first, slash, rest = name.partition("/")
        if slash and ("." in first or ":" in first or first == "localhost"):
            registry, repository = first, rest
        else:
            registry, repository = "docker.io", name if "/" in name else f"library/{name}"
        if not name or not repository:
            raise ValueError(f"not an image reference: {ref!r}")
        return cls(registry, repository, tag or (None if digest else "latest"), digest or None)

    @property
    def name(self) -> str:
        return f"{self.registry}/{self.repository}"

    @property
    def reference(self) -> str:
        """What ``/images/create`` takes as ``tag``: the digest when there is one."""
        return self.digest or self.tag or "latest"

    def __str__(self) -> str:
        return f"{self.name}@{self.digest}" if self.digest else f"{self.name}:{self.tag}"


@dataclass(frozen=True)
class RegistryAuth:
    """A registry login for one pull, sent as ``X-Registry-Auth`` (base64url of Docker's AuthConfig)."""

    username: str
    password: str = field(repr=False)
    server_address: str

    def header(self) -> str:
        config = {"username": self.username, "password": self.password, "serveraddress": self.server_address}
        return base64.urlsafe_b64encode(json.dumps(config).encode()).decode()


@dataclass(frozen=True)
class ContainerInfo:
    """What the agent reads back from ``GET /containers/{id}/json``."""

    id: str
    labels: dict[str, str]
    env: dict[str, str] = field(repr=False)
    running: bool
    exit_code: int


def _message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text.strip() or response.reason_phrase
    return str(body.get("message") or body) if isinstance(body, dict) else str(body)


def _version(text: str) -> tuple[int, int]:
    major, _, minor = text.partition(".")
    return int(major), int(minor)


def _transport(host: str) -> tuple[str, httpx.AsyncHTTPTransport]:
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=16)
    scheme, _, address = host.partition("://")
    if scheme == "unix":
        return "http://docker", httpx.AsyncHTTPTransport(uds=address, limits=limits)
    if scheme in ("tcp", "http"):
        return f"http://{address}", httpx.AsyncHTTPTransport(limits=limits)
    raise ValueError(f"unsupported Docker host {host!r} (unix:// or tcp://)")


class DockerClient:
    """The Engine API calls the agent makes; errors are ``DockerError``."""

    def __init__(self, host: str = DEFAULT_HOST, *, timeout: float = 60.0) -> None:
        base_url, transport = _transport(host)
        self._client = httpx.AsyncClient(
            base_url=base_url, transport=transport, timeout=timeout, trust_env=False
        )
        self.api_version: str | None = None

    async def close(self) -> None:
        await self._client.aclose()

    async def negotiate(self) -> str:
        """Pick the API version: the daemon's, capped at ``NEWEST_API``."""
        with _unreachable():
            response = await self._client.get("/version")
        self._check(response)
        info = response.json()
        chosen = min(_version(info["ApiVersion"]), NEWEST_API)
        if chosen < OLDEST_API:
            raise DockerError(0, f"Docker Engine API {info['ApiVersion']} is older than this agent needs")
        self.api_version = f"{chosen[0]}.{chosen[1]}"
        return self.api_version

    def _path(self, path: str) -> str:
        if self.api_version is None:
            raise RuntimeError("negotiate() the API version first")
        return f"/v{self.api_version}{path}"

    @staticmethod
    def _check(response: httpx.Response, *, ok: tuple[int, ...] = ()) -> None:
        if response.status_code >= 400 and response.status_code not in ok:
            raise DockerError(response.status_code, _message(response))

    async def _call(self, method: str, path: str, *, ok: tuple[int, ...] = (), **kwargs: Any) -> Any:
        with _unreachable():
            response = await self._client.request(method, self._path(path), **kwargs)
        self._check(response, ok=ok)
        return response.json() if response.content else None

    # -- images ---------------------------------------------------------------------------------------

    async def pull(self, ref: ImageRef, auth: RegistryAuth | None = None) -> None:
        """``POST /images/create``; the daemon's progress stream ends with an ``error`` when it fails."""
        headers = {"X-Registry-Auth": auth.header()} if auth is not None else {}
        params = {"fromImage": ref.name, "tag": ref.reference}
        timeout = httpx.Timeout(60.0, read=600.0)
        request = self._client.stream(
            "POST", self._path("/images/create"), params=params, headers=headers, timeout=timeout
        )
        with _unreachable():
            async with request as response:
                if response.status_code >= 400:
                    await response.aread()
                    raise PullError(response.status_code, _message(response))
                async for line in response.aiter_lines():
                    _raise_stream_error(line, response.status_code)

    async def image_digest(self, ref: ImageRef) -> str | None:
        """The manifest digest ``ref`` was pulled by: its own digest, else the matching RepoDigest."""
        if ref.digest:
            return ref.digest
        image = await self._call("GET", f"/images/{ref}/json")
        for repo_digest in image.get("RepoDigests") or []:
            name, _, digest = str(repo_digest).partition("@")
            if ImageRef.parse(name).name == ref.name:
                return digest
        return None

    # -- containers -----------------------------------------------------------------------------------

    async def create_container(self, name: str, body: Mapping[str, Any]) -> str:
        created = await self._call("POST", "/containers/create", params={"name": name}, json=dict(body))
        return str(created["Id"])

    async def start(self, container: str) -> None:
        await self._call("POST", f"/containers/{container}/start", ok=(304,))

    async def wait(self, container: str) -> int:
        """Block until the container is not running; its exit code."""
        done = await self._call(
            "POST", f"/containers/{container}/wait", params={"condition": "not-running"}, timeout=None
        )
        return int(done["StatusCode"])

    async def stop(self, container: str, grace: int) -> None:
        """SIGTERM, then SIGKILL after ``grace`` seconds; stopping a stopped container is fine."""
        await self._call(
            "POST", f"/containers/{container}/stop", params={"t": grace}, ok=(304,), timeout=grace + 60
        )

    async def remove(self, container: str) -> None:
        await self._call("DELETE", f"/containers/{container}", params={"force": "true"}, ok=(404,))

    async def inspect(self, container: str) -> ContainerInfo:
        data = await self._call("GET", f"/containers/{container}/json")
        config, state = data.get("Config") or {}, data.get("State") or {}
        env = dict(item.partition("=")[::2] for item in config.get("Env") or [])
        return ContainerInfo(
            id=str(data["Id"]),
            labels=dict(config.get("Labels") or {}),
            env=env,
            running=bool(state.get("Running")),
            exit_code=int(state.get("ExitCode") or 0),
        )

    async def list_containers(self, labels: Mapping[str, str]) -> list[str]:
        """The ids of every container (running or not) with all of these labels."""
        filters = json.dumps({"label": [f"{key}={value}" for key, value in labels.items()]})
        found = await self._call("GET", "/containers/json", params={"all": "true", "filters": filters})
        return [str(item["Id"]) for item in found]

    async def logs(self, container: str, *, follow: bool = True) -> AsyncIterator[LogLine]:
        """stdout and stderr lines with Docker's timestamps; with ``follow`` until the container stops."""
        params = {"stdout": "1", "stderr": "1", "timestamps": "1", "follow": "1" if follow else "0"}
        timeout = httpx.Timeout(60.0, read=None if follow else 60.0)  # a quiet container is no error
        path = self._path(f"/containers/{container}/logs")
        request = self._client.stream("GET", path, params=params, timeout=timeout)
        with _unreachable():
            async with request as response:
                if response.status_code >= 400:
                    await response.aread()
                    self._check(response)
                decoder = FrameDecoder()
                async for chunk in response.aiter_bytes():
                    for line in decoder.feed(chunk):
                        yield line


@contextlib.contextmanager
def _unreachable() -> Iterator[None]:
    """A broken connection to the daemon is a ``DockerError`` too (status 0)."""
    try:
        yield
    except httpx.TransportError as exc:
        raise DockerError(0, f"Docker Engine API: {type(exc).__name__}: {exc}") from exc


def _raise_stream_error(line: str, status: int) -> None:
    if not line.strip():
        return
    try:
        event = json.loads(line)
    except ValueError:
        return
    if isinstance(event, dict) and event.get("error"):
        detail = event.get("errorDetail") or {}
        raise PullError(status, str(detail.get("message") or event["error"]))
