"""The offline vulnerability database's schema (migration 0009). Same ``MetaData`` as
:mod:`dockyard.metadata.tables`::

vulndb_advisories ─< vulndb_affected   (one row per affected entry, looked up by (ecosystem, name))
vulndb_state                           (one row: generation, updated_at, the last import's summary)

``vulndb_advisories`` keeps each OSV record whole (``raw``) beside what a finding shows, computed at import
(name, description, uri, severity, CVSS). A withdrawn advisory stays as a tombstone (``withdrawn`` set, no
affected rows) so an older copy cannot come back. ``vulndb_affected.ecosystem``/``name`` are the *match*
ecosystem and name (:mod:`dockyard.domain.vulns.ecosystems`); ``entry`` holds the entry's own ecosystem,
ranges and versions as JSON.
"""

from __future__ import annotations

from sqlalchemy import JSON, Column, Float, ForeignKey, Index, Integer, String, Table, Text

from dockyard.metadata.tables import UTCDateTime, metadata

vulndb_advisories = Table(
    "vulndb_advisories",
    metadata,
    Column("id", String(128), primary_key=True),
    Column("modified", UTCDateTime(), nullable=False),
    Column("published", UTCDateTime(), nullable=True),
    Column("withdrawn", UTCDateTime(), nullable=True),
    Column("summary", Text, nullable=False),
    Column("details", Text, nullable=False),
    Column("aliases", JSON, nullable=False),
    Column("name", String(128), nullable=False),
    Column("description", Text, nullable=False),
    Column("uri", Text, nullable=False),
    Column("severity", String(16), nullable=False),
    Column("cvss3_score", Float, nullable=True),
    Column("cvss3_vector", Text, nullable=True),
    Column("cvss2_score", Float, nullable=True),
    Column("cvss2_vector", Text, nullable=True),
    Column("raw", Text, nullable=False),
)

vulndb_affected = Table(
    "vulndb_affected",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("advisory_id", ForeignKey("vulndb_advisories.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("ecosystem", String(128), nullable=False),
    Column("name", String(512), nullable=False),
    Column("entry", JSON, nullable=False),
    Index("ix_vulndb_affected_package", "ecosystem", "name"),
)

vulndb_state = Table(
    "vulndb_state",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),  # always 1
    Column("generation", Integer, nullable=False),
    Column("updated_at", UTCDateTime(), nullable=True),
    Column("last_import_at", UTCDateTime(), nullable=True),
    Column("last_import", JSON, nullable=True),
)
