"""Alembic environment: runs migrations on the connection ``dockyard.metadata.migrate`` hands over."""

from __future__ import annotations

from alembic import context

import dockyard.metadata.iam_tables  # noqa: F401  (registers the identity tables)
from dockyard.metadata.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `dockyard migrate`, which supplies the connection")
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
