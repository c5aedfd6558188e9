"""Which manifests a scan can read: image manifests whose config is an image config and whose layers are
tar archives (plain, gzip or zstd). Indexes are scanned per platform image; artifacts are not images."""

from __future__ import annotations

from dockyard.domain.manifest import ParsedManifest

IMAGE_CONFIGS = frozenset(
    {"application/vnd.oci.image.config.v1+json", "application/vnd.docker.container.image.v1+json"}
)
# The layer media types a scan reads, and their compression (OCI image-spec "Image Layer Filesystem
# Changeset", Docker image manifest v2.2). Non-distributable/foreign layers are tars too, when present.
LAYER_TYPES: dict[str, str] = {
    "application/vnd.oci.image.layer.v1.tar": "tar",
    "application/vnd.oci.image.layer.v1.tar+gzip": "gzip",
    "application/vnd.oci.image.layer.v1.tar+zstd": "zstd",
    "application/vnd.oci.image.layer.nondistributable.v1.tar": "tar",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip": "gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd": "zstd",
    "application/vnd.docker.image.rootfs.diff.tar.gzip": "gzip",
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip": "gzip",
}


def unsupported_reason(parsed: ParsedManifest) -> str | None:
    """Why ``parsed`` cannot be scanned as an image, or ``None`` when it can."""
    if parsed.is_index:
        return "image indexes are not scanned themselves; each platform image is scanned under its own digest"
    if parsed.config is None or parsed.config.media_type not in IMAGE_CONFIGS:
        kind = parsed.artifact_type or (parsed.config.media_type if parsed.config else parsed.media_type)
        return f"the artifact type {kind} is not a container image"
    for layer in parsed.layers:
        if layer.media_type not in LAYER_TYPES:
            return f"the layer media type {layer.media_type} is not supported"
        if layer.is_foreign:
            return f"the foreign layer {layer.digest} is not stored in this registry"
    return None
