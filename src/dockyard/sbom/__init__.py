"""SBOM export: an image's package inventory as CycloneDX 1.6 JSON or SPDX 2.3 JSON.

A scan stores an :class:`~dockyard.domain.scanning.inventory.Inventory` per image; the HTTP endpoint and
the CLI turn it into a document with :func:`render`. Both formats are pure functions of their inputs: the same
inventory, subject, tool version and ``created`` give byte-identical output (serial number and document
namespace are derived from the image, element ids from each package), so an SBOM can be cached, signed and
compared.

This module holds what both writers share: the subject, the image's purl, and stable package ids. The writers
themselves are imported lazily by :func:`render`: they import this module (a cycle at import time otherwise),
and ``spdx-tools`` takes about a second to import, which a process that never exports should not pay.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from packageurl import PackageURL

from dockyard.domain.scanning.inventory import Inventory, Package

CYCLONEDX = "cyclonedx"
SPDX = "spdx"
FORMATS = (CYCLONEDX, SPDX)
CYCLONEDX_MEDIA_TYPE = "application/vnd.cyclonedx+json"
SPDX_MEDIA_TYPE = "application/spdx+json"
MEDIA_TYPES = {CYCLONEDX: CYCLONEDX_MEDIA_TYPE, SPDX: SPDX_MEDIA_TYPE}

_UNSAFE_ID_CHARS = re.compile(r"[^A-Za-z0-9.-]+")
_ID_PREFIX_LENGTH = 80  # keeps ids readable; the hash suffix keeps them unique


@dataclass(frozen=True, slots=True)
class SbomSubject:
    """The image an SBOM describes: ``repository`` as pushed (``team/app``), ``digest`` of its manifest
    (``sha256:...``), the ``registry_host`` clients pull it from (``registry.example.com`` or
    ``localhost:5000``), and the ``tags`` pointing at it."""

    repository: str
    digest: str
    registry_host: str
    tags: tuple[str, ...] = ()

    @property
    def reference(self) -> str:
        """The pullable reference, ``host/repository@digest``: the SBOM's human-readable name."""
        return f"{self.registry_host}/{self.repository}@{self.digest}"

    @property
    def purl(self) -> str:
        """The image as an ``oci`` purl: ``pkg:oci/app@sha256%3A...?repository_url=host/team/app``."""
        return image_purl(self).to_string()


class _OciPurl(PackageURL):
    """An ``oci`` purl written as the purl spec's oci examples write it (``pkg:oci/debian@sha256%3A244f...``).

    packageurl-python turns ``%3A`` back into ``:`` in every component (the spec allows both), which would
    make the image's purl differ from the form syft and trivy print for images; only ``to_string`` changes.
    """

    __slots__ = ()

    def to_string(self, encode: bool | None = True) -> str:
        text = super().to_string(encode)
        if not encode or not self.version:
            return text
        head, _, tail = text.partition("@")
        return f"{head}@{tail.replace(':', '%3A', 1)}"


def image_purl(subject: SbomSubject) -> PackageURL:
    """The purl of the image: the repository's last path segment as name, the manifest digest as version."""
    return _OciPurl(
        type="oci",
        name=subject.repository.rsplit("/", 1)[-1].lower(),
        version=subject.digest,
        qualifiers={"repository_url": f"{subject.registry_host}/{subject.repository}"},
    )


def parse_purl(text: str) -> PackageURL | None:
    """``text`` as a purl, or None when it is not one.

    Both formats write the parsed purl in packageurl-python's canonical form (qualifiers sorted, names
    normalised per type), so the two exports agree even where a cataloguer wrote a purl differently. A purl
    that does not parse is left out of the export rather than failing it: the package is still listed.
    """
    try:
        return PackageURL.from_string(text)
    except ValueError:
        return None


def package_ids(packages: Sequence[Package]) -> list[str]:
    """A stable, unique id per package, in order: both a CycloneDX bom-ref and the tail of an SPDX id.

    The id is the purl with every run of characters outside ``[A-Za-z0-9.-]`` (the SPDX id alphabet)
    replaced by ``-``, cut to a readable length, plus a hash of purl and path: the same package read from
    two files (a wheel installed twice) stays two elements, and sanitising cannot make two packages collide.
    Exact duplicates (same purl, same path) get a counter.
    """
    ids: list[str] = []
    seen: dict[str, int] = {}
    for package in packages:
        digest = hashlib.sha256(f"{package.purl}\0{package.path}".encode()).hexdigest()[:16]
        base = f"{safe_id(package.purl)[:_ID_PREFIX_LENGTH]}-{digest}"
        count = seen.get(base, 0) + 1
        seen[base] = count
        ids.append(base if count == 1 else f"{base}-{count}")
    return ids


def safe_id(text: str) -> str:
    """``text`` in the SPDX id alphabet ``[A-Za-z0-9.-]``: runs of other characters become one ``-``."""
    return _UNSAFE_ID_CHARS.sub("-", text).strip("-") or "x"


def utc(created: datetime) -> datetime:
    """``created`` in UTC to the second, as both formats print it; a naive datetime is taken as UTC."""
    if created.tzinfo is None:
        created = created.replace(tzinfo=UTC)
    return created.astimezone(UTC).replace(microsecond=0)


def render(
    format: str, inventory: Inventory, subject: SbomSubject, tool_version: str, created: datetime
) -> bytes:
    """The SBOM of ``subject`` in ``format`` (``"cyclonedx"`` or ``"spdx"``); its media type is
    ``MEDIA_TYPES[format]``. Raises :class:`ValueError` for any other format name."""
    if format == CYCLONEDX:
        from dockyard.sbom.cyclonedx import cyclonedx_json

        return cyclonedx_json(inventory, subject, tool_version, created)
    if format == SPDX:
        from dockyard.sbom.spdx import spdx_json

        return spdx_json(inventory, subject, tool_version, created)
    raise ValueError(f"unknown SBOM format {format!r}; expected one of {', '.join(FORMATS)}")
