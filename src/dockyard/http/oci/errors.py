"""The one table from domain errors to OCI error codes and HTTP statuses, and the error body.

Body shape (distribution-spec, "Error Codes")::

    {"errors": [{"code": "BLOB_UNKNOWN", "message": "blob unknown to registry", "detail": {...}}]}
"""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import Response

from dockyard.domain import errors as e

API_VERSION_HEADER = {"Docker-Distribution-API-Version": "registry/2.0"}

ERROR_TABLE: dict[type[e.RegistryError], tuple[str, int]] = {
    e.BlobUnknown: ("BLOB_UNKNOWN", 404),
    e.BlobUploadInvalid: ("BLOB_UPLOAD_INVALID", 400),
    e.BlobUploadUnknown: ("BLOB_UPLOAD_UNKNOWN", 404),
    e.DigestInvalid: ("DIGEST_INVALID", 400),
    e.ManifestBlobUnknown: ("MANIFEST_BLOB_UNKNOWN", 404),
    e.ManifestInvalid: ("MANIFEST_INVALID", 400),
    e.ManifestTooLarge: ("SIZE_INVALID", 413),
    e.ManifestUnknown: ("MANIFEST_UNKNOWN", 404),
    e.NameInvalid: ("NAME_INVALID", 400),
    e.NameUnknown: ("NAME_UNKNOWN", 404),
    e.SizeInvalid: ("SIZE_INVALID", 400),
    e.TagInvalid: ("TAG_INVALID", 400),
    e.TagImmutable: ("TAG_INVALID", 400),  # ECR's code: docker prints "tag invalid: <message>"
    e.Unsupported: ("UNSUPPORTED", 415),
    e.RangeInvalid: ("BLOB_UPLOAD_INVALID", 416),
    e.ByteRangeInvalid: ("RANGE_INVALID", 416),
    e.PaginationInvalid: ("PAGINATION_NUMBER_INVALID", 400),
}


def error_body(code: str, message: str, detail: Any = None) -> bytes:
    entry: dict[str, Any] = {"code": code, "message": message}
    if detail:
        entry["detail"] = detail
    return json.dumps({"errors": [entry]}).encode()


def oci_error(
    code: str, message: str, status: int, detail: Any = None, headers: dict[str, str] | None = None
) -> Response:
    merged = {**API_VERSION_HEADER, **(headers or {})}
    return Response(error_body(code, message, detail), status, merged, media_type="application/json")


def error_response(exc: e.RegistryError, headers: dict[str, str] | None = None) -> Response:
    """The OCI error response for ``exc``; unknown subclasses take their nearest mapped ancestor."""
    for cls in type(exc).__mro__:
        if cls in ERROR_TABLE:
            code, status = ERROR_TABLE[cls]
            break
    else:
        code, status = "UNKNOWN", 500
    return oci_error(code, exc.text, status, exc.detail or None, headers)
