"""Manifest and listing scenarios: manifest PUT, GET by tag / HEAD by digest (wrk), tags list, catalog."""

from __future__ import annotations

from bench import loadgen
from bench.model import Measurement, Payloads, Target, run_concurrently
from bench.payload import MANIFEST_ACCEPT, Blob, config_blob, image_manifest
from bench.s3pg import QueryMeter
from bench.servers import HOST

REPO = "bench/manifests"
TAGS_REPO = "bench/tags"
CATALOG_PREFIX = "aa-catalog/r"  # sorts before every other repository the benchmark creates
LIST_ACCEPT = "application/json"


async def _base_image(target: Target, repo: str) -> tuple[Blob, Blob]:
    """A config and a small layer in ``repo``, for manifests to refer to."""
    config, layer = config_blob("bench"), Blob.of(b"bench-layer\n" * 64)
    for blob in (config, layer):
        await target.client.ensure_blob(repo, blob)
    return config, layer


async def manifest_put(target: Target, payloads: Payloads) -> list[Measurement]:
    sizes, client = payloads.sizes, target.client
    config, layer = await _base_image(target, REPO)
    manifests = [
        image_manifest(config, [layer], {"bench.index": str(i)}) for i in range(sizes.manifest_count)
    ]

    async def put(index: int) -> None:
        await client.put_manifest(REPO, f"m{index}", manifests[index])

    elapsed = await run_concurrently(len(manifests), sizes.concurrency, put)
    label = f"manifest PUT, {len(manifests)} distinct by tag, c={sizes.concurrency}"
    return [Measurement("manifest.put", label, "ops/s", True, len(manifests) / elapsed)]


async def manifest_get(target: Target, payloads: Payloads) -> list[Measurement]:
    sizes = payloads.sizes
    config, layer = await _base_image(target, REPO)
    manifest = image_manifest(config, [layer], {"bench.index": "latest"})
    await target.client.put_manifest(REPO, "latest", manifest)
    if (await target.client.get_manifest(REPO, "latest")).digest != manifest.digest:
        raise RuntimeError("GET by tag returned another manifest")
    url = target.url(f"/v2/{REPO}/manifests/")
    results = []
    meter = None if target.db is None else QueryMeter(target.db)
    if meter is not None:
        await meter.start()  # the GET above cached the manifest: every GET below is a cached one
    gets = 0
    for connections in sizes.wrk_connections:
        got = await loadgen.wrk_get(
            url + "latest",
            accept=MANIFEST_ACCEPT,
            connections=connections,
            seconds=sizes.wrk_seconds,
            workdir=target.workdir,
        )
        gets += got.requests
        results.append(_rate(f"manifest.get.c{connections}", f"manifest GET by tag, c={connections}", got))
    if meter is not None:
        counted = await meter.stop()
        detail = {
            "table_reads_per_get": counted.table_reads / gets,
            "gets": gets,
            "idle_tx_per_s_subtracted": counted.idle_transactions_per_s,
        }
        label = "database transactions per cached manifest GET"
        results.append(
            Measurement("manifest.get.db", label, "tx/req", False, counted.transactions / gets, detail)
        )
    for connections in sizes.wrk_connections:
        head = await loadgen.head_loop(
            HOST,
            target.server.port,
            f"/v2/{REPO}/manifests/{manifest.digest}",
            accept=MANIFEST_ACCEPT,
            connections=connections,
            seconds=sizes.wrk_seconds,
        )
        label = f"manifest HEAD by digest, c={connections}"
        results.append(_rate(f"manifest.head.c{connections}", label, head))
    return results


async def tags_list(target: Target, payloads: Payloads) -> list[Measurement]:
    sizes, client = payloads.sizes, target.client
    config, layer = await _base_image(target, TAGS_REPO)
    manifest = image_manifest(config, [layer])

    async def tag(index: int) -> None:
        await client.put_manifest(TAGS_REPO, f"t{index:05d}", manifest)

    setup_s = await run_concurrently(sizes.tag_count, sizes.concurrency, tag)
    listed = await client.get_json(f"/v2/{TAGS_REPO}/tags/list")
    if len(listed["tags"]) != sizes.tag_count:
        raise RuntimeError(f"tags/list returned {len(listed['tags'])} tags, expected {sizes.tag_count}")
    result = await _wrk_get(target, f"/v2/{TAGS_REPO}/tags/list", sizes.wrk_seconds)
    label = f"tags/list of {sizes.tag_count} tags, c=1"
    detail = {
        "mean_ms": result.mean_ms,
        "p99_ms": result.p99_ms,
        "setup_tag_put_per_s": sizes.tag_count / setup_s,
    }
    return [Measurement("tags.list", label, "req/s", True, result.rate, detail)]


async def catalog(target: Target, payloads: Payloads) -> list[Measurement]:
    sizes, client = payloads.sizes, target.client
    config, layer = await _base_image(target, REPO)
    manifest = image_manifest(config, [layer])

    async def create(index: int) -> None:
        repo = f"{CATALOG_PREFIX}{index:05d}"
        for blob in (config, layer):
            await client.mount(repo, blob.digest, REPO)
        await client.put_manifest(repo, "v1", manifest)

    await run_concurrently(sizes.repo_count, sizes.concurrency, create)
    path = f"/v2/_catalog?n={sizes.repo_count}"
    names = (await client.get_json(path))["repositories"]
    if len(names) != sizes.repo_count or not all(n.startswith(CATALOG_PREFIX) for n in names):
        raise RuntimeError(f"catalog page has {len(names)} entries, expected {sizes.repo_count} of ours")
    result = await _wrk_get(target, path, sizes.wrk_seconds)
    label = f"catalog page of {sizes.repo_count} repositories, c=1"
    detail = {"mean_ms": result.mean_ms, "p99_ms": result.p99_ms}
    return [Measurement("catalog", label, "req/s", True, result.rate, detail)]


def _rate(key: str, label: str, result: loadgen.LoadResult) -> Measurement:
    detail = {"p50_ms": result.p50_ms, "p99_ms": result.p99_ms}
    return Measurement(key, label, "req/s", True, result.rate, detail)


async def _wrk_get(target: Target, path: str, seconds: int) -> loadgen.LoadResult:
    return await loadgen.wrk_get(
        target.url(path), accept=LIST_ACCEPT, connections=1, seconds=seconds, workdir=target.workdir
    )
