"""Blob scenarios: large pushes (monolithic, chunked), large pulls (1 and N clients), many small pushes."""

from __future__ import annotations

import asyncio

from bench.http import REDIRECTS, TRAFFIC, Connection, HttpError
from bench.model import MIB, Measurement, Payloads, Target, run_concurrently, timed
from bench.payload import Landing
from bench.registry import pull_blob
from bench.servers import HOST

BIG_REPO = "bench/big"
REDIRECT_GETS = 200  # blob GETs answered by a redirect, for a steady figure of the server's CPU per GET
SMALL_REPO = "bench/small"


async def push(target: Target, payloads: Payloads) -> list[Measurement]:
    big, chunked, sizes = payloads.big, payloads.big_chunked, payloads.sizes
    mib = big.size / MIB
    mono_s = await timed(target.client.push_monolithic(BIG_REPO, big))
    chunk_s = await timed(target.client.push_chunked(BIG_REPO + "-chunked", chunked, sizes.chunk))
    for repo, blob in ((BIG_REPO, big), (BIG_REPO + "-chunked", chunked)):
        if not await target.client.blob_exists(repo, blob):
            raise RuntimeError(f"pushed blob {blob.digest} not found in {repo}")
    label = f"{mib:.0f} MiB blob push"
    return [
        Measurement("push.mono", f"{label}, monolithic (POST + PUT)", "MiB/s", True, mib / mono_s),
        Measurement(
            "push.chunked", f"{label}, {sizes.chunk // MIB} MiB PATCH chunks", "MiB/s", True, mib / chunk_s
        ),
    ]


async def pull(target: Target, payloads: Payloads) -> list[Measurement]:
    big, sizes = payloads.big, payloads.sizes
    await target.client.ensure_blob(BIG_REPO, big)
    mib = big.size / MIB

    async def pull_with(clients: int) -> float:
        """Seconds for ``clients`` concurrent pulls, each on its own connection; all verified."""
        landings = None if sizes.inline_verify else [Landing(big.digest, big.size) for _ in range(clients)]
        conns = [Connection(HOST, target.server.port) for _ in range(clients)]
        try:
            pulls = [
                pull_blob(conn, BIG_REPO, big.digest, None if landings is None else landings[i])
                for i, conn in enumerate(conns)
            ]
            elapsed = await timed(asyncio.gather(*pulls))
        finally:
            for conn in conns:
                conn.close()
        for landing in landings or []:
            landing.verify()
        return elapsed

    await pull_with(1)  # warm up the same way for both registries (page cache, first-use code paths)
    traffic = TRAFFIC(target.server.port)
    await target.settle()
    cpu_before, requests_before = target.server.cpu.seconds(), traffic.requests
    single_s = await pull_with(1)
    many_s = await pull_with(sizes.pull_clients)
    pull_cpu, pull_requests = target.server.cpu.seconds() - cpu_before, traffic.requests - requests_before
    label = f"{mib:.0f} MiB blob pull"
    return [
        *await redirect_cpu(target, big.digest, REDIRECT_GETS),
        Measurement(
            "cpu.pull.only",
            f"pull: server CPU per blob GET (the timed pulls only, {pull_requests} requests)",
            "ms/req",
            False,
            1000 * pull_cpu / pull_requests,
        ),
        Measurement("pull.1", f"{label}, 1 client", "MiB/s", True, mib / single_s),
        Measurement(
            "pull.n",
            f"{label}, {sizes.pull_clients} clients (aggregate)",
            "MiB/s",
            True,
            sizes.pull_clients * mib / many_s,
        ),
    ]


async def _discard(_chunk: bytes) -> None:
    return None


async def redirect_cpu(target: Target, digest: str, count: int) -> list[Measurement]:
    """The server's CPU milliseconds per blob GET when the answer is a redirect, over ``count`` GETs (the
    timed pulls have too few requests, among too much of the storage's own traffic, for a steady figure);
    no row when the registry serves the bytes itself."""
    await target.settle()
    before = target.server.cpu.seconds()
    for _ in range(count):
        conn = Connection(HOST, target.server.port)
        try:
            response = await conn.request("GET", f"/v2/{BIG_REPO}/blobs/{digest}", sink=_discard)
        finally:
            conn.close()
        if response.status == 200:
            return []
        if response.status not in REDIRECTS:
            raise HttpError(f"blob GET answered {response.status}")
    label = (
        f"pull: server CPU per blob GET ({count} GETs one after another, each on a new connection, "
        "the redirect not followed)"
    )
    return [
        Measurement(
            "cpu.pull.redirect", label, "ms/req", False, 1000 * (target.server.cpu.seconds() - before) / count
        )
    ]


async def small_push(target: Target, payloads: Payloads) -> list[Measurement]:
    sizes, client = payloads.sizes, target.client
    blobs = payloads.small

    async def post_put(index: int) -> None:
        await client.push_monolithic(SMALL_REPO, blobs[index])

    elapsed = await run_concurrently(len(blobs), sizes.concurrency, post_put)
    label = f"{len(blobs)} x {sizes.small_size // 1024} KiB blob push, c={sizes.concurrency}"
    results = [Measurement("small.post_put", f"{label}, POST + PUT", "ops/s", True, len(blobs) / elapsed)]

    singles = payloads.small_single
    if not await client.push_single_post(SMALL_REPO, singles[0]):
        results.append(Measurement("small.post", f"{label}, single POST ?digest=", "ops/s", True, None))
        return results

    async def single(index: int) -> None:
        if not await client.push_single_post(SMALL_REPO, singles[index + 1]):
            raise RuntimeError("registry stopped accepting single-request pushes")

    elapsed = await run_concurrently(len(singles) - 1, sizes.concurrency, single)
    rate = (len(singles) - 1) / elapsed
    results.append(Measurement("small.post", f"{label}, single POST ?digest=", "ops/s", True, rate))
    return results
