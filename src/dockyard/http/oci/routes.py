"""``/v2/`` endpoints: parse the request, call a service, shape the response. No storage access here."""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any
from urllib.parse import urlencode

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from dockyard.domain.digest import Digest
from dockyard.domain.errors import (
    ByteRangeInvalid,
    DigestInvalid,
    ManifestTooLarge,
    ManifestUnknown,
    PaginationInvalid,
    RangeInvalid,
    RegistryError,
)
from dockyard.domain.manifest import MAX_MANIFEST_BYTES, OCI_INDEX
from dockyard.http.oci.auth import context_of
from dockyard.http.oci.errors import API_VERSION_HEADER, error_response
from dockyard.http.oci.streaming import blob_download
from dockyard.services.manifests import ManifestService
from dockyard.services.registry import RegistryService, UploadState

Endpoint = Callable[[Request], Awaitable[Any]]
_CONTENT_RANGE = re.compile(r"^(?:bytes[ =])?(\d+)-(\d+)$")
MAX_PAGE = 100_000
JSON = "application/json"


def _oci(handler: Callable[[Any, Request], Awaitable[Any]]) -> Callable[[Any, Request], Awaitable[Any]]:
    """Map domain errors to OCI error responses; a client that went away gets no answer."""

    @wraps(handler)
    async def wrapper(self: Any, request: Request) -> Any:
        try:
            return await handler(self, request)
        except RegistryError as exc:
            return error_response(exc, _error_headers(exc))
        except ClientDisconnect:
            return Response(status_code=400)

    return wrapper


def _error_headers(exc: RegistryError) -> dict[str, str] | None:
    size = exc.detail.get("size")
    if isinstance(exc, RangeInvalid):
        return {"Range": _range(size or 0)}
    if isinstance(exc, ByteRangeInvalid):
        return {"Content-Range": f"bytes */{size}"}
    return None


def _range(size: int) -> str:
    return f"0-{max(size - 1, 0)}"


def _headers(**values: str) -> dict[str, str]:
    return {**API_VERSION_HEADER, **{k.replace("_", "-"): v for k, v in values.items()}}


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    payload = json.dumps(body, separators=(",", ":")).encode()
    return Response(payload, status, {**API_VERSION_HEADER, **(headers or {})}, media_type=JSON)


def _page(request: Request) -> tuple[int | None, str | None]:
    raw_n = request.query_params.get("n")
    last = request.query_params.get("last") or None
    if raw_n is None or raw_n == "":
        return None, last
    if not raw_n.isdigit():
        raise PaginationInvalid("n must be a non-negative integer", n=raw_n[:20])
    return min(int(raw_n), MAX_PAGE), last


def _content_range(request: Request) -> tuple[int | None, int | None]:
    """``(start, length)`` of the chunk from ``Content-Range`` / ``Content-Length``."""
    length_header = request.headers.get("content-length")
    length = int(length_header) if length_header and length_header.isdigit() else None
    header = request.headers.get("content-range")
    if header is None:
        return None, length
    match = _CONTENT_RANGE.match(header.strip())
    if match is None:
        raise RangeInvalid("malformed Content-Range", size=0)
    start, end = int(match.group(1)), int(match.group(2))
    if end < start or (length is not None and length != end - start + 1):
        raise RangeInvalid("Content-Range does not match the chunk's length", size=start)
    return start, end - start + 1


def _upload_headers(state: UploadState) -> dict[str, str]:
    return _headers(
        Location=f"/v2/{state.repository}/blobs/uploads/{state.id}",
        Range=_range(state.size),
        Docker_Upload_UUID=state.id,
    )


async def _body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise ManifestTooLarge(f"manifest exceeds the {limit} byte limit")
    chunks, total = [], 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit:
            raise ManifestTooLarge(f"manifest exceeds the {limit} byte limit")
        chunks.append(chunk)
    return b"".join(chunks)


def _has_body(request: Request) -> bool:
    length = request.headers.get("content-length")
    if length is not None:
        return length != "0"
    return "chunked" in request.headers.get("transfer-encoding", "")


class OciApi:
    """The distribution-spec endpoints, bound to the services they call."""

    def __init__(self, registry: RegistryService, manifests: ManifestService) -> None:
        self.registry = registry
        self.manifests = manifests

    def dispatch_table(self) -> dict[tuple[str, str], Endpoint]:
        """``(endpoint kind, method)`` to handler; kinds come from :data:`PATHS`."""
        table: dict[tuple[str, str], Endpoint] = {
            ("base", "GET"): self.base,
            ("catalog", "GET"): self.catalog,
            ("uploads", "POST"): self.start_upload,
            ("upload", "GET"): self.upload_status,
            ("upload", "PATCH"): self.patch_upload,
            ("upload", "PUT"): self.put_upload,
            ("upload", "DELETE"): self.cancel_upload,
            ("blobs", "GET"): self.get_blob,
            ("blobs", "HEAD"): self.get_blob,
            ("blobs", "DELETE"): self.delete_blob,
            ("manifests", "GET"): self.get_manifest,
            ("manifests", "HEAD"): self.get_manifest,
            ("manifests", "PUT"): self.put_manifest,
            ("manifests", "DELETE"): self.delete_manifest,
            ("tags", "GET"): self.list_tags,
            ("referrers", "GET"): self.referrers,
        }
        return table

    async def base(self, request: Request) -> Response:
        return _json({})

    @_oci
    async def catalog(self, request: Request) -> Response:
        limit, last = _page(request)
        names = [] if limit == 0 else await self._visible(request, None if limit is None else limit + 1, last)
        headers = {}
        if limit is not None and len(names) > limit:
            names = names[:limit]
            headers["Link"] = f'</v2/_catalog?{urlencode({"n": limit, "last": names[-1]})}>; rel="next"'
        return _json({"repositories": names}, headers=headers)

    async def _visible(self, request: Request, limit: int | None, last: str | None) -> list[str]:
        """Up to ``limit`` repository names after ``last`` that the caller may describe."""
        context = context_of(request.scope)
        if context.caller is None:
            return await self.registry.catalog(context.account, limit, last)
        found: list[str] = []
        batch = 1000 if limit is None else max(limit, 100)
        while True:
            names = await self.registry.catalog(context.account, batch, last)
            for name in names:
                if await context.can_describe(context.account, name):
                    found.append(name)
                    if limit is not None and len(found) >= limit:
                        return found
            if len(names) < batch:
                return found
            last = names[-1]

    @_oci
    async def list_tags(self, request: Request) -> Response:
        name = request.path_params["name"]
        account = context_of(request.scope).account
        limit, last = _page(request)
        if limit == 0:
            await self.registry.repository(account, name)
            return _json({"name": name, "tags": []})
        tags = await self.registry.tags(account, name, None if limit is None else limit + 1, last)
        headers = {}
        if limit is not None and len(tags) > limit:
            tags = tags[:limit]
            query = urlencode({"n": limit, "last": tags[-1]})
            headers["Link"] = f'</v2/{name}/tags/list?{query}>; rel="next"'
        return _json({"name": name, "tags": tags}, headers=headers)

    # -- blobs ----------------------------------------------------------------------------------------

    @_oci
    async def get_blob(self, request: Request) -> Any:
        name = request.path_params["name"]
        digest = Digest.parse(request.path_params["digest"])
        size = await self.registry.blob_size(context_of(request.scope).account, name, digest)
        if request.method == "GET" and (url := await self.registry.blob_url(digest)) is not None:
            # As Distribution and ECR do: the client fetches (and verifies) the bytes from storage.
            headers = _headers(Location=url, Docker_Content_Digest=str(digest))
            return Response(status_code=307, headers=headers)
        return blob_download(
            self.registry.blobs,
            digest,
            size,
            request.headers.get("range"),
            head=request.method == "HEAD",
            headers=_headers(Docker_Content_Digest=str(digest)),
        )

    @_oci
    async def delete_blob(self, request: Request) -> Response:
        digest = Digest.parse(request.path_params["digest"])
        await self.registry.delete_blob(
            context_of(request.scope).account, request.path_params["name"], digest
        )
        return Response(status_code=202, headers=_headers(Docker_Content_Digest=str(digest)))

    # -- uploads --------------------------------------------------------------------------------------

    @_oci
    async def start_upload(self, request: Request) -> Response:
        name = request.path_params["name"]
        context = context_of(request.scope)
        account = context.account
        query = request.query_params
        if "mount" in query:
            result = await self.registry.mount(
                account, name, Digest.parse(query["mount"]), query.get("from") or None, context.can_read
            )
            if result.digest is not None:
                return self._created(name, result.digest)
            assert result.upload is not None
            return Response(status_code=202, headers=_upload_headers(result.upload))
        if "digest" in query:
            digest = Digest.parse(query["digest"])
            start, length = _content_range(request)
            if start not in (None, 0):
                raise RangeInvalid("a single-request upload starts at byte 0", size=0)
            await self.registry.upload_blob(account, name, digest, request.stream(), length)
            return self._created(name, digest)
        state = await self.registry.start_upload(account, name)
        return Response(status_code=202, headers=_upload_headers(state))

    def _created(self, name: str, digest: Digest) -> Response:
        headers = _headers(Location=f"/v2/{name}/blobs/{digest}", Docker_Content_Digest=str(digest))
        return Response(status_code=201, headers=headers)

    @_oci
    async def upload_status(self, request: Request) -> Response:
        state = await self.registry.upload(
            context_of(request.scope).account, request.path_params["name"], request.path_params["upload_id"]
        )
        return Response(status_code=204, headers=_upload_headers(state))

    @_oci
    async def patch_upload(self, request: Request) -> Response:
        start, length = _content_range(request)
        state = await self.registry.append(
            context_of(request.scope).account,
            request.path_params["name"],
            request.path_params["upload_id"],
            request.stream(),
            start,
            length,
        )
        return Response(status_code=202, headers=_upload_headers(state))

    @_oci
    async def put_upload(self, request: Request) -> Response:
        name, upload_id = request.path_params["name"], request.path_params["upload_id"]
        raw = request.query_params.get("digest")
        if not raw:
            raise DigestInvalid("the digest query parameter is required to complete an upload")
        digest = Digest.parse(raw)
        stream = request.stream() if _has_body(request) else None
        start, length = _content_range(request) if stream is not None else (None, None)
        await self.registry.complete(
            context_of(request.scope).account, name, upload_id, digest, stream, start, length
        )
        return self._created(name, digest)

    @_oci
    async def cancel_upload(self, request: Request) -> Response:
        await self.registry.cancel(
            context_of(request.scope).account, request.path_params["name"], request.path_params["upload_id"]
        )
        return Response(status_code=204, headers=_headers())

    # -- manifests ------------------------------------------------------------------------------------

    @_oci
    async def get_manifest(self, request: Request) -> Response:
        record = await self.manifests.get(
            context_of(request.scope).account, request.path_params["name"], request.path_params["reference"]
        )
        if not _acceptable(record.media_type, request.headers.getlist("accept")):
            raise ManifestUnknown(
                f"manifest of type {record.media_type} does not match the Accept header",
                reference=request.path_params["reference"],
            )
        etag = f'"{record.digest}"'
        headers = _headers(Docker_Content_Digest=record.digest, ETag=etag)
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers=headers)
        headers["Content-Type"] = record.media_type
        if request.method == "HEAD":
            headers["Content-Length"] = str(record.size)
            return Response(status_code=200, headers=headers)
        return Response(record.content, 200, headers)

    @_oci
    async def put_manifest(self, request: Request) -> Response:
        name, reference = request.path_params["name"], request.path_params["reference"]
        body = await _body(request, MAX_MANIFEST_BYTES)
        account = context_of(request.scope).account
        pushed = await self.manifests.put(account, name, reference, body, request.headers.get("content-type"))
        headers = _headers(
            Location=f"/v2/{name}/manifests/{pushed.digest}", Docker_Content_Digest=pushed.digest
        )
        if pushed.subject is not None:
            headers["OCI-Subject"] = pushed.subject
        return Response(status_code=201, headers=headers)

    @_oci
    async def delete_manifest(self, request: Request) -> Response:
        await self.manifests.delete(
            context_of(request.scope).account, request.path_params["name"], request.path_params["reference"]
        )
        return Response(status_code=202, headers=_headers())

    @_oci
    async def referrers(self, request: Request) -> Response:
        subject = Digest.parse(request.path_params["digest"])
        artifact_type = request.query_params.get("artifactType") or None
        found = await self.manifests.referrers(
            context_of(request.scope).account, request.path_params["name"], subject, artifact_type
        )
        descriptors = [
            _descriptor(r.media_type, r.digest, r.size, r.artifact_type, r.annotations) for r in found
        ]
        headers = {"OCI-Filters-Applied": "artifactType"} if artifact_type is not None else {}
        body = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": descriptors}
        response = _json(body, headers=headers)
        response.headers["Content-Type"] = OCI_INDEX
        return response


def _descriptor(
    media_type: str, digest: str, size: int, artifact_type: str | None, annotations: dict[str, str]
) -> dict[str, Any]:
    entry: dict[str, Any] = {"mediaType": media_type, "digest": digest, "size": size}
    if artifact_type:
        entry["artifactType"] = artifact_type
    if annotations:
        entry["annotations"] = annotations
    return entry


def _acceptable(media_type: str, accept_headers: list[str]) -> bool:
    """True unless the client listed manifest types and ours is not among them (Distribution's rule)."""
    accepted = {
        part.split(";", 1)[0].strip().lower() for header in accept_headers for part in header.split(",")
    }
    accepted.discard("")
    if not accepted or media_type in accepted or accepted & {"*/*", "application/*", "application/json"}:
        return True
    return not any("manifest" in a or "image.index" in a for a in accepted)
