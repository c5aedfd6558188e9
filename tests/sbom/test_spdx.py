"""SPDX export: a 2.3 JSON document that spdx-tools parses back and validates without a message."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from packageurl import PackageURL
from spdx_tools.spdx.model.document import Document
from spdx_tools.spdx.parser.jsonlikedict.json_like_dict_parser import JsonLikeDictParser
from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document

from dockyard.domain.scanning.inventory import Inventory, Package
from dockyard.sbom import SbomSubject
from dockyard.sbom.spdx import document_namespace, spdx_json

from . import (
    BABEL_CORE,
    CREATED,
    CRYPTOGRAPHY,
    DIGEST,
    FLASK,
    IMAGE_PURL,
    INVENTORY,
    LIBC6,
    LOG4J,
    LOGIN,
    MUSL,
    OPENSSL_LIBS,
    PACKAGES,
    STDLIB,
    SUBJECT,
)

SPDX_ID = re.compile(r"^SPDXRef-[A-Za-z0-9.-]+$")
IMAGE_ID = "SPDXRef-Image-sha256-5b0bcabd1ed22e9fb1310cf6c2dec7cdef19f0ad69efa1f392e94a4333501270"


def export(inventory: Inventory = INVENTORY, subject: SbomSubject = SUBJECT) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(spdx_json(inventory, subject, "1.2.3", CREATED))
    return document


def validation_errors(document: dict[str, Any]) -> list[str]:
    """spdx-tools' verdict on the JSON as written: parse it back into the model, then validate that."""
    parsed: Document = JsonLikeDictParser().parse(document)  # type: ignore[no-untyped-call]
    return [message.validation_message for message in validate_full_spdx_document(parsed)]


def purl_of(package: dict[str, Any]) -> str:
    refs = [r for r in package.get("externalRefs", []) if r["referenceType"] == "purl"]
    assert len(refs) == 1
    assert refs[0]["referenceCategory"] == "PACKAGE_MANAGER"
    locator: str = refs[0]["referenceLocator"]
    return locator


def by_purl(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {purl_of(p): p for p in document["packages"] if p.get("externalRefs")}


def test_export_is_valid_spdx_2_3() -> None:
    assert validation_errors(export()) == []


def test_the_validation_is_not_vacuous() -> None:
    document = export()
    document["packages"][2]["licenseDeclared"] = "LicenseRef-not-declared-anywhere"
    document["relationships"].append(
        {"spdxElementId": IMAGE_ID, "relationshipType": "CONTAINS", "relatedSpdxElement": "SPDXRef-missing"}
    )
    errors = validation_errors(document)
    assert any("LicenseRef-not-declared-anywhere" in e for e in errors)
    assert any("SPDXRef-missing" in e for e in errors)


def test_document_header() -> None:
    document = export()
    assert document["spdxVersion"] == "SPDX-2.3"
    assert document["dataLicense"] == "CC0-1.0"
    assert document["SPDXID"] == "SPDXRef-DOCUMENT"
    assert document["name"] == f"registry.example.com:5000/team/web-app@{DIGEST}"
    assert document["creationInfo"] == {
        "created": "2024-05-01T12:30:15Z",
        "creators": ["Tool: dockyard-1.2.3"],
    }
    assert document["documentNamespace"] == (
        "https://registry.example.com:5000/sbom/spdx/team/web-app/sha256%3A"
        "5b0bcabd1ed22e9fb1310cf6c2dec7cdef19f0ad69efa1f392e94a4333501270"
    )


def test_namespace_differs_per_image() -> None:
    other_digest = replace(SUBJECT, digest="sha256:" + "0" * 64)
    other_repository = replace(SUBJECT, repository="team/other")
    namespaces = {document_namespace(s) for s in (SUBJECT, other_digest, other_repository)}
    assert len(namespaces) == 3


def test_image_is_the_described_container_package() -> None:
    document = export()
    image = document["packages"][0]
    assert image["SPDXID"] == IMAGE_ID
    assert image["primaryPackagePurpose"] == "CONTAINER"
    assert image["name"] == "registry.example.com:5000/team/web-app"
    assert image["versionInfo"] == DIGEST
    assert purl_of(image) == IMAGE_PURL
    assert image["checksums"] == [{"algorithm": "SHA256", "checksumValue": DIGEST.removeprefix("sha256:")}]
    assert "1.4.2, latest" in image["comment"]
    describes = [r for r in document["relationships"] if r["relationshipType"] == "DESCRIBES"]
    assert describes == [
        {"spdxElementId": "SPDXRef-DOCUMENT", "relationshipType": "DESCRIBES", "relatedSpdxElement": IMAGE_ID}
    ]


def test_packages_and_relationships() -> None:
    document = export()
    packages = document["packages"]
    assert len(packages) == len(PACKAGES) + 2  # the image, the OS, the inventory
    os = packages[1]
    assert (os["name"], os["versionInfo"], os["primaryPackagePurpose"]) == (
        "debian",
        "12",
        "OPERATING_SYSTEM",
    )
    libraries = [p for p in packages if p["primaryPackagePurpose"] == "LIBRARY"]
    assert sorted(purl_of(p) for p in libraries) == sorted(p.purl for p in PACKAGES)
    ids = [p["SPDXID"] for p in packages]
    assert len(set(ids)) == len(ids)
    assert all(SPDX_ID.match(i) for i in ids)
    contains = {
        r["relatedSpdxElement"] for r in document["relationships"] if r["relationshipType"] == "CONTAINS"
    }
    assert contains == set(ids) - {IMAGE_ID}
    assert all(r["spdxElementId"] == IMAGE_ID for r in document["relationships"][1:])
    assert len(document["relationships"]) == len(ids)


def test_package_fields() -> None:
    packages = by_purl(export())
    login = packages[LOGIN.purl]
    assert (login["name"], login["versionInfo"]) == ("login", "1:4.13+dfsg1-1+b1")
    assert (
        login["sourceInfo"] == "package read from /var/lib/dpkg/status; source package shadow 1:4.13+dfsg1-1"
    )
    for field in ("downloadLocation", "licenseConcluded", "supplier", "copyrightText"):
        assert login[field] == "NOASSERTION"
    assert login["filesAnalyzed"] is False
    assert packages[BABEL_CORE.purl]["name"] == "@babel/core"
    assert packages[LOG4J.purl]["name"] == "org.apache.logging.log4j:log4j-core"
    assert packages[MUSL.purl]["name"] == "musl"


def declared(package: Package) -> str:
    value: str = by_purl(export())[package.purl]["licenseDeclared"]
    return value


def extracted() -> dict[str, str]:
    return {i["licenseId"]: i["extractedText"] for i in export()["hasExtractedLicensingInfos"]}


def test_declared_licenses_are_valid_expressions_or_license_refs() -> None:
    refs = {text: ref for ref, text in extracted().items()}
    assert set(refs) == {"GPL-2+", "GPL-2", "BSD-style", "ASL 2.0", "Public Domain"}
    assert all(SPDX_ID.match(ref.replace("LicenseRef-", "SPDXRef-")) for ref in refs.values())
    assert declared(LOGIN) == f"{refs['GPL-2+']} AND BSD-3-Clause"
    assert declared(LIBC6) == f"LGPL-2.1-only AND {refs['GPL-2']} AND LicenseRef-BSD-style"
    assert declared(OPENSSL_LIBS) == refs["ASL 2.0"]
    assert declared(CRYPTOGRAPHY) == "(Apache-2.0 OR BSD-3-Clause) AND PSF-2.0"
    assert declared(BABEL_CORE) == f"(MIT OR Apache-2.0) AND {refs['Public Domain']}"
    assert declared(FLASK) == "BSD-3-Clause"
    assert declared(STDLIB) == "NOASSERTION"


def test_license_refs_of_different_strings_never_collide() -> None:
    """``GPL-2+`` and ``GPL-2-`` sanitise alike; the hash suffix keeps them apart."""
    packages = (replace(FLASK, licenses=("GPL-2+",)), replace(LOG4J, licenses=("GPL-2-",)))
    document = export(Inventory(None, packages))
    assert validation_errors(document) == []
    texts = sorted(i["extractedText"] for i in document["hasExtractedLicensingInfos"])
    assert texts == ["GPL-2+", "GPL-2-"]
    assert len({p["licenseDeclared"] for p in document["packages"][1:]}) == 2


def test_same_inputs_give_the_same_bytes() -> None:
    first = spdx_json(INVENTORY, SUBJECT, "1.2.3", CREATED)
    assert spdx_json(INVENTORY, SUBJECT, "1.2.3", CREATED) == first
    assert spdx_json(INVENTORY, SUBJECT, "1.2.3", CREATED + timedelta(seconds=1)) != first


def test_without_os_and_packages_the_document_is_still_valid() -> None:
    document = export(Inventory(os=None))
    assert validation_errors(document) == []
    assert [p["SPDXID"] for p in document["packages"]] == [IMAGE_ID]


def test_purls_are_written_canonical_and_unparseable_ones_left_out() -> None:
    shuffled = replace(OPENSSL_LIBS, purl="pkg:rpm/redhat/openssl-libs@3.0.7-25.el9_3?epoch=1&arch=x86_64")
    broken = replace(MUSL, purl="not a purl")
    document = export(Inventory(None, (shuffled, broken)))
    assert validation_errors(document) == []
    assert (
        purl_of(document["packages"][1]) == "pkg:rpm/redhat/openssl-libs@3.0.7-25.el9_3?arch=x86_64&epoch=1"
    )
    assert "externalRefs" not in document["packages"][2]
    assert document["packages"][2]["name"] == "musl"


odd_text = st.text(min_size=1, max_size=24)


@st.composite
def odd_packages(draw: st.DrawFn) -> Package:
    name = draw(odd_text)
    version = draw(odd_text)
    try:
        purl = PackageURL(type="generic", name=name, version=version).to_string()
    except (TypeError, ValueError):  # packageurl-python refuses some names (blank after normalising)
        purl = name
    if draw(st.booleans()):
        purl = draw(odd_text)
    licenses = draw(st.lists(st.text(max_size=16), max_size=3))
    return Package("generic", name, version, purl, draw(odd_text), licenses=tuple(licenses))


@settings(max_examples=40)
@given(st.lists(odd_packages(), min_size=1, max_size=3))
def test_odd_characters_never_make_an_invalid_document(packages: list[Package]) -> None:
    document = export(Inventory(None, tuple(packages)))
    assert validation_errors(document) == []
    ids = [p["SPDXID"] for p in document["packages"]]
    assert all(SPDX_ID.match(i) for i in ids)
    assert len(set(ids)) == len(packages) + 1
