"""Value objects of ECR Public: an account's public registry, a public repository and its catalog data.

Errors are ECR's (:mod:`dockyard.services.ecr_types`): the ECR Public model names the same exceptions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from dockyard.services.ecr_types import ImageRow

# RegistryAliasName in botocore's ecr-public model.
ALIAS_PATTERN = re.compile(r"^[a-z][a-z0-9]+(?:[._-][a-z0-9]+)*\Z")
# The values ECR Public accepts in catalog data (its documentation's lists).
ARCHITECTURES = ("ARM", "ARM 64", "x86", "x86-64")
OPERATING_SYSTEMS = ("Linux", "Windows")


def valid_alias(alias: str) -> bool:
    return 2 <= len(alias) <= 50 and ALIAS_PATTERN.match(alias) is not None


@dataclass(frozen=True, slots=True)
class PublicRegistry:
    account_id: str
    alias: str
    display_name: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class CatalogData:
    """A repository's catalog data; ``None`` members were never set."""

    description: str | None = None
    about_text: str | None = None
    usage_text: str | None = None
    architectures: tuple[str, ...] | None = None
    operating_systems: tuple[str, ...] | None = None

    def merged(self, update: CatalogData) -> CatalogData:
        """``self`` with every member ``update`` sets replaced (PutRepositoryCatalogData)."""
        return CatalogData(
            update.description if update.description is not None else self.description,
            update.about_text if update.about_text is not None else self.about_text,
            update.usage_text if update.usage_text is not None else self.usage_text,
            update.architectures if update.architectures is not None else self.architectures,
            update.operating_systems if update.operating_systems is not None else self.operating_systems,
        )


@dataclass(frozen=True, slots=True)
class PublicRepository:
    id: int  # the core repository's id
    account_id: str  # the owner
    alias: str
    name: str  # without the alias
    created_at: datetime
    catalog: CatalogData = field(default_factory=CatalogData)
    policy_text: str | None = None

    @property
    def path(self) -> str:
        """``<alias>/<name>``: the name on ``/v2/`` of the public host and in the core tables."""
        return f"{self.alias}/{self.name}"


@dataclass(frozen=True, slots=True)
class TagRow:
    """One tag of a repository with the image it names (DescribeImageTags)."""

    tag: str
    updated_at: datetime
    image: ImageRow
