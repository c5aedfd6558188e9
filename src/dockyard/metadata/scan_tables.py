"""Image scanning's schema (migration 0010). Same ``MetaData`` as :mod:`dockyard.metadata.tables`::

scan_registry_configs                  (per account: PutRegistryScanningConfiguration's scan type and rules)
manifests ── image_scans               (0..1 per image: status, lease for the worker, OS found)
              └─ image_scan_packages   (the image's inventory: links to packages, with the paths found at)
scan_packages                          (each distinct package once, with the query it is matched as and the
  └─ package_vulns                      vulnerability-database generation it was last matched against)

Findings are ``image_scan_packages ⋈ package_vulns``: matching works on distinct packages, so an import of the
vulnerability database re-evaluates every stored image by re-matching the (far fewer) distinct packages.
"""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Column, ForeignKey, Index, Integer, String, Table, Text

from dockyard.metadata.tables import UTCDateTime, metadata

scan_registry_configs = Table(
    "scan_registry_configs",
    metadata,
    Column("account_id", String(12), primary_key=True),
    Column("scan_type", String(16), nullable=False),
    Column("rules", JSON, nullable=False),  # [{"scanFrequency": ..., "repositoryFilters": [...]}]
    Column("updated_at", UTCDateTime(), nullable=False),
)

image_scans = Table(
    "image_scans",
    metadata,
    Column("manifest_id", ForeignKey("manifests.id", ondelete="CASCADE"), primary_key=True),
    Column("status", String(32), nullable=False),
    Column("description", Text, nullable=True),
    Column("requested_at", UTCDateTime(), nullable=False),
    Column("manual_at", UTCDateTime(), nullable=True),  # last StartImageScan (the on-demand quota)
    Column("started_at", UTCDateTime(), nullable=True),
    Column("completed_at", UTCDateTime(), nullable=True),
    Column("attempts", Integer, nullable=False, default=0),
    Column("not_before", UTCDateTime(), nullable=False),  # a pending scan waits until then (retry backoff)
    Column("lease_owner", String(128), nullable=True),
    Column("lease_until", UTCDateTime(), nullable=True),
    Column("os_id", String(64), nullable=True),
    Column("os_version", String(64), nullable=True),
    Column("os_name", String(255), nullable=True),
    Column("os_codename", String(64), nullable=True),
    Index("ix_image_scans_queue", "status", "not_before"),
)

scan_packages = Table(
    "scan_packages",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("key", String(64), nullable=False, unique=True),  # sha256 of everything below
    Column("type", String(16), nullable=False),
    Column("name", Text, nullable=False),
    Column("version", Text, nullable=False),
    Column("purl", Text, nullable=False),
    Column("source_name", Text, nullable=True),
    Column("source_version", Text, nullable=True),
    Column("arch", String(64), nullable=True),
    Column("namespace", Text, nullable=True),
    Column("licenses", JSON, nullable=False),
    Column("ecosystem", String(128), nullable=True),  # the vulnerability database query, when there is one
    Column("query_name", Text, nullable=True),
    Column("query_version", Text, nullable=True),
    Column("matched_generation", Integer, nullable=False, default=0),
    Index("ix_scan_packages_matched", "matched_generation"),
)

image_scan_packages = Table(
    "image_scan_packages",
    metadata,
    Column("manifest_id", ForeignKey("image_scans.manifest_id", ondelete="CASCADE"), primary_key=True),
    Column("package_id", ForeignKey("scan_packages.id", ondelete="CASCADE"), primary_key=True),
    Column("paths", JSON, nullable=False),
    Index("ix_image_scan_packages_package", "package_id"),
)

package_vulns = Table(
    "package_vulns",
    metadata,
    Column("package_id", ForeignKey("scan_packages.id", ondelete="CASCADE"), primary_key=True),
    Column("advisory_id", String(128), primary_key=True),
    Column("fixed_in", Text, nullable=True),
    Column("severity", String(16), nullable=False),
)
