"""An image's inventory as an SPDX 2.3 JSON document, built with spdx-tools.

The document DESCRIBES the image (a package with purpose CONTAINER and an ``oci`` purl), which CONTAINS the
operating system (purpose OPERATING_SYSTEM) and every package. Nothing is claimed that a scan does not know:
download location, supplier, concluded license and copyright are NOASSERTION, and no files were analysed.
The declared license is the package's licenses joined with ``AND``: each one that is a valid SPDX
expression as it is (normalised, ``GPL-2.0+`` -> ``GPL-2.0-or-later``), every other string (``GPL-2+``,
``BSD-style``) as a ``LicenseRef-`` whose text is listed in ``hasExtractedLicensingInfos``.

Element ids come from :func:`dockyard.sbom.package_ids` (only ``[A-Za-z0-9.-]``), the document namespace from
the image's repository and digest, so the same inputs always give the same bytes.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterable
from datetime import datetime
from urllib.parse import quote

from license_expression import LicenseExpression  # type: ignore[import-untyped]
from spdx_tools.common.spdx_licensing import spdx_licensing  # type: ignore[import-untyped]
from spdx_tools.spdx.model.actor import Actor, ActorType
from spdx_tools.spdx.model.checksum import Checksum, ChecksumAlgorithm
from spdx_tools.spdx.model.document import CreationInfo, Document
from spdx_tools.spdx.model.extracted_licensing_info import ExtractedLicensingInfo
from spdx_tools.spdx.model.package import (
    ExternalPackageRef,
    ExternalPackageRefCategory,
    Package,
    PackagePurpose,
)
from spdx_tools.spdx.model.relationship import Relationship, RelationshipType
from spdx_tools.spdx.model.spdx_no_assertion import SpdxNoAssertion
from spdx_tools.spdx.writer.json.json_writer import write_document_to_stream

from dockyard.domain.scanning import inventory as inv
from dockyard.sbom import SbomSubject, image_purl, package_ids, parse_purl, safe_id, utc

DOCUMENT_ID = "SPDXRef-DOCUMENT"
_CHECKSUM_ALGORITHMS = {"sha256": ChecksumAlgorithm.SHA256, "sha512": ChecksumAlgorithm.SHA512}
_LICENSE_REF_LENGTH = 64


def spdx_json(inventory: inv.Inventory, subject: SbomSubject, tool_version: str, created: datetime) -> bytes:
    """The SPDX 2.3 JSON document of ``inventory`` as read from the image ``subject``."""
    document = spdx_document(inventory, subject, tool_version, created)
    stream = io.StringIO()
    # The document is valid by construction (tests validate it); the full validation is quadratic in the
    # number of packages, too slow to run on every request for an image with thousands of packages.
    write_document_to_stream(document, stream, validate=False)
    return stream.getvalue().encode()


def spdx_document(
    inventory: inv.Inventory, subject: SbomSubject, tool_version: str, created: datetime
) -> Document:
    """The SPDX model of the export: for :func:`spdx_json`, and for validating with spdx-tools."""
    licenses = _LicenseRefs()
    image = _image_package(subject)
    contained = [
        _package(package, f"SPDXRef-Package-{ref}", licenses)
        for package, ref in zip(inventory.packages, package_ids(inventory.packages), strict=True)
    ]
    if inventory.os is not None:
        contained.insert(0, _os_package(inventory.os))
    relationships = [Relationship(DOCUMENT_ID, RelationshipType.DESCRIBES, image.spdx_id)]
    relationships += [Relationship(image.spdx_id, RelationshipType.CONTAINS, p.spdx_id) for p in contained]
    return Document(
        creation_info=_creation_info(subject, tool_version, created),
        packages=[image, *contained],
        relationships=relationships,
        extracted_licensing_info=licenses.extracted(),
    )


def document_namespace(subject: SbomSubject) -> str:
    """A URL unique to the image (repository and digest) under the registry's host, as SPDX asks."""
    digest = quote(subject.digest, safe="")
    return f"https://{subject.registry_host}/sbom/spdx/{quote(subject.repository)}/{digest}"


def _creation_info(subject: SbomSubject, tool_version: str, created: datetime) -> CreationInfo:
    return CreationInfo(
        spdx_version="SPDX-2.3",
        spdx_id=DOCUMENT_ID,
        name=subject.reference,
        document_namespace=document_namespace(subject),
        creators=[Actor(ActorType.TOOL, f"dockyard-{tool_version}")],
        created=utc(created),
    )


def _image_package(subject: SbomSubject) -> Package:
    package = _unasserted(
        f"SPDXRef-Image-{safe_id(subject.digest)}",
        f"{subject.registry_host}/{subject.repository}",
        subject.digest,
        PackagePurpose.CONTAINER,
    )
    algorithm, _, encoded = subject.digest.partition(":")
    if algorithm in _CHECKSUM_ALGORITHMS:
        package.checksums = [Checksum(_CHECKSUM_ALGORITHMS[algorithm], encoded)]
    package.external_references = [_purl_ref(image_purl(subject).to_string())]
    tags = f"; tags: {', '.join(subject.tags)}" if subject.tags else ""
    package.comment = f"container image {subject.reference}{tags}"
    return package


def _os_package(os: inv.OsInfo) -> Package:
    spdx_id = f"SPDXRef-OperatingSystem-{safe_id(f'{os.id}-{os.version_id}')}"
    package = _unasserted(spdx_id, os.id, os.version_id or None, PackagePurpose.OPERATING_SYSTEM)
    package.description = os.pretty_name or None
    return package


def _package(package: inv.Package, spdx_id: str, licenses: _LicenseRefs) -> Package:
    spdx_package = _unasserted(spdx_id, _display_name(package), package.version, PackagePurpose.LIBRARY)
    spdx_package.license_declared = licenses.declared(package.licenses)
    purl = parse_purl(package.purl)
    spdx_package.external_references = [_purl_ref(purl.to_string())] if purl is not None else []
    source = ""
    if package.source_name:
        source = f"; source package {package.source_name} {package.source_version or ''}".rstrip()
    spdx_package.source_info = f"package read from {package.path}{source}"
    return spdx_package


def _unasserted(spdx_id: str, name: str, version: str | None, purpose: PackagePurpose) -> Package:
    """A package with what a scan cannot know set to NOASSERTION, and no files analysed."""
    return Package(
        spdx_id=spdx_id,
        name=name,
        version=version,
        primary_package_purpose=purpose,
        download_location=SpdxNoAssertion(),
        supplier=SpdxNoAssertion(),
        files_analyzed=False,
        license_concluded=SpdxNoAssertion(),
        copyright_text=SpdxNoAssertion(),
    )


def _display_name(package: inv.Package) -> str:
    """The name as its ecosystem writes it: ``@scope/name`` for npm, ``groupId:artifactId`` for Maven."""
    if package.namespace and package.type == inv.NPM:
        return f"@{package.namespace}/{package.name}"
    if package.namespace and package.type == inv.MAVEN:
        return f"{package.namespace}:{package.name}"
    return package.name


def _purl_ref(purl: str) -> ExternalPackageRef:
    return ExternalPackageRef(ExternalPackageRefCategory.PACKAGE_MANAGER, "purl", purl)


class _LicenseRefs:
    """Declared licenses as SPDX expressions, collecting a ``LicenseRef-`` for each string that is not one."""

    def __init__(self) -> None:
        self._texts: dict[str, str] = {}  # LicenseRef id -> the license string it stands for

    def declared(self, licenses: Iterable[str]) -> LicenseExpression | SpdxNoAssertion:
        terms = [self._term(text) for text in dict.fromkeys(t.strip() for t in licenses) if text]
        if not terms:
            return SpdxNoAssertion()
        joined = terms[0] if len(terms) == 1 else " AND ".join(f"({term})" for term in terms)
        expression: LicenseExpression = spdx_licensing.parse(joined)
        return expression

    def extracted(self) -> list[ExtractedLicensingInfo]:
        return [
            ExtractedLicensingInfo(license_id=ref, extracted_text=text, license_name=text)
            for ref, text in sorted(self._texts.items())
        ]

    def _term(self, text: str) -> str:
        normalized = _normalized_spdx(text)
        if normalized is not None:
            return normalized
        ref = _license_ref(text)
        self._texts[ref] = text
        return ref


def _normalized_spdx(text: str) -> str | None:
    """``text`` as a normalised SPDX expression, or None when it is not one (an unknown id, bad syntax)."""
    try:
        result = spdx_licensing.validate(text)
    except Exception:  # license-expression's tokenizer raises assorted errors on unexpected characters
        return None
    if result.errors or result.normalized_expression is None:
        return None
    return str(result.normalized_expression)


def _license_ref(text: str) -> str:
    """``LicenseRef-`` plus ``text`` in the id alphabet; a hash of ``text`` is appended whenever that
    alphabet or the length limit changed it, so two different strings never share a reference."""
    safe = safe_id(text)[:_LICENSE_REF_LENGTH]
    if safe == text:
        return f"LicenseRef-{safe}"
    return f"LicenseRef-{safe}-{hashlib.sha256(text.encode()).hexdigest()[:8]}"
