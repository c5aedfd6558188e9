"""Many clients pulling one multi-layer image at once, with the server's peak memory sampled meanwhile."""

from __future__ import annotations

import asyncio

from bench.http import Connection
from bench.model import MIB, Measurement, Payloads, Target, timed
from bench.payload import Landing, config_blob, image_manifest
from bench.registry import pull_image
from bench.rss import PeakRss, tree_rss
from bench.servers import HOST

REPO = "bench/image"


async def image_pull(target: Target, payloads: Payloads) -> list[Measurement]:
    clients, layers = payloads.sizes.image_clients, payloads.layers
    config = config_blob("image")
    for blob in (config, *layers):
        await target.client.ensure_blob(REPO, blob)
    manifest = image_manifest(config, layers)
    await target.client.put_manifest(REPO, "v1", manifest)
    expected = manifest.size + config.size + sum(b.size for b in layers)

    blobs = (config, *layers)
    landings = [
        None if payloads.sizes.inline_verify else {b.digest: Landing(b.digest, b.size) for b in blobs}
        for _ in range(clients)
    ]

    async def one(index: int) -> None:
        conn = Connection(HOST, target.server.port)
        try:
            if await pull_image(conn, REPO, "v1", landings[index]) != expected:
                raise RuntimeError("image pull returned the wrong number of bytes")
        finally:
            conn.close()

    idle_rss = tree_rss(target.server.pid)
    with PeakRss(target.server.pid) as sampler:
        elapsed = await timed(asyncio.gather(*(one(i) for i in range(clients))))
    for per_client in landings:
        for landing in (per_client or {}).values():
            landing.verify()
    peak = sampler.peak[target.server.pid]
    mib = clients * expected / MIB
    label = f"{clients} clients pull a {len(layers)}-layer image ({expected / MIB:.1f} MiB)"
    return [
        Measurement("image.seconds", f"{label}: total time", "s", False, elapsed),
        Measurement("image.rate", f"{label}: throughput", "MiB/s", True, mib / elapsed),
        Measurement(
            "image.rss",
            f"{label}: server peak RSS (process tree)",
            "MiB",
            False,
            peak / MIB,
            {"idle_rss_mib": idle_rss / MIB},
        ),
    ]
