"""Fixtures for the replica tests: a fresh migrated database of either kind."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.metadata.engine import database_url


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The async SQLAlchemy URL of an empty, migrated schema."""
    if request.param == "postgresql":
        return database_url(request.getfixturevalue("empty_postgres_url"), tmp_path)
    request.getfixturevalue("migrated_sqlite")(tmp_path)
    return database_url(None, tmp_path)
