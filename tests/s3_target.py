"""The S3 service the storage tests run against: by default moto's server, started once per session on a
free loopback port; any S3-compatible service (AWS, MinIO, Ceph RGW) when these are set:

    DOCKYARD_TEST_S3_ENDPOINT           endpoint URL, e.g. http://127.0.0.1:9000 (unset: moto on loopback)
    DOCKYARD_TEST_S3_BUCKET             bucket (created when missing; default dockyard-test)
    DOCKYARD_TEST_S3_ACCESS_KEY_ID      credentials (default test / test, which moto accepts)
    DOCKYARD_TEST_S3_SECRET_ACCESS_KEY
    DOCKYARD_TEST_S3_REGION             default us-east-1
    DOCKYARD_TEST_S3_ADDRESSING_STYLE   path (default), virtual or auto

Each test works under its own random key prefix, so a shared bucket is fine and nothing is assumed empty.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import boto3
import pytest
from botocore.exceptions import ClientError

from dockyard.blobstore.s3 import S3Config, s3_client

ENV = "DOCKYARD_TEST_S3_"
STARTUP_TIMEOUT = 60.0


@dataclass(frozen=True)
class S3Target:
    endpoint_url: str
    bucket: str
    access_key_id: str
    secret_access_key: str = field(repr=False)
    region: str
    addressing_style: Literal["auto", "path", "virtual"]

    def config(self, prefix: str, part_size: int = 5 * 1024 * 1024) -> S3Config:
        return S3Config(
            bucket=self.bucket,
            prefix=prefix,
            endpoint_url=self.endpoint_url,
            region=self.region,
            addressing_style=self.addressing_style,
            access_key_id=self.access_key_id,
            secret_access_key=self.secret_access_key,
            part_size=part_size,
        )

    def client(self) -> Any:
        return s3_client(self.config(""))

    def settings(self, prefix: str) -> dict[str, Any]:
        """Dockyard settings for storage in this target under ``prefix``."""
        return {
            "storage": "s3",
            "s3_bucket": self.bucket,
            "s3_prefix": prefix,
            "s3_endpoint_url": self.endpoint_url,
            "s3_region": self.region,
            "s3_addressing_style": self.addressing_style,
            "s3_access_key_id": self.access_key_id,
            "s3_secret_access_key": self.secret_access_key,
        }

    def keys(self, prefix: str) -> list[str]:
        return list_keys(self.client(), self.bucket, prefix)


def list_keys(client: Any, bucket: str, prefix: str) -> list[str]:
    """Every object key and every unfinished multipart upload's key under ``prefix``."""
    keys = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys += [item["Key"] for item in page.get("Contents", [])]
    for page in client.get_paginator("list_multipart_uploads").paginate(Bucket=bucket, Prefix=prefix):
        keys += [f"{item['Key']} (unfinished multipart upload)" for item in page.get("Uploads", [])]
    return sorted(keys)


def unique_prefix() -> str:
    return f"dockyard-test-{uuid.uuid4().hex[:12]}/"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _moto_command(port: int) -> list[str]:
    script = Path(sys.executable).parent / "moto_server"
    found = script if script.exists() else shutil.which("moto_server")
    if found is None:
        pytest.skip("moto_server is not installed (pip install -e '.[test]')")
    return [os.fspath(found), "-H", "127.0.0.1", "-p", str(port)]


def _ensure_bucket(target: S3Target) -> None:
    client = target.client()
    try:
        client.head_bucket(Bucket=target.bucket)
    except ClientError:
        extra = {}
        if target.region != "us-east-1":
            extra["CreateBucketConfiguration"] = {"LocationConstraint": target.region}
        client.create_bucket(Bucket=target.bucket, **extra)


def _wait_for(target: S3Target, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while True:
        if process.poll() is not None:
            raise AssertionError(f"moto_server exited with {process.returncode}:\n{log.read_text()}")
        try:
            boto3.client(
                "s3",
                endpoint_url=target.endpoint_url,
                region_name=target.region,
                aws_access_key_id=target.access_key_id,
                aws_secret_access_key=target.secret_access_key,
            ).list_buckets()
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@pytest.fixture(scope="session")
def s3_target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Target]:
    env = os.environ
    style = env.get(f"{ENV}ADDRESSING_STYLE", "path")
    assert style in ("auto", "path", "virtual"), style
    common = {
        "bucket": env.get(f"{ENV}BUCKET", "dockyard-test"),
        "access_key_id": env.get(f"{ENV}ACCESS_KEY_ID", "test"),
        "secret_access_key": env.get(f"{ENV}SECRET_ACCESS_KEY", "test"),
        "region": env.get(f"{ENV}REGION", "us-east-1"),
        "addressing_style": style,
    }
    endpoint = env.get(f"{ENV}ENDPOINT")
    if endpoint:
        target = S3Target(endpoint_url=endpoint, **common)  # type: ignore[arg-type]
        _ensure_bucket(target)
        yield target
        return
    port = _free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    with log.open("ab") as out:
        process = subprocess.Popen(
            _moto_command(port),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        target = S3Target(endpoint_url=f"http://127.0.0.1:{port}", **common)  # type: ignore[arg-type]
        _wait_for(target, process, log)
        _ensure_bucket(target)
        yield target
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
