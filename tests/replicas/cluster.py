"""A set of `dockyard serve` replicas as separate processes, each with its own data directory, sharing only
a fresh PostgreSQL database, one S3 prefix (moto on loopback unless ``DOCKYARD_TEST_S3_*``) and the secret
keys. Used by the replica tests; the database is created for the cluster and dropped afterwards."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
import pytest

from conftest import POSTGRES_SERVER, _create_database, _drop_database
from dockyard.crypto import new_key
from identity.support import ACCOUNT, DOCKYARD, Creds, client, free_port
from s3_target import S3Target, unique_prefix


@dataclass
class Replica:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def host(self) -> str:
        """``127.0.0.1:PORT``, as clients spell the registry."""
        return self.url.removeprefix("http://")

    def pids(self) -> set[int]:
        """The server process and its workers."""
        found = {self.process.pid}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    status = (entry / "status").read_text()
                except OSError:
                    continue
                ppid = next(line for line in status.splitlines() if line.startswith("PPid:"))
                if int(ppid.split()[1]) == self.process.pid:
                    found.add(int(entry.name))
        return found

    def kill(self) -> None:
        """SIGKILL the replica's whole process group (server and workers)."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.kill()


@dataclass
class Cluster:
    replicas: list[Replica]
    env: dict[str, str]
    dsn: str
    root: Creds
    base: Path

    @property
    def urls(self) -> list[str]:
        return [r.url for r in self.replicas if r.process.poll() is None]

    def admin(self, *args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
        command = [DOCKYARD, "admin", *args, "--data-dir", str(data_dir)]
        return subprocess.run(command, env=self.env, capture_output=True, text=True, timeout=60, check=False)

    @contextlib.contextmanager
    def extra_replica(self, name: str) -> Iterator[Replica]:
        """One more replica of this cluster, stopped (or found dead) when the block ends."""
        replica = start_replica(self.env, self.base / name, 1)
        try:
            wait_ready(replica)
            yield replica
        finally:
            replica.stop()


def start_replica(env: dict[str, str], data_dir: Path, workers: int) -> Replica:
    port = free_port()
    log = data_dir.parent / f"replica-{port}.log"
    command = [DOCKYARD, "serve", "--data-dir", str(data_dir), "--port", str(port), "--workers", str(workers)]
    process = subprocess.Popen(
        command, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True
    )
    return Replica(f"http://127.0.0.1:{port}", process, log)


def wait_ready(replica: Replica) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert replica.process.poll() is None, replica.log.read_text()
        try:
            if httpx.get(replica.url + "/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"replica {replica.url} not ready: {replica.log.read_text()}")


@contextlib.contextmanager
def running_cluster(
    tmp_path_factory: pytest.TempPathFactory, s3_target: S3Target, workers: tuple[int, ...], **settings: str
) -> Iterator[Cluster]:
    """``len(workers)`` replicas on a database created here (dropped afterwards) and a fresh S3 prefix,
    with one account created by ``dockyard admin init``; ``settings`` are extra ``DOCKYARD_*`` values."""
    name = f"dockyard_replicas_{uuid.uuid4().hex[:10]}"
    try:
        asyncio.run(_create_database(name))
    except (OSError, asyncpg.PostgresError) as exc:
        pytest.skip(f"PostgreSQL is not reachable: {exc}")
    dsn = f"{POSTGRES_SERVER}/{name}"
    base = tmp_path_factory.mktemp("replicas")
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKYARD_")}
    env.update({f"DOCKYARD_{k.upper()}": str(v) for k, v in s3_target.settings(unique_prefix()).items()})
    env.update(
        DOCKYARD_DATABASE_URL=dsn,
        DOCKYARD_SECRET_KEYS=new_key(),
        DOCKYARD_ACCESS_LOG="false",
        DOCKYARD_SERVER="uvicorn",
    )
    env.update({f"DOCKYARD_{k.upper()}": v for k, v in settings.items()})
    replicas: list[Replica] = []
    try:
        init = subprocess.run(
            [DOCKYARD, "admin", "init", "--json", "--account-id", ACCOUNT, "--data-dir", str(base / "admin")],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert init.returncode == 0, init.stderr
        created = json.loads(init.stdout)
        replicas += [start_replica(env, base / f"r{i}", count) for i, count in enumerate(workers)]
        for replica in replicas:
            wait_ready(replica)
        root = Creds(created["access_key_id"], created["secret_access_key"])
        yield Cluster(replicas, env, dsn, root, base)
    finally:
        for replica in replicas:
            if replica.process.poll() is None:
                os.killpg(replica.process.pid, signal.SIGTERM)
        for replica in replicas:
            replica.stop()
        asyncio.run(_drop_database(name))


def login(url: str, creds: Creds) -> str:
    """An ``Authorization`` header value: Basic with a registry password from GetAuthorizationToken."""
    token = client(url, "ecr", creds).get_authorization_token()["authorizationData"][0]["authorizationToken"]
    return f"Basic {token}"


def registry_password(authorization: str) -> str:
    return base64.b64decode(authorization.split()[1]).decode().split(":", 1)[1]
