"""CycloneDX export: schema-valid 1.6 JSON, one component per package, the image as the root of the graph."""

from __future__ import annotations

import json
import uuid
import warnings
from dataclasses import replace
from datetime import timedelta, timezone
from typing import Any

import pytest
from cyclonedx.output.json import JsonV1Dot6
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from packageurl import PackageURL

from dockyard.domain.scanning.inventory import Inventory, Package
from dockyard.sbom import (
    CYCLONEDX_MEDIA_TYPE,
    MEDIA_TYPES,
    SPDX_MEDIA_TYPE,
    SbomSubject,
    render,
)
from dockyard.sbom import cyclonedx as cdx

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
    OPENSSL_LIBS,
    PACKAGES,
    STDLIB,
    SUBJECT,
)

VALIDATOR = JsonStrictValidator(SchemaVersion.V1_6)


def export(inventory: Inventory = INVENTORY, subject: SbomSubject = SUBJECT) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(cdx.cyclonedx_json(inventory, subject, "1.2.3", CREATED))
    return document


def by_purl(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["purl"]: c for c in document["components"] if "purl" in c}


def assert_valid(text: str | bytes) -> None:
    error = VALIDATOR.validate_str(text.decode() if isinstance(text, bytes) else text)
    assert error is None, str(error)


def test_export_is_valid_cyclonedx_1_6() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no deprecated API, no "incomplete graph" warning from the library
        output = cdx.cyclonedx_json(INVENTORY, SUBJECT, "1.2.3", CREATED)
    assert_valid(output)
    document = json.loads(output)
    assert document["specVersion"] == "1.6"
    assert document["bomFormat"] == "CycloneDX"


def test_the_validator_rejects_a_broken_document() -> None:
    """The schema check used above is not vacuous."""
    document = export()
    document["components"][0]["type"] = "not-a-type"
    assert VALIDATOR.validate_str(json.dumps(document)) is not None


def test_serialize_writes_what_the_library_outputter_writes() -> None:
    """serialize() skips only the outputter's quadratic Bom.validate(); the bytes must not change."""
    library = JsonV1Dot6(cdx.cyclonedx_bom(INVENTORY, SUBJECT, "1.2.3", CREATED)).output_as_string(indent=2)
    assert cdx.serialize(cdx.cyclonedx_bom(INVENTORY, SUBJECT, "1.2.3", CREATED)) == library
    assert cdx.cyclonedx_json(INVENTORY, SUBJECT, "1.2.3", CREATED) == library.encode()


def test_metadata_component_is_the_container_image() -> None:
    metadata = export()["metadata"]
    image = metadata["component"]
    assert image["type"] == "container"
    assert image["purl"] == IMAGE_PURL
    assert image["bom-ref"] == IMAGE_PURL
    assert image["name"] == "registry.example.com:5000/team/web-app"
    assert image["version"] == DIGEST
    assert image["hashes"] == [{"alg": "SHA-256", "content": DIGEST.removeprefix("sha256:")}]
    assert {p["value"] for p in image["properties"] if p["name"] == cdx.PROPERTY_TAG} == {"1.4.2", "latest"}
    assert metadata["timestamp"] == "2024-05-01T12:30:15+00:00"
    assert metadata["tools"]["components"] == [
        {"name": "dockyard", "type": "application", "version": "1.2.3"}
    ]
    purl = PackageURL.from_string(image["purl"])
    assert (purl.type, purl.name, purl.version) == ("oci", "web-app", DIGEST)
    assert purl.qualifiers == {"repository_url": "registry.example.com:5000/team/web-app"}


def test_every_package_is_a_library_component_with_its_purl() -> None:
    components = export()["components"]
    assert len(components) == len(PACKAGES) + 1
    libraries = [c for c in components if c["type"] == "library"]
    assert sorted(c["purl"] for c in libraries) == sorted(p.purl for p in PACKAGES)
    refs = [c["bom-ref"] for c in components]
    assert len(set(refs)) == len(refs)
    operating_systems = [c for c in components if c["type"] == "operating-system"]
    assert operating_systems == [
        {
            "bom-ref": cdx.OS_BOM_REF,
            "description": "Debian GNU/Linux 12 (bookworm)",
            "name": "debian",
            "type": "operating-system",
            "version": "12",
        }
    ]


def test_package_fields_and_properties() -> None:
    login = by_purl(export())[LOGIN.purl]
    assert (login["name"], login["version"]) == ("login", "1:4.13+dfsg1-1+b1")
    properties = {p["name"]: p["value"] for p in login["properties"]}
    assert properties == {
        cdx.PROPERTY_PATH: "/var/lib/dpkg/status",
        cdx.PROPERTY_TYPE: "deb",
        cdx.PROPERTY_SOURCE_NAME: "shadow",
        cdx.PROPERTY_SOURCE_VERSION: "1:4.13+dfsg1-1",
        cdx.PROPERTY_ARCH: "amd64",
    }
    components = by_purl(export())
    assert components[BABEL_CORE.purl]["group"] == "@babel"
    assert components[LOG4J.purl]["group"] == "org.apache.logging.log4j"
    assert "group" not in components[FLASK.purl]


def test_dependency_graph_has_the_image_depend_on_everything() -> None:
    document = export()
    dependencies = {d["ref"]: d.get("dependsOn", []) for d in document["dependencies"]}
    component_refs = {c["bom-ref"] for c in document["components"]}
    assert set(dependencies[IMAGE_PURL]) == component_refs
    assert set(dependencies) == component_refs | {IMAGE_PURL}
    assert all(dependencies[ref] == [] for ref in component_refs)


def licenses_of(package: Package) -> list[dict[str, Any]]:
    licenses: list[dict[str, Any]] = by_purl(export())[package.purl].get("licenses", [])
    return licenses


def test_licenses_are_spdx_ids_where_valid_and_names_otherwise() -> None:
    assert sorted(licenses_of(LOGIN), key=json.dumps) == [
        {"license": {"id": "BSD-3-Clause"}},  # Debian's "BSD-3-clause", case fixed by the factory
        {"license": {"name": "GPL-2+"}},
    ]
    assert {json.dumps(li) for li in licenses_of(LIBC6)} == {
        json.dumps({"license": {"id": "LGPL-2.1"}}),
        json.dumps({"license": {"name": "GPL-2"}}),
        json.dumps({"license": {"name": "BSD-style"}}),
    }
    assert licenses_of(OPENSSL_LIBS) == [{"license": {"name": "ASL 2.0"}}]
    assert licenses_of(STDLIB) == []


def test_an_expression_with_other_spdx_licenses_becomes_one_expression() -> None:
    assert licenses_of(CRYPTOGRAPHY) == [{"expression": "(Apache-2.0 OR BSD-3-Clause) AND PSF-2.0"}]


def test_an_expression_with_a_license_name_keeps_everything_as_names() -> None:
    names = {li["license"]["name"] for li in licenses_of(BABEL_CORE)}
    assert names == {"(MIT OR Apache-2.0)", "Public Domain"}


def test_a_lone_expression_stays_an_expression() -> None:
    package = replace(FLASK, licenses=("MIT OR Apache-2.0",))
    output = cdx.cyclonedx_json(Inventory(None, (package,)), SUBJECT, "1", CREATED)
    assert_valid(output)
    assert json.loads(output)["components"][0]["licenses"] == [{"expression": "MIT OR Apache-2.0"}]


def test_same_inputs_give_the_same_bytes() -> None:
    first = cdx.cyclonedx_json(INVENTORY, SUBJECT, "1.2.3", CREATED)
    assert cdx.cyclonedx_json(INVENTORY, SUBJECT, "1.2.3", CREATED) == first
    later = cdx.cyclonedx_json(INVENTORY, SUBJECT, "1.2.3", CREATED + timedelta(days=1))
    assert later != first
    assert json.loads(later)["serialNumber"] == json.loads(first)["serialNumber"]


def test_serial_number_is_a_uuid5_of_the_image() -> None:
    serial = export()["serialNumber"]
    assert serial == f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, IMAGE_PURL)}"
    other = export(subject=replace(SUBJECT, digest="sha256:" + "0" * 64))["serialNumber"]
    assert other != serial


def test_without_os_and_packages_the_bom_is_still_valid() -> None:
    output = cdx.cyclonedx_json(Inventory(os=None), SUBJECT, "1.2.3", CREATED)
    assert_valid(output)
    document = json.loads(output)
    assert document.get("components", []) == []
    assert document["metadata"]["component"]["purl"] == IMAGE_PURL


def test_duplicate_packages_get_distinct_refs() -> None:
    """The same wheel at two paths, and an exact duplicate, are still separate components."""
    moved = replace(FLASK, path="/opt/venv/lib/python3.11/site-packages/Flask-2.0.0.dist-info/METADATA")
    output = cdx.cyclonedx_json(Inventory(None, (FLASK, moved, FLASK)), SUBJECT, "1", CREATED)
    assert_valid(output)
    refs = [c["bom-ref"] for c in json.loads(output)["components"]]
    assert len(set(refs)) == 3


def test_render_dispatches_by_format_name() -> None:
    assert render("cyclonedx", INVENTORY, SUBJECT, "1.2.3", CREATED) == cdx.cyclonedx_json(
        INVENTORY, SUBJECT, "1.2.3", CREATED
    )
    assert json.loads(render("spdx", INVENTORY, SUBJECT, "1.2.3", CREATED))["spdxVersion"] == "SPDX-2.3"
    with pytest.raises(ValueError, match="unknown SBOM format"):
        render("syft-json", INVENTORY, SUBJECT, "1.2.3", CREATED)
    assert MEDIA_TYPES == {"cyclonedx": CYCLONEDX_MEDIA_TYPE, "spdx": SPDX_MEDIA_TYPE}
    assert CYCLONEDX_MEDIA_TYPE == "application/vnd.cyclonedx+json"
    assert SPDX_MEDIA_TYPE == "application/spdx+json"


def test_purls_are_written_canonical_and_unparseable_ones_left_out() -> None:
    shuffled = replace(OPENSSL_LIBS, purl="pkg:rpm/redhat/openssl-libs@3.0.7-25.el9_3?epoch=1&arch=x86_64")
    broken = replace(FLASK, purl="not a purl")
    output = cdx.cyclonedx_json(Inventory(None, (shuffled, broken)), SUBJECT, "1", CREATED)
    assert_valid(output)
    components = {c["name"]: c for c in json.loads(output)["components"]}
    assert (
        components["openssl-libs"]["purl"] == "pkg:rpm/redhat/openssl-libs@3.0.7-25.el9_3?arch=x86_64&epoch=1"
    )
    assert "purl" not in components["flask"]


def test_created_is_written_in_utc_to_the_second() -> None:
    """A naive datetime counts as UTC; an aware one in another zone is converted; microseconds are dropped."""
    expected = cdx.cyclonedx_json(INVENTORY, SUBJECT, "1.2.3", CREATED)
    naive = CREATED.replace(tzinfo=None, microsecond=123456)
    elsewhere = CREATED.astimezone(timezone(timedelta(hours=-5)))
    assert cdx.cyclonedx_json(INVENTORY, SUBJECT, "1.2.3", naive) == expected
    assert cdx.cyclonedx_json(INVENTORY, SUBJECT, "1.2.3", elsewhere) == expected
