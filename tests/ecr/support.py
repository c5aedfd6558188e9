"""A real dockyard app (the /v2/ API plus the ECR control plane) served by uvicorn on 127.0.0.1, and the
clients the tests drive it with: boto3, the aws CLI, and httpx for /v2/."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from subprocess import CompletedProcess
from typing import Any

import boto3
import httpx
import uvicorn
from botocore.config import Config
from starlette.applications import Starlette
from starlette.routing import Mount

from aws_profile import aws_cli_env
from dockyard.app import create_app, lifecycle_config
from dockyard.clock import SystemClock
from dockyard.config import Settings
from dockyard.domain.identity import AccessDenied
from dockyard.http.aws.sigv4 import SecretKeyRecord, SigV4Verifier
from dockyard.http.ecr import EcrApi, build_ecr_endpoint, fixed_account
from dockyard.services.ecr_limits import RateLimitConfig
from dockyard.services.ecr_tokens import SigningKey

ACCOUNT = "123456789012"
REGION = "us-east-1"
DOMAIN = "dockyard.localhost"
KEY, SECRET = "AKIDECRTESTEXAMPLE", "ecr/Secret+Key/EXAMPLE000000000000000000"
NO_RETRIES = Config(retries={"total_max_attempts": 1, "mode": "standard"})
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def descriptor(media_type: str, data: bytes, **extra: Any) -> dict[str, Any]:
    return {"mediaType": media_type, "digest": digest_of(data), "size": len(data), **extra}


async def lookup(access_key_id: str) -> SecretKeyRecord | None:
    return SecretKeyRecord(SECRET) if access_key_id == KEY else None


@dataclass
class Authz:
    """Allow-all unless ``deny`` is set; records every check."""

    deny: bool = False
    checks: list[tuple[str, str]] = field(default_factory=list)

    async def __call__(self, caller: Any, action: str, resource: str) -> None:
        self.checks.append((action, resource))
        if self.deny:
            raise AccessDenied(
                f"User: arn:aws:iam::{ACCOUNT}:user/test is not authorized to perform: {action} on resource: "
                f"{resource} because no identity-based policy allows the {action} action"
            )


def build_app(
    settings: Settings, authz: Authz, rate_limits: RateLimitConfig | None = None, clock: Any = None
) -> tuple[Starlette, EcrApi]:
    """The app ``dockyard serve`` runs, with the ECR API mounted as the composition root will mount it.
    ``/v2/`` is anonymous (auth ``none``) and addresses the test account, like the fixed-account ECR API."""
    settings = settings.model_copy(update={"auth": "none", "default_account": ACCOUNT})
    clock = clock or SystemClock()  # tests that simulate days pass their own (``create_app(clock=...)``)
    app = create_app(settings, clock=clock)
    services = app.state.services
    verifier = SigV4Verifier(region=REGION, service="ecr", lookup=lookup, clock=clock)
    api = build_ecr_endpoint(
        engine=services.engine,
        signal=services.signal,  # both slots, as the composition root wires it
        registry=services.registry,
        manifests=services.manifests,
        clock=clock,
        key=SigningKey.from_data_dir(settings.data_dir),
        authenticator=verifier.verify_starlette,
        authorizer=authz,
        account_of=fixed_account(ACCOUNT),
        region=REGION,
        domain=DOMAIN,
        default_account=ACCOUNT,
        rate_limits=rate_limits,
        lifecycle=lifecycle_config(settings),
        vulnerabilities=services.vulnerabilities,
    )
    app.router.routes[0:0] = api.routes()
    api.scanning.wake = lambda: app.state.scan_worker.wake()  # the app's worker, started by its lifespan
    for route in app.router.routes:
        if isinstance(route, Mount) and route.path == "/v2":
            route.app = api.throttle_oci(route.app)
    return app, api


@dataclass
class Server:
    url: str
    api: EcrApi
    authz: Authz
    settings: Settings
    http: httpx.Client

    def ecr(self, **config: Any) -> Any:
        return boto3.client(
            "ecr",
            endpoint_url=self.url,
            region_name=REGION,
            aws_access_key_id=KEY,
            aws_secret_access_key=SECRET,
            config=NO_RETRIES.merge(Config(**config)) if config else NO_RETRIES,
        )

    # -- /v2/ ------------------------------------------------------------------------------------------

    def push_blob(self, repo: str, data: bytes) -> str:
        digest = digest_of(data)
        response = self.http.post(f"/v2/{repo}/blobs/uploads/", params={"digest": digest}, content=data)
        assert response.status_code == 201, response.text
        return digest

    def put_manifest(
        self, repo: str, reference: str, body: bytes, media_type: str = OCI_MANIFEST
    ) -> httpx.Response:
        return self.http.put(
            f"/v2/{repo}/manifests/{reference}", content=body, headers={"Content-Type": media_type}
        )

    def push_image(
        self,
        repo: str,
        tag: str | None,
        *,
        seed: str = "x",
        layers: int = 1,
        docker: bool = False,
        **extra: Any,
    ) -> tuple[str, bytes, int]:
        """Push a config, ``layers`` layers and a manifest; returns (digest, manifest, blob bytes)."""
        config = json.dumps({"seed": seed, "architecture": "amd64", "os": "linux"}).encode()
        layer_data = [f"{seed}-layer-{i}".encode() * (100 + i) for i in range(layers)]
        for data in [config, *layer_data]:
            self.push_blob(repo, data)
        kinds = (
            (DOCKER_MANIFEST, DOCKER_CONFIG, DOCKER_LAYER)
            if docker
            else (OCI_MANIFEST, OCI_CONFIG, OCI_LAYER)
        )
        document = {
            "schemaVersion": 2,
            "mediaType": kinds[0],
            "config": descriptor(kinds[1], config),
            "layers": [descriptor(kinds[2], data) for data in layer_data],
            **extra,
        }
        body = json.dumps(document).encode()
        response = self.put_manifest(repo, tag or digest_of(body), body, kinds[0])
        assert response.status_code == 201, response.text
        return digest_of(body), body, len(config) + sum(len(d) for d in layer_data)


def _free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    return sock


@contextmanager
def serve(
    settings: Settings, rate_limits: RateLimitConfig | None = None, clock: Any = None
) -> Iterator[Server]:
    authz = Authz()
    app, api = build_app(settings, authz, rate_limits, clock)
    sock = _free_socket()
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.started
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    with httpx.Client(base_url=url, timeout=30) as client:
        try:
            yield Server(url, api, authz, settings, client)
        finally:
            server.should_exit = True
            thread.join(timeout=20)
            sock.close()


# ------------------------------------------------------------------------------------------------ aws CLI

AWS_CLI = shutil.which("aws", path=os.path.dirname(sys.executable)) or shutil.which("aws")


def aws(server: Server, home: Path, *args: str) -> CompletedProcess[str]:
    """``aws ecr <args>`` with a profile for this server, as the README shows it."""
    env = aws_cli_env(home, server.url, KEY, SECRET, REGION)
    command = [str(AWS_CLI), "ecr", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False)
