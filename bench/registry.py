"""Distribution-spec operations over :mod:`bench.http`, identical for every registry under test."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote, urlsplit

from bench.http import REDIRECTS, Connection, HttpError, Pool, request_target
from bench.payload import MANIFEST_ACCEPT, OCI_MANIFEST, Blob, Digester, Landing

OCTETS = {"Content-Type": "application/octet-stream"}


def _with_query(target: str, **params: str) -> str:
    query = "&".join(f"{k}={quote(v, safe='')}" for k, v in params.items())
    return target + ("&" if "?" in target else "?") + query


class RegistryClient:
    def __init__(self, pool: Pool) -> None:
        self.pool = pool

    # -- blob pushes ----------------------------------------------------------------------------------

    async def start_upload(self, repo: str) -> str:
        response = (await self.pool.request("POST", f"/v2/{repo}/blobs/uploads/", body=b"")).expect(202)
        return request_target(response.header("location"))

    async def finish_upload(self, location: str, blob: Blob, body: bytes | memoryview | None) -> None:
        target = _with_query(location, digest=blob.digest)
        response = await self.pool.request("PUT", target, OCTETS, body if body is not None else b"")
        response.expect(201)
        if response.headers.get("docker-content-digest", blob.digest) != blob.digest:
            raise HttpError(f"registry stored {response.headers['docker-content-digest']}, not {blob.digest}")

    async def push_monolithic(self, repo: str, blob: Blob) -> None:
        """POST, then one PUT carrying the whole blob."""
        await self.finish_upload(await self.start_upload(repo), blob, blob.data)

    async def push_chunked(self, repo: str, blob: Blob, chunk_size: int) -> None:
        """POST, PATCH per chunk with ``Content-Range``, then a PUT without body."""
        location = await self.start_upload(repo)
        view = memoryview(blob.data)
        for start in range(0, blob.size, chunk_size):
            chunk = view[start : start + chunk_size]
            headers = {**OCTETS, "Content-Range": f"{start}-{start + len(chunk) - 1}"}
            response = (await self.pool.request("PATCH", location, headers, chunk)).expect(202)
            location = request_target(response.header("location"))
        await self.finish_upload(location, blob, None)

    async def push_single_post(self, repo: str, blob: Blob) -> bool:
        """``POST ?digest=`` with the body; ``False`` when the registry opened a session instead."""
        target = _with_query(f"/v2/{repo}/blobs/uploads/", digest=blob.digest)
        response = (await self.pool.request("POST", target, OCTETS, blob.data)).expect(201, 202)
        if response.status == 202:
            await self.pool.request("DELETE", request_target(response.header("location")))
            return False
        return True

    async def mount(self, repo: str, digest: str, source: str) -> None:
        target = _with_query(f"/v2/{repo}/blobs/uploads/", mount=digest, **{"from": source})
        (await self.pool.request("POST", target, body=b"")).expect(201)

    async def blob_exists(self, repo: str, blob: Blob) -> bool:
        response = await self.pool.request("HEAD", f"/v2/{repo}/blobs/{blob.digest}")
        if response.status in REDIRECTS:  # Distribution on S3 redirects HEADs too
            async with self.pool.connection() as conn:
                response = await conn.follow(response, method="HEAD")
        if response.status == 404:
            return False
        response.expect(200)
        return int(response.header("content-length")) == blob.size

    async def ensure_blob(self, repo: str, blob: Blob) -> None:
        if not await self.blob_exists(repo, blob):
            await self.push_monolithic(repo, blob)

    # -- manifests and listings -----------------------------------------------------------------------

    async def put_manifest(self, repo: str, reference: str, manifest: Blob) -> None:
        headers = {"Content-Type": OCI_MANIFEST}
        response = await self.pool.request("PUT", f"/v2/{repo}/manifests/{reference}", headers, manifest.data)
        if response.expect(201).header("docker-content-digest") != manifest.digest:
            raise HttpError(f"manifest digest mismatch for {repo}:{reference}")

    async def get_manifest(self, repo: str, reference: str) -> Blob:
        response = await self.pool.request(
            "GET", f"/v2/{repo}/manifests/{reference}", {"Accept": MANIFEST_ACCEPT}
        )
        return _verified_manifest(response.expect(200).body, response.header("docker-content-digest"))

    async def get_json(self, target: str) -> Any:
        return json.loads((await self.pool.request("GET", target)).expect(200).body)


def _verified_manifest(body: bytes, claimed: str) -> Blob:
    blob = Blob.of(body)
    if blob.digest != claimed:
        raise HttpError(f"manifest body hashes to {blob.digest}, registry said {claimed}")
    return blob


async def pull_blob(conn: Connection, repo: str, digest: str, landing: Landing | None = None) -> int:
    """GET a blob on ``conn`` and return its size.

    Without ``landing`` the digest is checked while streaming; with one, the bytes land there and the
    caller checks them (``Landing.verify``) once its clock has stopped. A redirect (a registry on S3
    answering 307 to a presigned URL) is followed, as clients do, on a connection kept with ``conn``.
    """
    sink = Digester() if landing is None else landing
    response = await conn.request("GET", f"/v2/{repo}/blobs/{digest}", sink=sink.feed)
    if response.status in REDIRECTS:
        response = await conn.follow(response, sink.feed)
    response.expect(200)
    return await _checked_size(sink, digest)


async def get_location(location: str, digest: str, landing: Landing | None = None) -> int:
    """GET a storage URL a registry redirected to, straight from the storage on a connection of its own
    (no registry involved), checked as :func:`pull_blob` checks; the size."""
    parts = urlsplit(location)
    if parts.scheme != "http" or not parts.hostname:
        raise HttpError(f"cannot GET {location}")
    conn = Connection(parts.hostname, parts.port or 80)
    sink = Digester() if landing is None else landing
    try:
        (await conn.request("GET", request_target(location), sink=sink.feed)).expect(200)
    finally:
        conn.close()
    return await _checked_size(sink, digest)


async def _checked_size(sink: Digester | Landing, digest: str) -> int:
    if isinstance(sink, Digester) and (got := await sink.hexdigest()) != digest:
        raise HttpError(f"blob {digest} arrived as {got}")
    return sink.size


async def pull_image(
    conn: Connection, repo: str, reference: str, landings: dict[str, Landing] | None = None
) -> int:
    """What a client pull does: the manifest, then the config and each layer; bytes read.

    The manifest is verified at once; blobs as :func:`pull_blob` does, ``landings`` keyed by digest.
    """
    response = await conn.request("GET", f"/v2/{repo}/manifests/{reference}", {"Accept": MANIFEST_ACCEPT})
    manifest = _verified_manifest(response.expect(200).body, response.header("docker-content-digest"))
    parsed = json.loads(manifest.data)
    total = manifest.size
    for descriptor in [parsed["config"], *parsed["layers"]]:
        digest = descriptor["digest"]
        size = await pull_blob(conn, repo, digest, None if landings is None else landings[digest])
        if size != descriptor["size"]:
            raise HttpError(f"blob {digest} is {size} bytes, manifest says {descriptor['size']}")
        total += size
    return total
