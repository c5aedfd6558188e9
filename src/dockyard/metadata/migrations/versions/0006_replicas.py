"""replicas: server keys and job leases in the database; change notifications on PostgreSQL

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28

``server_keys`` holds the registry-token key ring and the ECR signing key (sealed) so that replicas on
several machines agree without copying files; ``jobs`` holds the leases of background jobs. On PostgreSQL
every cached table gets the trigger of :mod:`dockyard.metadata.notify`.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from dockyard.metadata import notify

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "server_keys",
        sa.Column("purpose", sa.String(length=64), nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("purpose", name=op.f("pk_server_keys")),
    )
    op.create_table(
        "jobs",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_owner", sa.String(length=200), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("runs", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_owner", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_jobs")),
    )
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    notify.install_function(bind)
    for table in sa.inspect(bind).get_table_names():
        if table not in notify.QUIET_TABLES:
            notify.install(bind, table)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        for table in sa.inspect(bind).get_table_names():
            notify.uninstall(bind, table)
        op.execute(sa.text(f"DROP FUNCTION IF EXISTS {notify.FUNCTION}()"))
    op.drop_table("jobs")
    op.drop_table("server_keys")
