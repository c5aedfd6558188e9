"""The cost of authorisation on a cached manifest GET: the same image served by two fresh `dockyard serve`
processes, one with ``--auth none`` (anonymous) and one with ``--auth iam`` (every request carries an ECR
registry password; the caller is an IAM user with AmazonEC2ContainerRegistryReadOnly), measured with wrk.

    .venv/bin/python -m bench.auth_cost [--seconds 5] [--connections 1,16]

Writes ``bench/results/<time>-auth.md``. The difference of the mean latencies is what authorisation adds
to one request (Basic header, password, credential, principal and decision caches)."""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import boto3
import httpx

from bench import loadgen
from bench.payload import MANIFEST_ACCEPT
from bench.servers import HOST, Server, start_dockyard, stop, wait_ready

DOCKYARD = Path(sys.executable).with_name("dockyard")
REPO = "bench/auth"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _push(base: str, auth: tuple[str, str] | None) -> None:
    config, layer = b'{"bench":"auth"}', b"bench-layer\n" * 64
    with httpx.Client(base_url=base, auth=auth, timeout=30, trust_env=False) as client:
        for blob in (config, layer):
            response = client.post(
                f"/v2/{REPO}/blobs/uploads/", params={"digest": _digest(blob)}, content=blob
            )
            response.raise_for_status()
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {
                    "mediaType": "application/vnd.oci.image.config.v1+json",
                    "digest": _digest(config),
                    "size": len(config),
                },
                "layers": [
                    {
                        "mediaType": "application/vnd.oci.image.layer.v1.tar",
                        "digest": _digest(layer),
                        "size": len(layer),
                    }
                ],
            }
        ).encode()
        client.put(
            f"/v2/{REPO}/manifests/latest", content=manifest, headers={"Content-Type": OCI_MANIFEST}
        ).raise_for_status()


def _reader_password(workdir: Path, server: Server) -> str:
    """A user with AmazonEC2ContainerRegistryReadOnly (and the root key to push), as registry passwords."""
    done = subprocess.run(
        [str(DOCKYARD), "admin", "init", "--data-dir", str(server.data_dir), "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    root = json.loads(done.stdout)
    url = f"http://{HOST}:{server.port}"

    def client(service: str, key: str, secret: str) -> object:
        return boto3.client(
            service,
            endpoint_url=url,
            region_name=root["region"],
            aws_access_key_id=key,
            aws_secret_access_key=secret,
        )

    iam = client("iam", root["access_key_id"], root["secret_access_key"])
    iam.create_user(UserName="reader")  # type: ignore[attr-defined]
    iam.attach_user_policy(  # type: ignore[attr-defined]
        UserName="reader", PolicyArn="arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly"
    )
    key = iam.create_access_key(UserName="reader")["AccessKey"]  # type: ignore[attr-defined]

    def password(access_key: str, secret: str) -> str:
        ecr = client("ecr", access_key, secret)
        token = ecr.get_authorization_token()["authorizationData"][0]["authorizationToken"]  # type: ignore[attr-defined]
        return base64.b64decode(token).decode().split(":", 1)[1]

    _push(url, ("AWS", password(root["access_key_id"], root["secret_access_key"])))
    return password(key["AccessKeyId"], key["SecretAccessKey"])


async def _measure(
    server: Server, workdir: Path, connections: list[int], seconds: int, authorization: str | None
) -> list[loadgen.LoadResult]:
    url = f"http://{HOST}:{server.port}/v2/{REPO}/manifests/latest"
    return [
        await loadgen.wrk_get(
            url,
            accept=MANIFEST_ACCEPT,
            connections=c,
            seconds=seconds,
            workdir=workdir,
            authorization=authorization,
        )
        for c in connections
    ]


async def gate_cost(workdir: Path, rounds: int = 20_000) -> tuple[float, float]:
    """Microseconds per ``/v2/`` admission (token, credential, principal, decision) in process: on a hit of
    the admission cache, and with every cache dropped first (what the first request after a write pays)."""
    from datetime import UTC, datetime

    from dockyard.app import create_app
    from dockyard.config import Settings
    from dockyard.domain.identity import RegistryHosts
    from dockyard.http.oci.auth import OciGate

    data_dir = workdir / "gate"
    done = subprocess.run(
        [str(DOCKYARD), "admin", "init", "--data-dir", str(data_dir), "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    root = json.loads(done.stdout)
    app = create_app(Settings(data_dir=data_dir, access_log=False))
    async with app.router.lifespan_context(app):
        services = app.state.services
        access = services.registry_access
        password = access.issuer.issue(
            root["account_id"],
            f"arn:aws:iam::{root['account_id']}:root",
            datetime(2099, 1, 1, tzinfo=UTC),
            root["access_key_id"],
        )
        gate = OciGate(access, RegistryHosts("dockyard.localhost"), enabled=True)
        header = b"Basic " + base64.b64encode(f"AWS:{password}".encode())
        scope = {"headers": [(b"host", b"127.0.0.1:5000"), (b"authorization", header)], "query_string": b""}
        await gate.admit(scope, "manifests", "GET", REPO)
        started = time.perf_counter()
        for _ in range(rounds):
            await gate.admit(scope, "manifests", "GET", REPO)
        hit = (time.perf_counter() - started) / rounds * 1e6
        started = time.perf_counter()
        for _ in range(rounds // 10):
            services.signal.bump()
            await gate.admit(scope, "manifests", "GET", REPO)
        cold = (time.perf_counter() - started) / (rounds // 10) * 1e6
    return hit, cold


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", default="1,16")
    args = parser.parse_args(argv)
    connections = [int(c) for c in args.connections.split(",")]
    with tempfile.TemporaryDirectory(prefix="dockyard-bench-auth-") as temporary:
        root = Path(temporary)
        results: dict[str, list[loadgen.LoadResult]] = {}
        for mode in ("none", "iam"):
            workdir = root / mode
            workdir.mkdir()
            server = start_dockyard(workdir, ["--auth", mode])
            try:
                wait_ready(server) if mode == "none" else _wait_readyz(server)
                authorization = None
                if mode == "none":
                    _push(f"http://{HOST}:{server.port}", None)
                else:
                    password = _reader_password(workdir, server)
                    authorization = "Basic " + base64.b64encode(f"AWS:{password}".encode()).decode()
                results[mode] = asyncio.run(
                    _measure(server, workdir, connections, args.seconds, authorization)
                )
            finally:
                stop(server)
    lines = [
        "# Cost of authorisation on manifest GET by tag (cached), wrk",
        "",
        "| connections | anonymous req/s | authorised req/s | ratio | anonymous mean ms "
        "| authorised mean ms | added per request (µs, mean) |",
        "|---|---|---|---|---|---|---|",
    ]
    for c, none, iam in zip(connections, results["none"], results["iam"], strict=True):
        added = (iam.mean_ms - none.mean_ms) * 1000
        lines.append(
            f"| {c} | {none.rate:,.0f} | {iam.rate:,.0f} | {iam.rate / none.rate:.2f} | {none.mean_ms:.3f} | "
            f"{iam.mean_ms:.3f} | {added:.0f} |"
        )
    with tempfile.TemporaryDirectory(prefix="dockyard-bench-gate-") as temporary:
        hit, cold = asyncio.run(gate_cost(Path(temporary)))
    lines += [
        "",
        f"In process, per admitted request: {hit:.1f} µs on an admission-cache hit, {cold:.1f} µs with every "
        "cache dropped (the first request after any write; the database is read for the credential, the "
        "principal and the policies).",
    ]
    report = "\n".join(lines) + "\n"
    out = Path(__file__).parent / "results" / f"{time.strftime('%Y%m%d-%H%M%S')}-auth.md"
    out.parent.mkdir(exist_ok=True)
    out.write_text(report)
    print(report)
    print(f"written to {out}")
    return 0


def _wait_readyz(server: Server, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://{HOST}:{server.port}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"dockyard not ready; see {server.log_path}")


if __name__ == "__main__":
    raise SystemExit(main())
