"""Migration 0003_ecr goes up and down cleanly on the embedded database."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import inspect

from dockyard.metadata.engine import create_engine, database_url
from dockyard.metadata.migrate import upgrade

ECR_TABLES = {
    "ecr_repositories",
    "ecr_resource_tags",
    "ecr_registry_policies",
    "ecr_image_pulls",
    "ecr_upload_parts",
}


async def _tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))
    finally:
        await engine.dispose()


async def test_upgrade_downgrade_upgrade(tmp_path: Path) -> None:
    from alembic import command
    from sqlalchemy import Connection

    from dockyard.metadata.migrate import alembic_config

    url = database_url(None, tmp_path)
    engine = create_engine(url)
    try:
        await upgrade(engine)
        assert await _tables(url) >= ECR_TABLES

        def down(connection: Connection) -> None:
            command.downgrade(alembic_config(connection), "0002")

        async with engine.begin() as conn:
            await conn.run_sync(down)
        assert not ECR_TABLES & await _tables(url)
        await upgrade(engine)
        assert await _tables(url) >= ECR_TABLES
    finally:
        await engine.dispose()
