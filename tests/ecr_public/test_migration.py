"""Migration 0005 (ECR Public) goes up and down cleanly, on SQLite and PostgreSQL, with data in it."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Connection, inspect, text

from dockyard.metadata.engine import create_engine, database_url
from dockyard.metadata.migrate import alembic_config, upgrade

TABLES = {"ecr_public_registries", "ecr_public_repositories"}


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgresql":
        return database_url(request.getfixturevalue("empty_postgres_url"), tmp_path)
    return database_url(None, tmp_path)


async def test_upgrade_downgrade_upgrade(url: str) -> None:
    engine = create_engine(url)

    def down(connection: Connection) -> None:
        command.downgrade(alembic_config(connection), "0004_accounts")

    def tables(connection: Connection) -> set[str]:
        return set(inspect(connection).get_table_names())

    try:
        await upgrade(engine)
        async with engine.begin() as conn:
            assert await conn.run_sync(tables) >= TABLES
            now = datetime(2026, 11, 27, tzinfo=UTC)
            await conn.execute(
                text(
                    "INSERT INTO repositories (account_id, name, created_at) VALUES "
                    "('public', 'acme/app', :now), ('111111111111', 'app', :now)"
                ),
                {"now": now},
            )
        async with engine.begin() as conn:
            await conn.run_sync(down)
        async with engine.connect() as conn:
            assert not TABLES & await conn.run_sync(tables)
            names = (await conn.execute(text("SELECT account_id, name FROM repositories"))).all()
            assert [tuple(row) for row in names] == [("111111111111", "app")]  # the private one stays
        await upgrade(engine)
        async with engine.connect() as conn:
            assert await conn.run_sync(tables) >= TABLES
    finally:
        await engine.dispose()
