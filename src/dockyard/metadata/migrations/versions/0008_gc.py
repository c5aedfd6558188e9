"""online garbage collection: marks and tombstones on blobs, blob links found by digest

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30

``blobs.marked_at`` is when a garbage collection run first found the blob referenced by nothing (cleared
by any link); ``blobs.deleting_at`` is the tombstone a run sets, under row locks, before it deletes the
bytes: a tombstoned blob can no longer be linked. ``repository_blobs.created_at`` now means "last linked"
(a link is refreshed when the blob is uploaded or mounted again). See ``docs/gc.md``.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("blobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("marked_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("deleting_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index("ix_blobs_marked_at", ["marked_at"], unique=False)
    with op.batch_alter_table("repository_blobs", schema=None) as batch_op:
        batch_op.create_index("ix_repository_blobs_digest", ["digest"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("repository_blobs", schema=None) as batch_op:
        batch_op.drop_index("ix_repository_blobs_digest")
    with op.batch_alter_table("blobs", schema=None) as batch_op:
        batch_op.drop_index("ix_blobs_marked_at")
        batch_op.drop_column("deleting_at")
        batch_op.drop_column("marked_at")
