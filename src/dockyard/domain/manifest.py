"""Manifest parsing and validation for every media type the registry stores.

Supported: OCI image manifest and index, Docker schema2 manifest and manifest list. A manifest without a
top-level ``mediaType`` takes its type from the ``Content-Type`` it was pushed with (umoci writes such
manifests), and failing that from its shape.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from dockyard.domain.digest import Digest
from dockyard.domain.errors import DigestInvalid, ManifestInvalid, ManifestTooLarge, Unsupported

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_EMPTY_JSON = "application/vnd.oci.empty.v1+json"

IMAGE_TYPES = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
INDEX_TYPES = frozenset({OCI_INDEX, DOCKER_LIST})
MANIFEST_TYPES = IMAGE_TYPES | INDEX_TYPES
MAX_MANIFEST_BYTES = 4 * 1024 * 1024  # ECR's limit
_FOREIGN_LAYER_MARKERS = ("foreign", "nondistributable")


@dataclass(frozen=True, slots=True)
class Descriptor:
    media_type: str
    digest: Digest
    size: int
    artifact_type: str | None = None
    annotations: dict[str, str] = field(default_factory=dict)
    urls: tuple[str, ...] = ()

    @property
    def is_foreign(self) -> bool:
        """A layer the registry need not hold: marked non-distributable and fetched from its URLs."""
        return bool(self.urls) and any(m in self.media_type for m in _FOREIGN_LAYER_MARKERS)


@dataclass(frozen=True, slots=True)
class ParsedManifest:
    """What the registry needs to know about a manifest; the bytes themselves are stored verbatim."""

    media_type: str
    artifact_type: str | None
    config: Descriptor | None
    layers: tuple[Descriptor, ...]
    children: tuple[Descriptor, ...]
    subject: Descriptor | None
    annotations: dict[str, str]

    @property
    def is_index(self) -> bool:
        return self.media_type in INDEX_TYPES

    @property
    def blob_references(self) -> tuple[Digest, ...]:
        """Blobs that must exist in the repository for this manifest to be accepted."""
        blobs = [] if self.config is None else [self.config.digest]
        blobs.extend(layer.digest for layer in self.layers if not layer.is_foreign)
        return tuple(dict.fromkeys(blobs))

    @property
    def manifest_references(self) -> tuple[Digest, ...]:
        return tuple(dict.fromkeys(child.digest for child in self.children))


def base_media_type(content_type: str | None) -> str | None:
    """``Content-Type`` without parameters, lower-cased; ``None`` when absent."""
    if not content_type:
        return None
    return content_type.split(";", 1)[0].strip().lower() or None


def parse_manifest(body: bytes, content_type: str | None) -> ParsedManifest:
    """Validate ``body`` as a manifest; raise :class:`ManifestInvalid` (or a subclass) when it is not one."""
    if len(body) > MAX_MANIFEST_BYTES:
        raise ManifestTooLarge(f"manifest exceeds the {MAX_MANIFEST_BYTES} byte limit", size=len(body))
    document = _load_object(body)
    media_type = _media_type_of(document, base_media_type(content_type))
    if document.get("schemaVersion") != 2:
        raise ManifestInvalid("schemaVersion must be 2")
    artifact_type = _optional_str(document, "artifactType")
    subject = _optional_descriptor(document.get("subject"), "subject")
    annotations = _annotations(document.get("annotations"), "annotations")
    if media_type in INDEX_TYPES:
        children = _descriptor_list(document.get("manifests"), "manifests")
        return ParsedManifest(media_type, artifact_type, None, (), children, subject, annotations)
    config = _descriptor(document.get("config"), "config")
    layers = _descriptor_list(document.get("layers", []), "layers")
    if artifact_type is None and media_type == OCI_MANIFEST:
        artifact_type = config.media_type
    return ParsedManifest(media_type, artifact_type, config, layers, (), subject, annotations)


def _load_object(body: bytes) -> dict[str, Any]:
    try:
        document = json.loads(body)
    except (ValueError, RecursionError) as exc:  # RecursionError: nesting deeper than the parser's stack
        raise ManifestInvalid(f"manifest is not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise ManifestInvalid("manifest must be a JSON object")
    return document


def _media_type_of(document: dict[str, Any], header: str | None) -> str:
    declared = document.get("mediaType")
    if declared is not None and not isinstance(declared, str):
        raise ManifestInvalid("mediaType must be a string")
    if declared:
        chosen = declared
    elif header in MANIFEST_TYPES:
        chosen = header
    elif "manifests" in document:
        chosen = OCI_INDEX
    elif "config" in document:
        chosen = OCI_MANIFEST
    else:
        raise ManifestInvalid("cannot tell the manifest's media type")
    if chosen not in MANIFEST_TYPES:
        raise ManifestInvalid(f"unsupported manifest media type: {chosen[:200]}")
    return chosen


def _optional_str(document: dict[str, Any], key: str) -> str | None:
    value = document.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise ManifestInvalid(f"{key} must be a non-empty string")
    return value


def _annotations(value: object, where: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise ManifestInvalid(f"{where} must map strings to strings")
    return dict(value)


def _descriptor_list(value: object, where: str) -> tuple[Descriptor, ...]:
    if not isinstance(value, list):
        raise ManifestInvalid(f"{where} must be an array")
    return tuple(_descriptor(item, f"{where}[{i}]") for i, item in enumerate(value))


def _optional_descriptor(value: object, where: str) -> Descriptor | None:
    return None if value is None else _descriptor(value, where)


def _descriptor(value: object, where: str) -> Descriptor:
    if not isinstance(value, dict):
        raise ManifestInvalid(f"{where} must be a descriptor object")
    media_type = value.get("mediaType")
    size = value.get("size")
    raw_digest = value.get("digest")
    if not isinstance(media_type, str) or not media_type:
        raise ManifestInvalid(f"{where}.mediaType must be a non-empty string")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise ManifestInvalid(f"{where}.size must be a non-negative integer")
    if not isinstance(raw_digest, str):
        raise ManifestInvalid(f"{where}.digest must be a string")
    try:
        digest = Digest.parse(raw_digest)
    except (DigestInvalid, Unsupported):
        raise ManifestInvalid(f"{where}.digest is not a valid digest") from None
    urls = value.get("urls") or []
    if not isinstance(urls, list) or not all(isinstance(u, str) for u in urls):
        raise ManifestInvalid(f"{where}.urls must be an array of strings")
    artifact_type = value.get("artifactType")
    if artifact_type is not None and not isinstance(artifact_type, str):
        raise ManifestInvalid(f"{where}.artifactType must be a string")
    annotations = _annotations(value.get("annotations"), f"{where}.annotations")
    return Descriptor(media_type, digest, size, artifact_type, annotations, tuple(urls))
