"""ECR Public's schema: each account's public registry (its alias, display name) and the public
repositories' catalog data and policies.

Same ``MetaData`` as :mod:`dockyard.metadata.tables`. The images of a public repository live in the core
tables like every other image; what makes a repository public is where it is filed::

    repositories (account_id = 'public', name = '<alias>/<repo>')     one namespace for every public
        │                                                              repository, as on public.ecr.aws
        ├── ecr_public_repositories   (exactly one: owner account, <repo>, catalog data, policy)
        ├─< ecr_resource_tags         (TagResource, shared with ECR)
        └─< manifests, tags, repository_blobs, uploads  (the images, as for a private repository)
    ecr_public_registries             (one per account, made at first use: alias (unique), display name)

``'public'`` can never be an account's registry (those are twelve digits), so a private ``app`` and a
public ``app`` of one account are different rows, and neither API can reach the other's: ``/v2/`` on
``public.<domain>`` addresses only ``'public'``, the private hosts and the ECR API only account ids.
Aliases never change once given, so ``<alias>/<repo>`` is stable.
"""

from __future__ import annotations

from sqlalchemy import JSON, Column, ForeignKey, String, Table, Text, UniqueConstraint

from dockyard.metadata.tables import UTCDateTime, metadata

PUBLIC_REGISTRY = "public"  # repositories.account_id of every public repository
ACCOUNT = String(12)

ecr_public_registries = Table(
    "ecr_public_registries",
    metadata,
    Column("account_id", ACCOUNT, primary_key=True),
    Column("alias", String(50), nullable=False, unique=True),
    Column("display_name", String(100), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)

ecr_public_repositories = Table(
    "ecr_public_repositories",
    metadata,
    Column("repository_id", ForeignKey("repositories.id", ondelete="CASCADE"), primary_key=True),
    Column("account_id", ACCOUNT, nullable=False),
    Column("name", String(205), nullable=False),
    Column("description", String(1024), nullable=True),
    Column("about_text", Text, nullable=True),
    Column("usage_text", Text, nullable=True),
    Column("architectures", JSON, nullable=True),
    Column("operating_systems", JSON, nullable=True),
    Column("policy_text", Text, nullable=True),
    UniqueConstraint("account_id", "name", name="uq_ecr_public_repositories_account_name"),
)
