"""Value objects and errors of the ECR control plane.

The errors know nothing of HTTP: ``http/ecr/errors.py`` is the one table from them to ECR's exception
names. Messages are ECR's wording where ECR's is known.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Generic, TypeVar

from dockyard.domain.errors import RegistryError
from dockyard.domain.reference import wildcard

DEFAULT_ENCRYPTION = "AES256"
T = TypeVar("T")


class Mutability(StrEnum):
    MUTABLE = "MUTABLE"
    IMMUTABLE = "IMMUTABLE"
    IMMUTABLE_WITH_EXCLUSION = "IMMUTABLE_WITH_EXCLUSION"
    MUTABLE_WITH_EXCLUSION = "MUTABLE_WITH_EXCLUSION"

    @property
    def takes_filters(self) -> bool:
        return self in (Mutability.IMMUTABLE_WITH_EXCLUSION, Mutability.MUTABLE_WITH_EXCLUSION)


def tag_is_immutable(mutability: Mutability, filters: tuple[str, ...], tag: str) -> bool:
    """Whether ``tag`` may not be moved: IMMUTABLE, or the exclusion filters say so (``*`` = any run)."""
    if mutability is Mutability.MUTABLE:
        return False
    if mutability is Mutability.IMMUTABLE:
        return True
    matched = any(wildcard(f).fullmatch(tag) for f in filters)
    return not matched if mutability is Mutability.IMMUTABLE_WITH_EXCLUSION else matched


@dataclass(frozen=True, slots=True)
class RepositorySettings:
    mutability: Mutability = Mutability.MUTABLE
    exclusion_filters: tuple[str, ...] = ()
    scan_on_push: bool = False
    encryption_type: str = DEFAULT_ENCRYPTION
    kms_key: str | None = None


@dataclass(frozen=True, slots=True)
class EcrRepository:
    """A repository as ECR describes it (core row plus its settings; defaults when it has none)."""

    id: int
    name: str
    created_at: datetime
    account_id: str
    settings: RepositorySettings = field(default_factory=RepositorySettings)
    policy_text: str | None = None


@dataclass(frozen=True, slots=True)
class ImageRow:
    """One manifest of a repository, as the image listings read it."""

    id: int
    digest: str
    media_type: str
    artifact_type: str | None
    subject: str | None
    pushed_at: datetime


@dataclass(frozen=True, slots=True)
class ImageDetail:
    row: ImageRow
    tags: tuple[str, ...]
    size: int
    last_pull: datetime | None


@dataclass(frozen=True, slots=True)
class ImageId:
    """An ``ImageIdentifier`` as a client sent it: digest, tag, either or both."""

    digest: str | None = None
    tag: str | None = None


@dataclass(frozen=True, slots=True)
class ImageFailure:
    image_id: ImageId
    code: str
    reason: str


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    next_token: str | None = None


# ------------------------------------------------------------------------------------------------- errors


class EcrError(RegistryError):
    message = "ECR error"


class InvalidParameter(EcrError):
    message = "Invalid parameter"


class InvalidTagParameter(EcrError):
    message = "Invalid tag parameter"


class TooManyTags(EcrError):
    message = "Too many tags"


class RepositoryAlreadyExists(EcrError):
    pass


class RepositoryNotEmpty(EcrError):
    pass


class RepositoryPolicyNotFound(EcrError):
    @classmethod
    def of(cls, name: str, account: str) -> RepositoryPolicyNotFound:
        """ECR's (and ECR Public's) text for a repository without a policy."""
        return cls(
            f"Repository policy does not exist for the repository with name '{name}' in the registry "
            f"with id '{account}'"
        )


class RegistryPolicyNotFound(EcrError):
    pass


class ImageNotFound(EcrError):
    pass


class ImageAlreadyExists(EcrError):
    pass


class ImageDigestMismatch(EcrError):
    pass


class LayersNotFound(EcrError):
    pass


class ReferencedImagesNotFound(EcrError):
    pass


class UploadNotFound(EcrError):
    pass


class InvalidLayerPart(EcrError):
    def __init__(self, message: str, *, last_valid_byte: int) -> None:
        super().__init__(message, last_valid_byte=last_valid_byte)
        self.last_valid_byte = last_valid_byte


class LayerPartTooSmall(EcrError):
    pass


class LayerAlreadyExists(EcrError):
    pass


class InvalidLayer(EcrError):
    pass


class EmptyUpload(EcrError):
    pass


class KmsUnavailable(EcrError):
    pass


class Throttled(EcrError):
    message = "Rate exceeded"


class RepositoryNotFound(EcrError):
    pass
