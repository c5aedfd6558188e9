"""How should an upload's sha256 survive between chunks that land on different replicas?

Measures the alternatives ``docs/storage.md`` compares, on this machine:

1. hashing throughput: ``hashlib.sha256`` vs the resumable libcrypto SHA-256 (``blobstore.hashstate``);
2. the cost of saving and resuming that state (what every chunk pays with a saved hash state);
3. re-reading at commit: GET + sha256 of a blob from S3 (what every commit pays without a saved state);
4. rebuilding on every replica switch (the filesystem driver's old way; impossible on S3, where parts of an
   unfinished multipart upload cannot be read): the bytes that must be re-read, from (3)'s throughput.

S3 is moto's server on a free loopback port unless ``DOCKYARD_TEST_S3_ENDPOINT`` (and the other
``DOCKYARD_TEST_S3_*`` variables of ``tests/s3_target.py``) name another service.

    .venv/bin/python -m bench.s3_hash_state [--mib 64]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from dockyard.blobstore.hashstate import ResumableSha256, available
from dockyard.blobstore.s3 import S3Config, S3Driver

MIB = 1 << 20
BLOB = 200 * MIB  # a large layer, for the per-commit figures


def throughput(make: type[ResumableSha256] | None, data: bytes, rounds: int) -> float:
    """MiB/s of ``rounds`` passes over ``data`` in 1 MiB updates (best of three)."""
    best = float("inf")
    for _ in range(3):
        hasher = make() if make is not None else hashlib.sha256()
        start = time.perf_counter()
        for _ in range(rounds):
            for offset in range(0, len(data), MIB):
                hasher.update(data[offset : offset + MIB])
        hasher.hexdigest()
        best = min(best, time.perf_counter() - start)
    return rounds * len(data) / MIB / best


def save_resume_micros(count: int = 20_000) -> float:
    hasher = ResumableSha256()
    hasher.update(os.urandom(1000))
    start = time.perf_counter()
    for _ in range(count):
        hasher = ResumableSha256.resume(hasher.state())
    return (time.perf_counter() - start) / count * 1e6


@contextlib.contextmanager
def s3_config() -> Iterator[S3Config]:
    env = os.environ
    common = {
        "bucket": env.get("DOCKYARD_TEST_S3_BUCKET", "dockyard-bench"),
        "prefix": f"bench-{uuid.uuid4().hex[:8]}/",
        "region": env.get("DOCKYARD_TEST_S3_REGION", "us-east-1"),
        "addressing_style": env.get("DOCKYARD_TEST_S3_ADDRESSING_STYLE", "path"),
        "access_key_id": env.get("DOCKYARD_TEST_S3_ACCESS_KEY_ID", "test"),
        "secret_access_key": env.get("DOCKYARD_TEST_S3_SECRET_ACCESS_KEY", "test"),
    }
    if endpoint := env.get("DOCKYARD_TEST_S3_ENDPOINT"):
        yield S3Config(endpoint_url=endpoint, **common)  # type: ignore[arg-type]
        return
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    moto = shutil.which("moto_server", path=str(Path(sys.executable).parent)) or "moto_server"
    process = subprocess.Popen(
        [moto, "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        yield S3Config(endpoint_url=f"http://127.0.0.1:{port}", **common)  # type: ignore[arg-type]
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(15)


async def s3_figures(config: S3Config, size: int) -> dict[str, float]:
    driver = S3Driver(config)
    for _ in range(100):  # the server may still be starting
        try:
            await driver.call(driver.client.head_bucket, Bucket=config.bucket)
            break
        except Exception:
            try:
                await driver.call(driver.client.create_bucket, Bucket=config.bucket)
                break
            except Exception:
                await asyncio.sleep(0.2)
    data = os.urandom(size)
    writer = await driver.writer("uploads/bench/data")
    start = time.perf_counter()
    for offset in range(0, size, MIB):
        await writer.write(data[offset : offset + MIB])
    await writer.save(b"")
    save_done = time.perf_counter()
    await writer.commit("uploads/bench/data")
    complete_done = time.perf_counter()
    hasher = hashlib.sha256()
    async for chunk in driver.read("uploads/bench/data"):
        hasher.update(chunk)
    reread_done = time.perf_counter()
    await driver.commit("uploads/bench/data", "blobs/bench")
    copy_done = time.perf_counter()
    assert hasher.hexdigest() == hashlib.sha256(data).hexdigest()
    await driver.delete("blobs/bench")
    await driver.delete("uploads/bench")
    mib = size / MIB
    return {
        "upload MiB/s (parts + checkpoint)": mib / (save_done - start),
        "complete multipart s": complete_done - save_done,
        "re-read + sha256 MiB/s": mib / (reread_done - complete_done),
        "server-side copy MiB/s": mib / (copy_done - reread_done),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=64, help="size of the S3 test blob in MiB")
    args = parser.parse_args()
    assert available(), "libcrypto's SHA256 functions are not usable here"
    data = os.urandom(64 * MIB)
    plain = throughput(None, data, 2)
    resumable = throughput(ResumableSha256, data, 2)
    micros = save_resume_micros()
    print(f"sha256 hashlib                 {plain:8.0f} MiB/s")
    print(f"sha256 resumable (libcrypto)   {resumable:8.0f} MiB/s  ({resumable / plain:.2f}x hashlib)")
    print(
        f"save + resume the state        {micros:8.1f} us per chunk, {len(ResumableSha256().state())} bytes"
    )
    with s3_config() as config:
        figures = asyncio.run(s3_figures(config, args.mib * MIB))
    for name, value in figures.items():
        print(f"S3 {name:<28}{value:8.2f}")
    reread = figures["re-read + sha256 MiB/s"]
    blob_mib = BLOB / MIB
    print(
        f"per 200 MiB blob: saved state {micros * 20 / 1e3:.2f} ms (20 chunks); re-read at commit "
        f"{blob_mib / reread:.2f} s; rebuild on every switch, 20 alternating chunks "
        f"{sum(range(20)) * blob_mib / 20 / reread:.1f} s"
    )


if __name__ == "__main__":
    main()
