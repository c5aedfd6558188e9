"""Blob scenarios: large pushes (monolithic, chunked), large pulls (1 and N clients), many small pushes."""

from __future__ import annotations

import asyncio
import statistics
from dataclasses import dataclass

from bench.http import REDIRECTS, TRAFFIC, Connection, HttpError, Response
from bench.model import MIB, Measurement, Payloads, Sizes, Target, run_concurrently, timed
from bench.payload import Blob, Landing
from bench.registry import get_location, pull_blob
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


@dataclass(frozen=True)
class PullRound:
    direct_s: float | None  # one client's GET straight from the storage URL (None: no redirects)
    single_s: float  # one client's pull
    many_s: float  # ``pull_clients`` concurrent pulls
    cpu_ms_per_get: float  # the server's CPU over both, per blob GET


async def pull(target: Target, payloads: Payloads) -> list[Measurement]:
    """A warm-up pull, then ``pull_rounds`` timed rounds (one client, then ``pull_clients``); each figure
    is the median of the rounds, as one round's 9 requests can land in a burst of the machine's own noise
    (bench/README.md, "Pull rounds")."""
    big, sizes = payloads.big, payloads.sizes
    await target.client.ensure_blob(BIG_REPO, big)
    mib = big.size / MIB
    await _pull_with(target, big, sizes, 1)  # warm-up, the same for both (page cache, first-use paths)
    location = await _storage_url(target, big.digest)
    rounds = [await _pull_round(target, big, sizes, location) for _ in range(sizes.pull_rounds)]
    cpu = [r.cpu_ms_per_get for r in rounds]
    requests = 1 + sizes.pull_clients
    label = f"{mib:.0f} MiB blob pull"
    per_round = f"median of {len(rounds)} rounds" if len(rounds) > 1 else "1 round"
    return [
        *await redirect_cpu(target, big.digest, REDIRECT_GETS),
        Measurement(
            "cpu.pull.only",
            f"pull: server CPU per blob GET (the timed pulls only, {requests} requests a round, {per_round})",
            "ms/req",
            False,
            statistics.median(cpu),
            {"fastest round": min(cpu), "slowest round": max(cpu)} if len(cpu) > 1 else {},
        ),
        Measurement(
            "pull.1", f"{label}, 1 client ({per_round})", "MiB/s", True, mib / _median(rounds, "single_s")
        ),
        *_direct_row(rounds, mib, per_round),
        Measurement(
            "pull.n",
            f"{label}, {sizes.pull_clients} clients (aggregate, {per_round})",
            "MiB/s",
            True,
            sizes.pull_clients * mib / _median(rounds, "many_s"),
        ),
    ]


def _direct_row(rounds: list[PullRound], mib: float, per_round: str) -> list[Measurement]:
    """What the storage alone serves one client, from the same URL the registry redirected to: the bound
    both registries' pulls share when they redirect (no row when the registry serves the bytes)."""
    if any(r.direct_s is None for r in rounds):
        return []
    label = f"{mib:.0f} MiB blob GET straight from the storage (the redirect's URL, no registry), 1 client"
    return [
        Measurement("pull.direct", f"{label} ({per_round})", "MiB/s", True, mib / _median(rounds, "direct_s"))
    ]


def _median(rounds: list[PullRound], name: str) -> float:
    return statistics.median(float(getattr(r, name)) for r in rounds)


async def _storage_url(target: Target, digest: str) -> str | None:
    """The URL a blob GET redirects to, or ``None`` when the registry serves the bytes itself."""
    response = await _unfollowed_get(target, digest)
    return response.header("location") if response.status in REDIRECTS else None


async def _pull_round(target: Target, big: Blob, sizes: Sizes, location: str | None) -> PullRound:
    direct_s = None
    if location is not None:
        landing = None if sizes.inline_verify else Landing(big.digest, big.size)
        direct_s = await timed(get_location(location, big.digest, landing))
        if landing is not None:
            landing.verify()
    traffic = TRAFFIC(target.server.port)
    await target.settle()
    cpu_before, requests_before = target.server.cpu.seconds(), traffic.requests
    single_s = await _pull_with(target, big, sizes, 1)
    many_s = await _pull_with(target, big, sizes, sizes.pull_clients)
    cpu_s, requests = target.server.cpu.seconds() - cpu_before, traffic.requests - requests_before
    return PullRound(direct_s, single_s, many_s, 1000 * cpu_s / requests)


async def _pull_with(target: Target, big: Blob, sizes: Sizes, clients: int) -> float:
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


async def _discard(_chunk: bytes) -> None:
    return None


async def _unfollowed_get(target: Target, digest: str) -> Response:
    """One blob GET on a new connection, its body discarded and a redirect not followed."""
    conn = Connection(HOST, target.server.port)
    try:
        return await conn.request("GET", f"/v2/{BIG_REPO}/blobs/{digest}", sink=_discard)
    finally:
        conn.close()


async def redirect_cpu(target: Target, digest: str, count: int) -> list[Measurement]:
    """The server's CPU milliseconds per blob GET when the answer is a redirect, over ``count`` GETs (the
    timed pulls have too few requests, among too much of the storage's own traffic, for a steady figure);
    no row when the registry serves the bytes itself."""
    await target.settle()
    before = target.server.cpu.seconds()
    for _ in range(count):
        response = await _unfollowed_get(target, digest)
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
