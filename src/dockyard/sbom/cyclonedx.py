"""An image's inventory as a CycloneDX 1.6 JSON BOM, built with cyclonedx-python-lib.

The BOM's ``metadata.component`` is the container image (an ``oci`` purl, the manifest digest as its hash),
with the operating system and every package as components; the image depends on each of them. Licenses go
through the library's license factory: an SPDX id where one is valid, an SPDX expression where the string is
one, a license name otherwise. The serial number is a UUIDv5 of the image's purl, so two exports of one
inventory with the same ``created`` are byte-identical.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from datetime import datetime

from cyclonedx.contrib.bom.utils import BomDependencyGraphFlatMerger, BomRefDiscriminator
from cyclonedx.contrib.license.factories import LicenseFactory
from cyclonedx.model import HashAlgorithm, HashType, Property
from cyclonedx.model.bom import Bom, BomMetaData
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.model.dependency import Dependency
from cyclonedx.model.license import DisjunctiveLicense, License, LicenseExpression
from cyclonedx.schema.schema import SchemaVersion1Dot6

from dockyard.domain.scanning.inventory import NPM, Inventory, OsInfo, Package
from dockyard.sbom import SbomSubject, image_purl, package_ids, parse_purl, utc

PROPERTY_PATH = "dockyard:path"
PROPERTY_TYPE = "dockyard:package:type"
PROPERTY_SOURCE_NAME = "dockyard:package:source-name"
PROPERTY_SOURCE_VERSION = "dockyard:package:source-version"
PROPERTY_ARCH = "dockyard:package:arch"
PROPERTY_TAG = "dockyard:image:tag"
OS_BOM_REF = "operating-system"

_SCHEMA_URI = "http://cyclonedx.org/schema/bom-1.6.schema.json"
_HASH_ALGORITHMS = {"sha256": HashAlgorithm.SHA_256, "sha512": HashAlgorithm.SHA_512}
_LICENSES = LicenseFactory()


def cyclonedx_json(inventory: Inventory, subject: SbomSubject, tool_version: str, created: datetime) -> bytes:
    """The CycloneDX 1.6 JSON BOM of ``inventory`` as read from the image ``subject``."""
    return serialize(cyclonedx_bom(inventory, subject, tool_version, created)).encode()


def cyclonedx_bom(inventory: Inventory, subject: SbomSubject, tool_version: str, created: datetime) -> Bom:
    """The library's model of the BOM that :func:`cyclonedx_json` writes."""
    image = _image_component(subject)
    bom = Bom(
        serial_number=uuid.uuid5(uuid.NAMESPACE_URL, subject.purl),
        metadata=BomMetaData(component=image, timestamp=utc(created)),
    )
    bom.metadata.tools.components.add(
        Component(type=ComponentType.APPLICATION, name="dockyard", version=tool_version)
    )
    parts = [
        _package_component(package, ref)
        for package, ref in zip(inventory.packages, _refs(inventory), strict=True)
    ]
    if inventory.os is not None:
        parts.append(_os_component(inventory.os))
    bom.components.update(parts)
    # Dependency entries are built directly: Bom.register_dependency scans every entry, quadratic here.
    bom.dependencies.add(
        Dependency(ref=image.bom_ref, dependencies=[Dependency(ref=p.bom_ref) for p in parts])
    )
    bom.dependencies.update(Dependency(ref=part.bom_ref) for part in parts)
    return bom


def serialize(bom: Bom) -> str:
    """``bom`` as CycloneDX 1.6 JSON: what ``JsonV1Dot6(bom).output_as_string(indent=2)`` writes, without
    the ``Bom.validate()`` that the outputter runs first.

    That deprecated check scans the whole dependency list once per component, quadratic in the packages
    (seconds for an image with a few thousand npm packages). What it checks holds by construction here:
    every component has a dependency entry, every reference is a component, and no component mixes an
    expression with other licenses; the tests compare this output with the library's outputter.
    """
    with BomRefDiscriminator.from_bom(bom), BomDependencyGraphFlatMerger(bom):
        data: dict[str, object] = json.loads(bom.as_json(view_=SchemaVersion1Dot6))  # type: ignore[attr-defined]
    data.update({"$schema": _SCHEMA_URI, "bomFormat": "CycloneDX", "specVersion": "1.6"})
    return json.dumps(data, indent=2)


def _refs(inventory: Inventory) -> list[str]:
    """Bom-refs for the packages: readable, unique, and never equal to the image's or the OS's ref."""
    return [f"package:{ref}" for ref in package_ids(inventory.packages)]


def _image_component(subject: SbomSubject) -> Component:
    algorithm, _, encoded = subject.digest.partition(":")
    hashes = (
        [HashType(alg=_HASH_ALGORITHMS[algorithm], content=encoded)] if algorithm in _HASH_ALGORITHMS else []
    )
    return Component(
        type=ComponentType.CONTAINER,
        bom_ref=subject.purl,
        name=f"{subject.registry_host}/{subject.repository}",
        version=subject.digest,
        purl=image_purl(subject),
        hashes=hashes,
        properties=[Property(name=PROPERTY_TAG, value=tag) for tag in subject.tags],
    )


def _os_component(os: OsInfo) -> Component:
    return Component(
        type=ComponentType.OPERATING_SYSTEM,
        bom_ref=OS_BOM_REF,
        name=os.id,
        version=os.version_id or None,
        description=os.pretty_name or None,
    )


def _package_component(package: Package, ref: str) -> Component:
    return Component(
        type=ComponentType.LIBRARY,
        bom_ref=ref,
        group=_group(package),
        name=package.name,
        version=package.version,
        purl=parse_purl(package.purl),
        licenses=component_licenses(package.licenses),
        properties=_properties(package),
    )


def _group(package: Package) -> str | None:
    """CycloneDX's group: the Maven groupId; the npm scope with its ``@``, as cyclonedx-node-npm writes it."""
    if not package.namespace:
        return None
    return f"@{package.namespace}" if package.type == NPM else package.namespace


def _properties(package: Package) -> list[Property]:
    pairs = [
        (PROPERTY_TYPE, package.type),
        (PROPERTY_PATH, package.path),
        (PROPERTY_SOURCE_NAME, package.source_name),
        (PROPERTY_SOURCE_VERSION, package.source_version),
        (PROPERTY_ARCH, package.arch),
    ]
    return [Property(name=name, value=value) for name, value in pairs if value]


def component_licenses(licenses: Iterable[str]) -> list[License]:
    """The licenses of a component, in a form schema 1.6 accepts.

    A component lists either license ids/names or exactly one expression, never both (the library keeps only
    the expression of a mixed set when it writes JSON). So several licenses of which one is an expression are
    joined with ``AND`` into one expression when every one is valid SPDX; otherwise the
    expressions are kept as license names and nothing is dropped.
    """
    made = [_LICENSES.make_from_string(text) for text in dict.fromkeys(t.strip() for t in licenses) if text]
    if len(made) <= 1 or not any(isinstance(li, LicenseExpression) for li in made):
        return made
    if any(isinstance(li, DisjunctiveLicense) and li.id is None for li in made):
        return [DisjunctiveLicense(name=li.value) if isinstance(li, LicenseExpression) else li for li in made]
    joined = " AND ".join(f"({li.value})" if isinstance(li, LicenseExpression) else str(li.id) for li in made)
    return [_LICENSES.make_with_expression(joined)]
