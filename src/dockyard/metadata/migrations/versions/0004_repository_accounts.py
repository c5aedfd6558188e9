"""repositories per account: repositories.account_id, names unique within an account

Revision ID: 0004_accounts
Revises: 0003_ecr
Create Date: 2026-12-04

Existing repositories take the account their ``ecr_repositories`` row records; the others (created by a
``/v2/`` push) the first account created, else ``000000000000`` (the owner of repositories pushed before
any account existed).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_accounts"
down_revision = "0003_ecr"
branch_labels = None
depends_on = None

UNASSIGNED_ACCOUNT = "000000000000"


def upgrade() -> None:
    with op.batch_alter_table("repositories", schema=None) as batch_op:
        batch_op.add_column(sa.Column("account_id", sa.String(length=12), nullable=True))
    connection = op.get_bind()
    first = connection.execute(sa.text("SELECT id FROM accounts ORDER BY created_at, id LIMIT 1")).scalar()
    connection.execute(
        sa.text(
            "UPDATE repositories SET account_id = COALESCE("
            "(SELECT e.account_id FROM ecr_repositories e WHERE e.repository_id = repositories.id), :default)"
        ),
        {"default": first or UNASSIGNED_ACCOUNT},
    )
    with op.batch_alter_table("repositories", schema=None) as batch_op:
        batch_op.alter_column("account_id", existing_type=sa.String(length=12), nullable=False)
        batch_op.drop_constraint("uq_repositories_name", type_="unique")
        batch_op.create_unique_constraint("uq_repositories_account_name", ["account_id", "name"])


def downgrade() -> None:
    with op.batch_alter_table("repositories", schema=None) as batch_op:
        batch_op.drop_constraint("uq_repositories_account_name", type_="unique")
        batch_op.create_unique_constraint("uq_repositories_name", ["name"])
        batch_op.drop_column("account_id")
