"""offline vulnerability database: OSV advisories, their affected index, and the database's state

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01

``vulndb_advisories`` holds each imported OSV record (whole, as JSON text) with what a finding shows of it;
``vulndb_affected`` one row per affected entry, indexed by (match ecosystem, package name) so matching reads
only the packages it is asked about; ``vulndb_state`` one row with the import generation, the data's
``updated_at`` and the last import's summary. See :mod:`dockyard.metadata.vulndb_tables`.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "vulndb_advisories",
        sa.Column("id", sa.String(length=128), nullable=False),
        sa.Column("modified", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published", sa.DateTime(timezone=True), nullable=True),
        sa.Column("withdrawn", sa.DateTime(timezone=True), nullable=True),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("aliases", sa.JSON(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("uri", sa.Text(), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("cvss3_score", sa.Float(), nullable=True),
        sa.Column("cvss3_vector", sa.Text(), nullable=True),
        sa.Column("cvss2_score", sa.Float(), nullable=True),
        sa.Column("cvss2_vector", sa.Text(), nullable=True),
        sa.Column("raw", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vulndb_advisories")),
    )
    op.create_table(
        "vulndb_affected",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("advisory_id", sa.String(length=128), nullable=False),
        sa.Column("ecosystem", sa.String(length=128), nullable=False),
        sa.Column("name", sa.String(length=512), nullable=False),
        sa.Column("entry", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["advisory_id"],
            ["vulndb_advisories.id"],
            name=op.f("fk_vulndb_affected_advisory_id_vulndb_advisories"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vulndb_affected")),
    )
    with op.batch_alter_table("vulndb_affected", schema=None) as batch_op:
        batch_op.create_index("ix_vulndb_affected_advisory_id", ["advisory_id"], unique=False)
        batch_op.create_index("ix_vulndb_affected_package", ["ecosystem", "name"], unique=False)
    op.create_table(
        "vulndb_state",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_import_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_import", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vulndb_state")),
    )
    # No change notifications: nothing caches these tables, and an import writes them in big batches
    # (notify.QUIET_TABLES lists them).


def downgrade() -> None:
    op.drop_table("vulndb_state")
    with op.batch_alter_table("vulndb_affected", schema=None) as batch_op:
        batch_op.drop_index("ix_vulndb_affected_package")
        batch_op.drop_index("ix_vulndb_affected_advisory_id")
    op.drop_table("vulndb_affected")
    op.drop_table("vulndb_advisories")
