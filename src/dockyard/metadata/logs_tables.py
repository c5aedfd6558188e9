"""CloudWatch Logs' schema (migration 0011). Same ``MetaData`` as :mod:`dockyard.metadata.tables`::

log_groups ──< log_streams ──< log_events

Times are epoch milliseconds (``BIGINT``), as the API carries them. A stream row keeps what
DescribeLogStreams shows (first and last event timestamps, last ingestion time, bytes stored, the upload
sequence), updated in the same transaction as the events of each PutLogEvents call. Messages are stored as
UTF-8 bytes: PostgreSQL's ``text`` cannot hold the NUL characters container output may contain.

Events are read per stream in (timestamp, id) order (GetLogEvents) and per group across streams in the
same order (FilterLogEvents): one index for each. None of these tables is cached, so none notifies
(:data:`dockyard.metadata.notify.QUIET_TABLES`).
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    UniqueConstraint,
)

from dockyard.metadata.tables import metadata

_ID = BigInteger().with_variant(Integer, "sqlite")  # SQLite autoincrements only an INTEGER primary key

log_groups = Table(
    "log_groups",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("account_id", String(12), nullable=False),
    Column("name", String(512), nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("retention_days", Integer, nullable=True),
    Column("log_group_class", String(32), nullable=False),
    Column("tags", JSON, nullable=False),
    UniqueConstraint("account_id", "name"),
)

log_streams = Table(
    "log_streams",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("group_id", ForeignKey("log_groups.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(512), nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("first_event_ms", BigInteger, nullable=True),
    Column("last_event_ms", BigInteger, nullable=True),
    Column("last_ingestion_ms", BigInteger, nullable=True),
    Column("stored_bytes", BigInteger, nullable=False),
    Column("upload_sequence", BigInteger, nullable=False),
    UniqueConstraint("group_id", "name"),
    Index("ix_log_streams_last_event", "group_id", "last_event_ms"),
)

log_events = Table(
    "log_events",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("group_id", ForeignKey("log_groups.id", ondelete="CASCADE"), nullable=False),
    Column("stream_id", ForeignKey("log_streams.id", ondelete="CASCADE"), nullable=False),
    Column("timestamp_ms", BigInteger, nullable=False),
    Column("ingestion_ms", BigInteger, nullable=False),
    Column("message", LargeBinary, nullable=False),
    Index("ix_log_events_stream", "group_id", "stream_id", "timestamp_ms", "id"),
    Index("ix_log_events_group", "group_id", "timestamp_ms", "id"),
)
