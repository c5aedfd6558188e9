"""Server keys in the database (``services/server_keys.py``): replicas starting together agree on one
ring, a rotation reaches the others, keys from a single-node data directory can be imported, and a replica
with other secret keys refuses to start rather than sign with keys nobody else has."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from dockyard.clock import SystemClock
from dockyard.crypto import SecretBox, new_key
from dockyard.metadata.engine import create_engine
from dockyard.metadata.key_store import SqlKeyStore
from dockyard.services.ecr_tokens import HmacTokenIssuer, SigningKey, TokenKeyRing
from dockyard.services.server_keys import ServerKeys, placeholder_ring

SECRET = new_key()


@pytest.fixture
async def open_keys(db_url: str) -> AsyncIterator[Callable[..., ServerKeys]]:
    engines = []

    def open_one(secret: str = SECRET) -> ServerKeys:
        engine = create_engine(db_url)
        engines.append(engine)
        store = SqlKeyStore(engine, SystemClock())
        return ServerKeys(store, SecretBox([secret]), placeholder_ring(), SigningKey.generate())

    try:
        yield open_one
    finally:
        for engine in engines:
            await engine.dispose()


async def test_replicas_starting_together_agree(open_keys: Callable[..., ServerKeys]) -> None:
    replicas = [open_keys() for _ in range(6)]
    await asyncio.gather(*(r.load() for r in replicas))
    assert len({r.ring.text() for r in replicas}) == 1
    assert len({r.signing.hex() for r in replicas}) == 1
    now = datetime.now(UTC)
    password = HmacTokenIssuer(replicas[0].ring).issue(
        "111122223333", "arn:aws:iam::111122223333:root", now + timedelta(hours=1)
    )
    assert all(HmacTokenIssuer(r.ring).verify(password, now) is not None for r in replicas)


async def test_rotation_reaches_a_reloading_replica(open_keys: Callable[..., ServerKeys]) -> None:
    a, b = open_keys(), open_keys()
    await a.load()
    await b.load()
    old = a.ring.text()
    kid, retired, count = await a.rotate_tokens(datetime.now(UTC), timedelta(hours=12))
    assert retired == []
    assert count == 2
    assert a.ring.key_ids[0] == kid
    assert b.ring.text() == old
    await b.reload()
    assert b.ring.key_ids == [kid, old.split()[0]]


async def test_import_from_a_data_directory(open_keys: Callable[..., ServerKeys], tmp_path: Path) -> None:
    ring = TokenKeyRing.from_data_dir(tmp_path)
    signing = SigningKey.from_data_dir(tmp_path)
    replica = open_keys()
    await replica.load()
    assert await replica.import_files(tmp_path) == ["registry-token", "ecr-signing"]
    other = open_keys()
    await other.load()
    assert other.ring.text() == ring.text()
    assert other.signing.hex() == signing.hex()


async def test_other_secret_keys_cannot_open_the_ring(open_keys: Callable[..., ServerKeys]) -> None:
    await open_keys().load()
    with pytest.raises(ValueError, match="cannot be decrypted"):
        await open_keys(new_key()).load()
