"""The ECR control plane's schema: repository settings, resource tags, policies, pull times, upload parts.

Same ``MetaData`` as :mod:`dockyard.metadata.tables`; every row hangs off a core row and goes with it::

    repositories ─┬─ ecr_repositories        (0..1: account, tag mutability, scanning, encryption, policy)
                  └─< ecr_resource_tags      (TagResource / ListTagsForResource)
    manifests ───── ecr_image_pulls          (0..1: lastRecordedPullTime, written at most once a day)
    uploads ─────── ecr_upload_parts         (0..1: part sizes of an UploadLayerPart session)
    ecr_registry_policies                    (one per account: Put/Get/DeleteRegistryPolicy)

A repository without an ``ecr_repositories`` row (one created by a ``/v2/`` push) has ECR's defaults:
``MUTABLE``, no scan on push, ``AES256``, no policy, the configured default account. An image's push time
is ``manifests.created_at``.
"""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Boolean, Column, ForeignKey, String, Table, Text

from dockyard.metadata.tables import UTCDateTime, metadata

ACCOUNT = String(12)

ecr_repositories = Table(
    "ecr_repositories",
    metadata,
    Column("repository_id", ForeignKey("repositories.id", ondelete="CASCADE"), primary_key=True),
    Column("account_id", ACCOUNT, nullable=False, index=True),
    Column("image_tag_mutability", String(32), nullable=False),
    Column("mutability_exclusions", JSON, nullable=True),  # list of wildcard filters
    Column("scan_on_push", Boolean, nullable=False),
    Column("encryption_type", String(16), nullable=False),
    Column("kms_key", String(2048), nullable=True),
    Column("policy_text", Text, nullable=True),
)

ecr_resource_tags = Table(
    "ecr_resource_tags",
    metadata,
    Column("repository_id", ForeignKey("repositories.id", ondelete="CASCADE"), primary_key=True),
    Column("key", String(128), primary_key=True),
    Column("value", String(256), nullable=False),
)

ecr_registry_policies = Table(
    "ecr_registry_policies",
    metadata,
    Column("account_id", ACCOUNT, primary_key=True),
    Column("policy_text", Text, nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

ecr_image_pulls = Table(
    "ecr_image_pulls",
    metadata,
    Column("manifest_id", ForeignKey("manifests.id", ondelete="CASCADE"), primary_key=True),
    Column("last_pulled_at", UTCDateTime(), nullable=False),
)

ecr_upload_parts = Table(
    "ecr_upload_parts",
    metadata,
    Column("upload_id", ForeignKey("uploads.id", ondelete="CASCADE"), primary_key=True),
    Column("last_part_size", BigInteger, nullable=False),
    Column("small_part_before_last", Boolean, nullable=False),
)
