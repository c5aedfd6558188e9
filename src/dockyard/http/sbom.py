"""``/dockyard/v1/sbom/<name>/<reference>``: a scanned image's SBOM over HTTP, with the registry's own
credentials (``docker login``'s password, as ``/v2/`` takes them).

- ``GET ?format=cyclonedx|spdx`` (default cyclonedx): the document, ``Content-Type`` its media type;
  needs ``ecr:BatchGetImage`` and ``ecr:DescribeImageScanFindings`` on the repository.
- ``POST ?format=...``: attaches the SBOM to the image as an OCI referrer and answers 201 with the
  artifact's digest (``Location`` its manifest); needs ``ecr:PutImage`` as well.

Errors are OCI error JSON: ``NAME_UNKNOWN``, ``MANIFEST_UNKNOWN``, ``SCAN_UNKNOWN`` (no completed scan, 404)
and ``UNSUPPORTED`` (a bad ``format`` or reference, 400).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from dockyard.domain.digest import is_digest
from dockyard.domain.errors import NameInvalid
from dockyard.domain.reference import validate_name
from dockyard.http.oci.auth import OciGate
from dockyard.http.oci.errors import oci_error
from dockyard.services.ecr import RegistryRef
from dockyard.services.ecr_types import ImageId, ImageNotFound, InvalidParameter, RepositoryNotFound
from dockyard.services.sbom_export import SbomExport
from dockyard.services.scan_types import ScanNotFound

PATH = "/dockyard/v1/sbom/{name:path}/{reference}"


class SbomEndpoint:
    def __init__(self, export: SbomExport, gate: OciGate) -> None:
        self.export = export
        self.gate = gate

    def routes(self) -> list[Route]:
        return [Route(PATH, self.handle, methods=["GET", "POST"])]

    async def handle(self, request: Request) -> Response:
        name, reference = request.path_params["name"], request.path_params["reference"]
        try:
            validate_name(name)
        except NameInvalid as exc:
            return oci_error("NAME_INVALID", exc.text, 400)
        admitted = await self.gate.admit(request.scope, "sbom", request.method, name)
        if isinstance(admitted, Response):
            return admitted
        image_id = ImageId(digest=reference) if is_digest(reference) else ImageId(tag=reference)
        kind = request.query_params.get("format", "cyclonedx")
        registry = RegistryRef(admitted.account)
        try:
            if request.method == "POST":
                sbom, digest = await self.export.attach(name, registry, image_id, kind)
                location = f"/v2/{name}/manifests/{digest}"
                body = {"digest": digest, "artifactType": sbom.media_type, "subject": sbom.subject.digest}
                return JSONResponse(body, 201, headers={"Location": location})
            sbom = await self.export.export(name, registry, image_id, kind)
        except RepositoryNotFound as exc:
            return oci_error("NAME_UNKNOWN", exc.text, 404)
        except ImageNotFound as exc:
            return oci_error("MANIFEST_UNKNOWN", exc.text, 404)
        except ScanNotFound as exc:
            return oci_error("SCAN_UNKNOWN", exc.text, 404)
        except InvalidParameter as exc:
            return oci_error("UNSUPPORTED", exc.text, 400)
        return Response(sbom.content, 200, media_type=sbom.media_type)
