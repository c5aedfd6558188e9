"""The ``/v2/`` router: one regular expression instead of a list of routes (names contain slashes).

The name is matched lazily, so a repository may itself contain ``manifests`` or ``blobs`` segments; the
upload alternatives come first, so ``…/blobs/uploads`` never reads as a blob called ``uploads``.
"""

from __future__ import annotations

import logging
import re

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from dockyard.http.oci.auth import SCOPE_KEY, OciGate, RegistryContext
from dockyard.http.oci.errors import oci_error
from dockyard.http.oci.routes import OciApi

log = logging.getLogger("dockyard.oci")

PATHS = re.compile(
    r"^/v2/?(?:$"
    r"|(?P<catalog>_catalog)$"
    r"|(?P<name>.+?)/(?:"
    r"blobs/(?P<uploads>uploads)/?$"
    r"|blobs/uploads/(?P<upload_id>[^/]+)$"
    r"|(?P<kind>manifests|blobs|referrers)/(?P<reference>[^/]+)$"
    r"|(?P<tags>tags)/list$))"
)


class OciRouter:
    """ASGI app for every path under ``/v2``."""

    def __init__(self, api: OciApi, gate: OciGate) -> None:
        self._gate = gate
        self._table = api.dispatch_table()
        self._methods: dict[str, list[str]] = {}
        for kind, method in self._table:
            self._methods.setdefault(kind, []).append(method)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        match = PATHS.match(scope["path"])
        if match is None:
            await oci_error("NOT_FOUND", "no such endpoint", 404)(scope, receive, send)
            return
        kind, params = _route(match)
        method = scope["method"]
        handler = self._table.get((kind, method))
        if handler is None:
            allowed = ", ".join(self._methods.get(kind, []))
            response = oci_error(
                "UNSUPPORTED", f"{method} is not allowed here", 405, headers={"Allow": allowed}
            )
            await response(scope, receive, send)
            return
        scope["path_params"] = params
        try:
            admitted = await self._gate.admit(scope, kind, method, params.get("name"))
            if not isinstance(admitted, RegistryContext):
                await _refuse(admitted, scope, receive, send)
                return
            scope[SCOPE_KEY] = admitted
            response = await handler(Request(scope, receive))
        except Exception:
            log.exception("unhandled error", extra={"path": scope["path"], "method": method})
            response = oci_error("UNKNOWN", "internal server error", 500)
        await response(scope, receive, send)


def _route(match: re.Match[str]) -> tuple[str, dict[str, str]]:
    groups = match.groupdict()
    name = groups["name"]
    if groups["kind"] is not None:
        key = "digest" if groups["kind"] != "manifests" else "reference"
        return groups["kind"], {"name": name, key: groups["reference"]}
    if groups["upload_id"] is not None:
        return "upload", {"name": name, "upload_id": groups["upload_id"]}
    if groups["uploads"] is not None:
        return "uploads", {"name": name}
    if groups["tags"] is not None:
        return "tags", {"name": name}
    if groups["catalog"] is not None:
        return "catalog", {}
    return "base", {}


DRAIN_LIMIT = 8 * 1024 * 1024


async def _refuse(response: Response, scope: Scope, receive: Receive, send: Send) -> None:
    """Answer a refused request without breaking the connection: a client that sent a body with it (a
    manifest PUT before its credentials) reuses the connection for the retry, so a small body is read and
    dropped first; for a large or unknown one the connection is closed instead of reading it."""
    declared = next((v for k, v in scope["headers"] if k == b"content-length"), None)
    chunked = any(k == b"transfer-encoding" for k, _ in scope["headers"])
    if declared is not None and declared.isdigit() and int(declared) <= DRAIN_LIMIT and not chunked:
        remaining = int(declared)
        while remaining > 0:
            message = await receive()
            if message["type"] != "http.request":
                break
            remaining -= len(message.get("body", b""))
            if not message.get("more_body", False):
                break
    elif declared not in (None, b"0") or chunked:
        response.headers["Connection"] = "close"
    await response(scope, receive, send)
