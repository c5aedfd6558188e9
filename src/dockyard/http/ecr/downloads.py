"""``GET /_dockyard/ecr/layer?repository=…&digest=…&expires=…&signature=…``: the URL GetDownloadUrlForLayer
hands out. It needs no other credentials: the signature (HMAC over repository, digest and expiry) is the
authorisation, and it expires (10 minutes by default). ``Range`` requests work as on ``/v2/``. With blobs
in S3 (and redirects on) GetDownloadUrlForLayer hands out a presigned S3 URL instead.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.types import Receive, Scope, Send

from dockyard.domain.digest import Digest
from dockyard.domain.errors import BlobUnknown, ByteRangeInvalid, DigestInvalid, NameUnknown, Unsupported
from dockyard.http.oci.streaming import BlobResponse, blob_download
from dockyard.ports import Clock
from dockyard.services.ecr_tokens import UrlSigner
from dockyard.services.registry import RegistryService


class LayerDownloads:
    """ASGI app for the download path (mounted by the composition root)."""

    def __init__(self, registry: RegistryService, signer: UrlSigner, clock: Clock) -> None:
        self.registry = registry
        self.signer = signer
        self.clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        if request.method not in ("GET", "HEAD"):
            await PlainTextResponse("Method Not Allowed", 405, {"Allow": "GET, HEAD"})(scope, receive, send)
            return
        try:
            response = await self._serve(request)
        except (BlobUnknown, NameUnknown, DigestInvalid, Unsupported):
            response = PlainTextResponse("Not Found", 404)
        except ByteRangeInvalid as exc:
            response = PlainTextResponse(
                "Range Not Satisfiable", 416, {"Content-Range": f"bytes */{exc.size}"}
            )
        await response(scope, receive, send)

    async def _serve(self, request: Request) -> BlobResponse | PlainTextResponse:
        query = request.query_params
        account, repository = query.get("account", ""), query.get("repository", "")
        digest, expires, signature = (
            query.get("digest", ""),
            query.get("expires", ""),
            query.get("signature", ""),
        )
        if not self.signer.verify(account, repository, digest, expires, signature, self.clock.now()):
            return PlainTextResponse("Forbidden: the URL is invalid or has expired", 403)
        parsed = Digest.parse(digest)
        size = await self.registry.blob_size(account, repository, parsed)
        return blob_download(
            self.registry.blobs, parsed, size, request.headers.get("range"), head=request.method == "HEAD"
        )
