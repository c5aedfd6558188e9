"""CloudWatch Logs: log groups, log streams and their events

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30

``log_groups`` holds one row per group of an account (retention, class, tags); ``log_streams`` one per
stream with what DescribeLogStreams shows; ``log_events`` every stored event (epoch-millisecond timestamp
and ingestion time, the message as UTF-8 bytes), indexed per stream and per group in (timestamp, id)
order. The tables are busy and uncached: no change-notification triggers (see ``metadata/notify.py``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _fk(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    other = target.partition(".")[0]
    return sa.ForeignKeyConstraint(
        [column], [target], name=op.f(f"fk_{table}_{column}_{other}"), ondelete="CASCADE"
    )


def upgrade() -> None:
    op.create_table(
        "log_groups",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("name", sa.String(length=512), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("retention_days", sa.Integer(), nullable=True),
        sa.Column("log_group_class", sa.String(length=32), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_log_groups")),
        sa.UniqueConstraint("account_id", "name", name=op.f("uq_log_groups_account_id")),
    )
    _streams()
    _events()


def _streams() -> None:
    op.create_table(
        "log_streams",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=512), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("first_event_ms", sa.BigInteger(), nullable=True),
        sa.Column("last_event_ms", sa.BigInteger(), nullable=True),
        sa.Column("last_ingestion_ms", sa.BigInteger(), nullable=True),
        sa.Column("stored_bytes", sa.BigInteger(), nullable=False),
        sa.Column("upload_sequence", sa.BigInteger(), nullable=False),
        _fk("log_streams", "group_id", "log_groups.id"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_log_streams")),
        sa.UniqueConstraint("group_id", "name", name=op.f("uq_log_streams_group_id")),
    )
    with op.batch_alter_table("log_streams", schema=None) as batch_op:
        batch_op.create_index("ix_log_streams_last_event", ["group_id", "last_event_ms"], unique=False)


def _events() -> None:
    op.create_table(
        "log_events",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("stream_id", sa.Integer(), nullable=False),
        sa.Column("timestamp_ms", sa.BigInteger(), nullable=False),
        sa.Column("ingestion_ms", sa.BigInteger(), nullable=False),
        sa.Column("message", sa.LargeBinary(), nullable=False),
        _fk("log_events", "group_id", "log_groups.id"),
        _fk("log_events", "stream_id", "log_streams.id"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_log_events")),
    )
    with op.batch_alter_table("log_events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_log_events_stream", ["group_id", "stream_id", "timestamp_ms", "id"], unique=False
        )
        batch_op.create_index("ix_log_events_group", ["group_id", "timestamp_ms", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("log_events", schema=None) as batch_op:
        batch_op.drop_index("ix_log_events_group")
        batch_op.drop_index("ix_log_events_stream")
    op.drop_table("log_events")
    with op.batch_alter_table("log_streams", schema=None) as batch_op:
        batch_op.drop_index("ix_log_streams_last_event")
    op.drop_table("log_streams")
    op.drop_table("log_groups")
