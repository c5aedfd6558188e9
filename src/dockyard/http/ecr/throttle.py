"""ECR's rate limits on the ``/v2/`` API: each request counts against the ECR operation it stands for
(a manifest GET is a BatchGetImage, a blob GET a GetDownloadUrlForLayer…); over the limit it is answered
``429 TOOMANYREQUESTS`` in the distribution-spec's error format, as ECR answers docker.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.types import ASGIApp, Receive, Scope, Send

from dockyard.http.oci.errors import oci_error
from dockyard.http.oci.router import PATHS, _route
from dockyard.services.ecr_limits import RateLimiter

OCI_OPERATIONS = {
    ("manifests", "GET"): "BatchGetImage",
    ("manifests", "HEAD"): "BatchGetImage",
    ("manifests", "PUT"): "PutImage",
    ("blobs", "GET"): "GetDownloadUrlForLayer",
    ("blobs", "HEAD"): "BatchCheckLayerAvailability",
    ("uploads", "POST"): "InitiateLayerUpload",
    ("upload", "PATCH"): "UploadLayerPart",
    ("upload", "PUT"): "CompleteLayerUpload",
}


class OciThrottle:
    """Wraps the ``/v2/`` router; ``account_of(scope)`` names the account a request counts against."""

    def __init__(self, app: ASGIApp, limiter: RateLimiter, account_of: Callable[[Scope], str]) -> None:
        self.app = app
        self.limiter = limiter
        self.account_of = account_of

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.limiter.enabled:
            operation = operation_of(scope["method"], scope["path"])
            if operation is not None and not await self.limiter.allow(self.account_of(scope), operation):
                response = oci_error("TOOMANYREQUESTS", "Rate exceeded", 429, {"operation": operation})
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def operation_of(method: str, path: str) -> str | None:
    match = PATHS.match(path)
    if match is None:
        return None
    kind, _ = _route(match)
    return OCI_OPERATIONS.get((kind, method))
