"""Domain errors of the registry.

They carry typed data and know nothing of HTTP: each wire format (``http/oci``, later ``http/ecr``)
maps them to its own codes and statuses in one table.
"""

from __future__ import annotations

from typing import Any


class RegistryError(Exception):
    """Base of every error the registry services raise on purpose."""

    message: str = "registry error"

    def __init__(self, message: str | None = None, **detail: Any) -> None:
        super().__init__(message or self.message)
        self.detail: dict[str, Any] = detail

    @property
    def text(self) -> str:
        return str(self.args[0])


class NameInvalid(RegistryError):
    message = "invalid repository name"


class NameUnknown(RegistryError):
    message = "repository name not known to registry"


class TagInvalid(RegistryError):
    message = "manifest tag did not match URI"


class DigestInvalid(RegistryError):
    message = "provided digest did not match uploaded content"


class Unsupported(RegistryError):
    message = "the operation is unsupported"


class BlobUnknown(RegistryError):
    message = "blob unknown to registry"


class BlobUploadUnknown(RegistryError):
    message = "blob upload unknown to registry"


class BlobUploadInvalid(RegistryError):
    message = "blob upload invalid"


class BlobDeleting(BlobUploadInvalid):
    """The blob is being deleted by garbage collection (its bytes may be gone): it cannot be linked until
    the collection ends; upload it again."""

    message = "blob is being garbage collected; upload it again"


class RangeInvalid(RegistryError):
    """A chunk arrived out of order, or a requested byte range cannot be served."""

    message = "requested range not satisfiable"

    def __init__(self, message: str | None = None, *, size: int = 0, **detail: Any) -> None:
        super().__init__(message, size=size, **detail)
        self.size = size


class SizeInvalid(RegistryError):
    message = "provided length did not match content length"


class ManifestInvalid(RegistryError):
    message = "manifest invalid"


class ManifestTooLarge(RegistryError):
    message = "manifest too large"


class ManifestUnknown(RegistryError):
    message = "manifest unknown"


class ManifestBlobUnknown(RegistryError):
    message = "blob unknown to registry"


class TagImmutable(RegistryError):
    message = "tag is immutable"


class ByteRangeInvalid(RegistryError):
    """A requested byte range lies outside the blob."""

    message = "requested range not satisfiable"

    def __init__(self, message: str | None = None, *, size: int = 0) -> None:
        super().__init__(message, size=size)
        self.size = size


class PaginationInvalid(RegistryError):
    message = "invalid number of results requested"
