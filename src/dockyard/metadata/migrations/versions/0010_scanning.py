"""image scanning: registry scanning configurations, image scans, package inventories and matches

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-27

``image_scans`` holds one row per scanned (or queued) image, keyed by its manifest row, and doubles as the
scan queue (status, ``not_before``, lease); ``scan_packages`` each distinct package found in any image, with
the vulnerability-database query it matches as; ``image_scan_packages`` links images to their packages;
``package_vulns`` the advisories a package matched at its ``matched_generation``. See ``docs/scanning.md``.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from dockyard.metadata import notify

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def _fk(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    other = target.partition(".")[0]
    return sa.ForeignKeyConstraint(
        [column], [target], name=op.f(f"fk_{table}_{column}_{other}"), ondelete="CASCADE"
    )


def upgrade() -> None:
    op.create_table(
        "scan_registry_configs",
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("scan_type", sa.String(length=16), nullable=False),
        sa.Column("rules", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_scan_registry_configs")),
    )
    _image_scans()
    _packages()
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":  # cached (scan on push reads it); the others are busy, not cached
        notify.install(bind, "scan_registry_configs")


def _image_scans() -> None:
    op.create_table(
        "image_scans",
        sa.Column("manifest_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("manual_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("not_before", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_owner", sa.String(length=128), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("os_id", sa.String(length=64), nullable=True),
        sa.Column("os_version", sa.String(length=64), nullable=True),
        sa.Column("os_name", sa.String(length=255), nullable=True),
        sa.Column("os_codename", sa.String(length=64), nullable=True),
        _fk("image_scans", "manifest_id", "manifests.id"),
        sa.PrimaryKeyConstraint("manifest_id", name=op.f("pk_image_scans")),
    )
    with op.batch_alter_table("image_scans", schema=None) as batch_op:
        batch_op.create_index("ix_image_scans_queue", ["status", "not_before"], unique=False)


def _packages() -> None:
    op.create_table(
        "scan_packages",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("version", sa.Text(), nullable=False),
        sa.Column("purl", sa.Text(), nullable=False),
        sa.Column("source_name", sa.Text(), nullable=True),
        sa.Column("source_version", sa.Text(), nullable=True),
        sa.Column("arch", sa.String(length=64), nullable=True),
        sa.Column("namespace", sa.Text(), nullable=True),
        sa.Column("licenses", sa.JSON(), nullable=False),
        sa.Column("ecosystem", sa.String(length=128), nullable=True),
        sa.Column("query_name", sa.Text(), nullable=True),
        sa.Column("query_version", sa.Text(), nullable=True),
        sa.Column("matched_generation", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scan_packages")),
        sa.UniqueConstraint("key", name=op.f("uq_scan_packages_key")),
    )
    with op.batch_alter_table("scan_packages", schema=None) as batch_op:
        batch_op.create_index("ix_scan_packages_matched", ["matched_generation"], unique=False)
    op.create_table(
        "image_scan_packages",
        sa.Column("manifest_id", sa.Integer(), nullable=False),
        sa.Column("package_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("paths", sa.JSON(), nullable=False),
        _fk("image_scan_packages", "manifest_id", "image_scans.manifest_id"),
        _fk("image_scan_packages", "package_id", "scan_packages.id"),
        sa.PrimaryKeyConstraint("manifest_id", "package_id", name=op.f("pk_image_scan_packages")),
    )
    with op.batch_alter_table("image_scan_packages", schema=None) as batch_op:
        batch_op.create_index("ix_image_scan_packages_package", ["package_id"], unique=False)
    op.create_table(
        "package_vulns",
        sa.Column("package_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("advisory_id", sa.String(length=128), nullable=False),
        sa.Column("fixed_in", sa.Text(), nullable=True),
        sa.Column("severity", sa.String(length=16), nullable=False),
        _fk("package_vulns", "package_id", "scan_packages.id"),
        sa.PrimaryKeyConstraint("package_id", "advisory_id", name=op.f("pk_package_vulns")),
    )


def downgrade() -> None:
    for table in ("package_vulns", "image_scan_packages", "scan_packages", "image_scans"):
        op.drop_table(table)
    op.drop_table("scan_registry_configs")
