"""What replicas share besides the registry's data: server keys and background-job leases.

Same ``MetaData`` as :mod:`dockyard.metadata.tables`::

    server_keys   one row per key ring ('registry-token', 'ecr-signing'): the ring as JSON, sealed with
                  the server's secret keys (``crypto.SecretBox``), so the database alone does not reveal it
    jobs          one row per background job: when it is next due, and the lease of the replica running it
                  (owner and expiry; a holder that dies stops renewing, and the lease lapses)

On PostgreSQL every table but the busy, uncached ones (``uploads``, ``ecr_upload_parts``,
``ecr_image_pulls``, ``jobs``) has a statement trigger that sends ``NOTIFY dockyard_changes, '<table>'`` in
the writer's transaction (see :mod:`dockyard.metadata.notify`): how the other replicas' caches learn of it.
"""

from __future__ import annotations

from sqlalchemy import Column, Integer, LargeBinary, String, Table

from dockyard.metadata.tables import UTCDateTime, metadata

server_keys = Table(
    "server_keys",
    metadata,
    Column("purpose", String(64), primary_key=True),
    Column("sealed", LargeBinary, nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

jobs = Table(
    "jobs",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("due_at", UTCDateTime(), nullable=False),
    Column("lease_owner", String(200), nullable=True),
    Column("lease_until", UTCDateTime(), nullable=True),
    Column("runs", Integer, nullable=False, server_default="0"),
    Column("last_finished_at", UTCDateTime(), nullable=True),
    Column("last_owner", String(200), nullable=True),
)
