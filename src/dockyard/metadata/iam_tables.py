"""The identity schema: accounts, IAM entities, credentials, policies (same MetaData as ``tables``).

::

    accounts ─┬─< iam_users ─┬─< iam_group_members >── iam_groups
              │              └─< (access keys: iam_access_keys, user_name NULL = root)
              ├─< iam_roles ───< iam_sessions            (STS temporary credentials)
              ├─< iam_inline_policies                    (owner kind user|role|group + name)
              ├─< iam_policies ───< iam_policy_versions  (customer managed; AWS managed: account NULL)
              ├─< iam_attachments                        (policy arn -> user|role|group)
              └─< iam_oidc_providers

Secrets (access-key and session secrets, session tokens) are stored encrypted (``crypto.SecretBox``).
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from dockyard.metadata.tables import UTCDateTime, metadata

ACCOUNT = String(12)
NAME = String(128)
ARN = String(2048)

accounts = Table(
    "accounts",
    metadata,
    Column("id", ACCOUNT, primary_key=True),
    Column("alias", String(63), nullable=True, unique=True),
    Column("created_at", UTCDateTime(), nullable=False),
)

iam_users = Table(
    "iam_users",
    metadata,
    Column("account_id", ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    Column("name", NAME, primary_key=True),
    Column("path", String(512), nullable=False),
    Column("user_id", String(32), nullable=False, unique=True),
    Column("tags", JSON, nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
)

iam_groups = Table(
    "iam_groups",
    metadata,
    Column("account_id", ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    Column("name", NAME, primary_key=True),
    Column("path", String(512), nullable=False),
    Column("group_id", String(32), nullable=False, unique=True),
    Column("created_at", UTCDateTime(), nullable=False),
)

iam_group_members = Table(
    "iam_group_members",
    metadata,
    Column("account_id", ACCOUNT, primary_key=True),
    Column("group_name", NAME, primary_key=True),
    Column("user_name", NAME, primary_key=True),
    Index("ix_iam_group_members_user", "account_id", "user_name"),
)

iam_roles = Table(
    "iam_roles",
    metadata,
    Column("account_id", ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    Column("name", NAME, primary_key=True),
    Column("path", String(512), nullable=False),
    Column("role_id", String(32), nullable=False, unique=True),
    Column("trust_policy", Text, nullable=False),
    Column("description", String(1000), nullable=True),
    Column("max_session_duration", Integer, nullable=False),
    Column("tags", JSON, nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
)

iam_access_keys = Table(
    "iam_access_keys",
    metadata,
    Column("access_key_id", String(32), primary_key=True),
    Column("account_id", ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("user_name", NAME, nullable=True),
    Column("secret", LargeBinary, nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Index("ix_iam_access_keys_owner", "account_id", "user_name"),
)

iam_sessions = Table(
    "iam_sessions",
    metadata,
    Column("access_key_id", String(32), primary_key=True),
    Column("account_id", ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("secret", LargeBinary, nullable=False),
    Column("token", LargeBinary, nullable=False),
    Column("role_name", NAME, nullable=False),
    Column("role_path", String(512), nullable=False),
    Column("role_id", String(32), nullable=False),
    Column("session_name", String(64), nullable=False),
    Column("session_policy", Text, nullable=True),
    Column("identity_provider", ARN, nullable=True),
    Column("subject", String(255), nullable=True),
    Column("expires_at", UTCDateTime(), nullable=False, index=True),
    Column("created_at", UTCDateTime(), nullable=False),
)

iam_inline_policies = Table(
    "iam_inline_policies",
    metadata,
    Column("account_id", ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    Column("owner_kind", String(8), primary_key=True),
    Column("owner_name", NAME, primary_key=True),
    Column("policy_name", NAME, primary_key=True),
    Column("document", Text, nullable=False),
)

iam_policies = Table(
    "iam_policies",
    metadata,
    Column("arn", ARN, primary_key=True),
    Column("account_id", ACCOUNT, nullable=True, index=True),
    Column("name", NAME, nullable=False),
    Column("path", String(512), nullable=False),
    Column("policy_id", String(32), nullable=False, unique=True),
    Column("default_version", String(16), nullable=False),
    Column("description", String(1000), nullable=True),
    Column("next_version", Integer, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

iam_policy_versions = Table(
    "iam_policy_versions",
    metadata,
    Column("policy_arn", ForeignKey("iam_policies.arn", ondelete="CASCADE"), primary_key=True),
    Column("version_id", String(16), primary_key=True),
    Column("document", Text, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)

iam_attachments = Table(
    "iam_attachments",
    metadata,
    Column("policy_arn", ForeignKey("iam_policies.arn", ondelete="CASCADE"), primary_key=True),
    Column("account_id", ACCOUNT, primary_key=True),
    Column("owner_kind", String(8), primary_key=True),
    Column("owner_name", NAME, primary_key=True),
    Index("ix_iam_attachments_owner", "account_id", "owner_kind", "owner_name"),
)

iam_oidc_providers = Table(
    "iam_oidc_providers",
    metadata,
    Column("arn", ARN, primary_key=True),
    Column("account_id", ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("url", String(255), nullable=False),
    Column("client_ids", JSON, nullable=False),
    Column("thumbprints", JSON, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    UniqueConstraint("account_id", "url", name="uq_iam_oidc_providers_account_url"),
)
