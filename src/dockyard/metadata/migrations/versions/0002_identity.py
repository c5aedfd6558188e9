"""identity

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "accounts",
        sa.Column("id", sa.String(length=12), nullable=False),
        sa.Column("alias", sa.String(length=63), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_accounts")),
        sa.UniqueConstraint("alias", name=op.f("uq_accounts_alias")),
    )
    op.create_table(
        "iam_group_members",
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("group_name", sa.String(length=128), nullable=False),
        sa.Column("user_name", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("account_id", "group_name", "user_name", name=op.f("pk_iam_group_members")),
    )
    with op.batch_alter_table("iam_group_members", schema=None) as batch_op:
        batch_op.create_index("ix_iam_group_members_user", ["account_id", "user_name"], unique=False)

    op.create_table(
        "iam_policies",
        sa.Column("arn", sa.String(length=2048), nullable=False),
        sa.Column("account_id", sa.String(length=12), nullable=True),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("path", sa.String(length=512), nullable=False),
        sa.Column("policy_id", sa.String(length=32), nullable=False),
        sa.Column("default_version", sa.String(length=16), nullable=False),
        sa.Column("description", sa.String(length=1000), nullable=True),
        sa.Column("next_version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("arn", name=op.f("pk_iam_policies")),
        sa.UniqueConstraint("policy_id", name=op.f("uq_iam_policies_policy_id")),
    )
    with op.batch_alter_table("iam_policies", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_iam_policies_account_id"), ["account_id"], unique=False)

    op.create_table(
        "iam_access_keys",
        sa.Column("access_key_id", sa.String(length=32), nullable=False),
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("user_name", sa.String(length=128), nullable=True),
        sa.Column("secret", sa.LargeBinary(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_iam_access_keys_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("access_key_id", name=op.f("pk_iam_access_keys")),
    )
    with op.batch_alter_table("iam_access_keys", schema=None) as batch_op:
        batch_op.create_index("ix_iam_access_keys_owner", ["account_id", "user_name"], unique=False)

    op.create_table(
        "iam_attachments",
        sa.Column("policy_arn", sa.String(length=2048), nullable=False),
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("owner_kind", sa.String(length=8), nullable=False),
        sa.Column("owner_name", sa.String(length=128), nullable=False),
        sa.ForeignKeyConstraint(
            ["policy_arn"],
            ["iam_policies.arn"],
            name=op.f("fk_iam_attachments_policy_arn_iam_policies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "policy_arn", "account_id", "owner_kind", "owner_name", name=op.f("pk_iam_attachments")
        ),
    )
    with op.batch_alter_table("iam_attachments", schema=None) as batch_op:
        batch_op.create_index(
            "ix_iam_attachments_owner", ["account_id", "owner_kind", "owner_name"], unique=False
        )

    op.create_table(
        "iam_groups",
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("path", sa.String(length=512), nullable=False),
        sa.Column("group_id", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_iam_groups_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("account_id", "name", name=op.f("pk_iam_groups")),
        sa.UniqueConstraint("group_id", name=op.f("uq_iam_groups_group_id")),
    )
    op.create_table(
        "iam_inline_policies",
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("owner_kind", sa.String(length=8), nullable=False),
        sa.Column("owner_name", sa.String(length=128), nullable=False),
        sa.Column("policy_name", sa.String(length=128), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_iam_inline_policies_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "account_id", "owner_kind", "owner_name", "policy_name", name=op.f("pk_iam_inline_policies")
        ),
    )
    op.create_table(
        "iam_oidc_providers",
        sa.Column("arn", sa.String(length=2048), nullable=False),
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("url", sa.String(length=255), nullable=False),
        sa.Column("client_ids", sa.JSON(), nullable=False),
        sa.Column("thumbprints", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_iam_oidc_providers_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("arn", name=op.f("pk_iam_oidc_providers")),
        sa.UniqueConstraint("account_id", "url", name="uq_iam_oidc_providers_account_url"),
    )
    op.create_table(
        "iam_policy_versions",
        sa.Column("policy_arn", sa.String(length=2048), nullable=False),
        sa.Column("version_id", sa.String(length=16), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["policy_arn"],
            ["iam_policies.arn"],
            name=op.f("fk_iam_policy_versions_policy_arn_iam_policies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("policy_arn", "version_id", name=op.f("pk_iam_policy_versions")),
    )
    op.create_table(
        "iam_roles",
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("path", sa.String(length=512), nullable=False),
        sa.Column("role_id", sa.String(length=32), nullable=False),
        sa.Column("trust_policy", sa.Text(), nullable=False),
        sa.Column("description", sa.String(length=1000), nullable=True),
        sa.Column("max_session_duration", sa.Integer(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_iam_roles_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("account_id", "name", name=op.f("pk_iam_roles")),
        sa.UniqueConstraint("role_id", name=op.f("uq_iam_roles_role_id")),
    )
    op.create_table(
        "iam_sessions",
        sa.Column("access_key_id", sa.String(length=32), nullable=False),
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("secret", sa.LargeBinary(), nullable=False),
        sa.Column("token", sa.LargeBinary(), nullable=False),
        sa.Column("role_name", sa.String(length=128), nullable=False),
        sa.Column("role_path", sa.String(length=512), nullable=False),
        sa.Column("role_id", sa.String(length=32), nullable=False),
        sa.Column("session_name", sa.String(length=64), nullable=False),
        sa.Column("session_policy", sa.Text(), nullable=True),
        sa.Column("identity_provider", sa.String(length=2048), nullable=True),
        sa.Column("subject", sa.String(length=255), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_iam_sessions_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("access_key_id", name=op.f("pk_iam_sessions")),
    )
    with op.batch_alter_table("iam_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_iam_sessions_expires_at"), ["expires_at"], unique=False)

    op.create_table(
        "iam_users",
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("path", sa.String(length=512), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_iam_users_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("account_id", "name", name=op.f("pk_iam_users")),
        sa.UniqueConstraint("user_id", name=op.f("uq_iam_users_user_id")),
    )


def downgrade() -> None:

    op.drop_table("iam_users")
    with op.batch_alter_table("iam_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_iam_sessions_expires_at"))

    op.drop_table("iam_sessions")
    op.drop_table("iam_roles")
    op.drop_table("iam_policy_versions")
    op.drop_table("iam_oidc_providers")
    op.drop_table("iam_inline_policies")
    op.drop_table("iam_groups")
    with op.batch_alter_table("iam_attachments", schema=None) as batch_op:
        batch_op.drop_index("ix_iam_attachments_owner")

    op.drop_table("iam_attachments")
    with op.batch_alter_table("iam_access_keys", schema=None) as batch_op:
        batch_op.drop_index("ix_iam_access_keys_owner")

    op.drop_table("iam_access_keys")
    with op.batch_alter_table("iam_policies", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_iam_policies_account_id"))

    op.drop_table("iam_policies")
    with op.batch_alter_table("iam_group_members", schema=None) as batch_op:
        batch_op.drop_index("ix_iam_group_members_user")

    op.drop_table("iam_group_members")
    op.drop_table("accounts")
