"""ecr public: public registries (aliases, display names) and public repositories' catalog data and policies

Revision ID: 0005
Revises: 0004_accounts
Create Date: 2026-11-27

Public repositories are core ``repositories`` rows of the registry ``'public'`` named ``<alias>/<repo>``
(see ``metadata/ecr_public_tables.py``); nothing existing changes.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004_accounts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ecr_public_registries",
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("alias", sa.String(length=50), nullable=False),
        sa.Column("display_name", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_ecr_public_registries")),
        sa.UniqueConstraint("alias", name=op.f("uq_ecr_public_registries_alias")),
    )
    op.create_table(
        "ecr_public_repositories",
        sa.Column("repository_id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("name", sa.String(length=205), nullable=False),
        sa.Column("description", sa.String(length=1024), nullable=True),
        sa.Column("about_text", sa.Text(), nullable=True),
        sa.Column("usage_text", sa.Text(), nullable=True),
        sa.Column("architectures", sa.JSON(), nullable=True),
        sa.Column("operating_systems", sa.JSON(), nullable=True),
        sa.Column("policy_text", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["repository_id"],
            ["repositories.id"],
            name=op.f("fk_ecr_public_repositories_repository_id_repositories"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("repository_id", name=op.f("pk_ecr_public_repositories")),
        sa.UniqueConstraint("account_id", "name", name="uq_ecr_public_repositories_account_name"),
    )


def downgrade() -> None:
    # Public repositories go with their schema (their manifests, tags and links cascade).
    op.execute(sa.text("DELETE FROM repositories WHERE account_id = 'public'"))
    op.drop_table("ecr_public_repositories")
    op.drop_table("ecr_public_registries")
