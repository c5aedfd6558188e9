"""ecr control plane: repository settings, resource tags, registry policies, pull times, upload parts

Revision ID: 0003_ecr
Revises: 0002
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_ecr"
down_revision = "0002"
branch_labels = None
depends_on = None


def _repository_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["repository_id"],
        ["repositories.id"],
        name=op.f(f"fk_{table}_repository_id_repositories"),
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "ecr_repositories",
        sa.Column("repository_id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("image_tag_mutability", sa.String(length=32), nullable=False),
        sa.Column("mutability_exclusions", sa.JSON(), nullable=True),
        sa.Column("scan_on_push", sa.Boolean(), nullable=False),
        sa.Column("encryption_type", sa.String(length=16), nullable=False),
        sa.Column("kms_key", sa.String(length=2048), nullable=True),
        sa.Column("policy_text", sa.Text(), nullable=True),
        _repository_fk("ecr_repositories"),
        sa.PrimaryKeyConstraint("repository_id", name=op.f("pk_ecr_repositories")),
    )
    with op.batch_alter_table("ecr_repositories", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ecr_repositories_account_id"), ["account_id"], unique=False)

    op.create_table(
        "ecr_resource_tags",
        sa.Column("repository_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("value", sa.String(length=256), nullable=False),
        _repository_fk("ecr_resource_tags"),
        sa.PrimaryKeyConstraint("repository_id", "key", name=op.f("pk_ecr_resource_tags")),
    )
    op.create_table(
        "ecr_registry_policies",
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("policy_text", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_ecr_registry_policies")),
    )
    op.create_table(
        "ecr_image_pulls",
        sa.Column("manifest_id", sa.Integer(), nullable=False),
        sa.Column("last_pulled_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["manifest_id"],
            ["manifests.id"],
            name=op.f("fk_ecr_image_pulls_manifest_id_manifests"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("manifest_id", name=op.f("pk_ecr_image_pulls")),
    )
    op.create_table(
        "ecr_upload_parts",
        sa.Column("upload_id", sa.String(length=36), nullable=False),
        sa.Column("last_part_size", sa.BigInteger(), nullable=False),
        sa.Column("small_part_before_last", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["upload_id"],
            ["uploads.id"],
            name=op.f("fk_ecr_upload_parts_upload_id_uploads"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("upload_id", name=op.f("pk_ecr_upload_parts")),
    )


def downgrade() -> None:
    op.drop_table("ecr_upload_parts")
    op.drop_table("ecr_image_pulls")
    op.drop_table("ecr_registry_policies")
    op.drop_table("ecr_resource_tags")
    with op.batch_alter_table("ecr_repositories", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ecr_repositories_account_id"))
    op.drop_table("ecr_repositories")
