"""lifecycle policies: one policy per repository, the latest preview, and the events of expiries

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29

``lifecycle_policies`` holds a repository's ECR lifecycle policy text; ``lifecycle_previews`` the latest
``StartLifecyclePolicyPreview`` result of a repository (status and the images a run would expire);
``lifecycle_events`` one row per image a run expired (which policy and rule, which digest and tags, when).
Events name their repository by account and name, without a foreign key, so they outlive it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from dockyard.metadata import notify

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_TABLES = ("lifecycle_policies", "lifecycle_previews", "lifecycle_events")


def _repository_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["repository_id"],
        ["repositories.id"],
        name=op.f(f"fk_{table}_repository_id_repositories"),
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "lifecycle_policies",
        sa.Column("repository_id", sa.Integer(), nullable=False),
        sa.Column("policy_text", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_evaluated_at", sa.DateTime(timezone=True), nullable=True),
        _repository_fk("lifecycle_policies"),
        sa.PrimaryKeyConstraint("repository_id", name=op.f("pk_lifecycle_policies")),
    )
    op.create_table(
        "lifecycle_previews",
        sa.Column("repository_id", sa.Integer(), nullable=False),
        sa.Column("policy_text", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("results", sa.JSON(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        _repository_fk("lifecycle_previews"),
        sa.PrimaryKeyConstraint("repository_id", name=op.f("pk_lifecycle_previews")),
    )
    op.create_table(
        "lifecycle_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("repository_name", sa.String(length=256), nullable=False),
        sa.Column("run_id", sa.String(length=36), nullable=False),
        sa.Column("policy_sha256", sa.String(length=64), nullable=False),
        sa.Column("rule_priority", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("digest", sa.String(length=160), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("pushed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lifecycle_events")),
    )
    with op.batch_alter_table("lifecycle_events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_lifecycle_events_repository", ["account_id", "repository_name", "occurred_at"], unique=False
        )
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        for table in _TABLES:
            notify.install(bind, table)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        for table in _TABLES:
            notify.uninstall(bind, table)
    with op.batch_alter_table("lifecycle_events", schema=None) as batch_op:
        batch_op.drop_index("ix_lifecycle_events_repository")
    op.drop_table("lifecycle_events")
    op.drop_table("lifecycle_previews")
    op.drop_table("lifecycle_policies")
