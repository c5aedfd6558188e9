"""Lifecycle policies' schema (migration 0007). Same ``MetaData`` as :mod:`dockyard.metadata.tables`::

repositories ─┬─ lifecycle_policies     (0..1: the policy text, when a run last evaluated it)
              └─ lifecycle_previews     (0..1: the latest StartLifecyclePolicyPreview and its results)
lifecycle_events                        (one row per expired image: run, policy hash, rule, digest, tags;
                                         names its repository by account and name, so it outlives it)
"""

from __future__ import annotations

from sqlalchemy import JSON, Column, ForeignKey, Index, Integer, String, Table, Text

from dockyard.metadata.tables import DIGEST, UTCDateTime, metadata

lifecycle_policies = Table(
    "lifecycle_policies",
    metadata,
    Column("repository_id", ForeignKey("repositories.id", ondelete="CASCADE"), primary_key=True),
    Column("policy_text", Text, nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("last_evaluated_at", UTCDateTime(), nullable=True),
)

lifecycle_previews = Table(
    "lifecycle_previews",
    metadata,
    Column("repository_id", ForeignKey("repositories.id", ondelete="CASCADE"), primary_key=True),
    Column("policy_text", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("results", JSON, nullable=False),  # [{digest, tags, pushed_at (ISO), rule}] in delete order
    Column("started_at", UTCDateTime(), nullable=False),
)

lifecycle_events = Table(
    "lifecycle_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("account_id", String(12), nullable=False),
    Column("repository_name", String(256), nullable=False),
    Column("run_id", String(36), nullable=False),
    Column("policy_sha256", String(64), nullable=False),
    Column("rule_priority", Integer, nullable=False),
    Column("action", String(16), nullable=False),
    Column("digest", DIGEST, nullable=False),
    Column("tags", JSON, nullable=False),
    Column("pushed_at", UTCDateTime(), nullable=False),
    Column("occurred_at", UTCDateTime(), nullable=False),
    Index("ix_lifecycle_events_repository", "account_id", "repository_name", "occurred_at"),
)
