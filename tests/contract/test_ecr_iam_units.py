"""The ECR and IAM stores as units of work, on SQLite and PostgreSQL: the change signal moves only after
the commit (also for a caller cancelled mid-write), a failing unit propagates its own exception and leaves
nothing behind, and a store's domain errors survive the trip through the unit runner."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import Connection

from clocks import StepClock
from dockyard.domain.identity import (
    AccessKey,
    Account,
    DeleteConflict,
    EntityAlreadyExists,
    NoSuchEntity,
    Session,
    User,
)
from dockyard.metadata.ecr_store import EcrStore
from dockyard.metadata.engine import create_engine
from dockyard.metadata.iam_store import SqlIdentityStore
from dockyard.services.ecr_types import RepositorySettings

ACCOUNT = "111122223333"
NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


class Boom(Exception):
    pass


class WatchingSignal:
    """Counts bumps; on SQLite also notes, at each bump, whether the registry policy is committed (read
    through a connection of its own, as another process would)."""

    def __init__(self, sqlite_file: Path | None) -> None:
        self.bumps = 0
        self.committed_at_bump: list[bool] = []
        self._file = sqlite_file

    def current(self) -> int:
        return self.bumps

    def bump(self) -> None:
        self.bumps += 1
        if self._file is not None:
            with sqlite3.connect(self._file) as db:
                found = db.execute("SELECT count(*) FROM ecr_registry_policies").fetchone()[0]
            self.committed_at_bump.append(bool(found))


@pytest.fixture
def signal(db_url: str, tmp_path: Path) -> WatchingSignal:
    return WatchingSignal(tmp_path / "dockyard.db" if db_url.startswith("sqlite") else None)


@pytest.fixture
async def ecr(db_url: str, clock: StepClock, signal: WatchingSignal) -> AsyncIterator[EcrStore]:
    engine = create_engine(db_url)
    try:
        yield EcrStore(engine, clock, signal, ACCOUNT)
    finally:
        await engine.dispose()


@pytest.fixture
async def iam(db_url: str, clock: StepClock) -> AsyncIterator[SqlIdentityStore]:
    engine = create_engine(db_url)
    try:
        store = SqlIdentityStore(engine, clock)
        await store.create_account(Account(ACCOUNT, None, NOW))
        yield store
    finally:
        await engine.dispose()


async def test_ecr_writes_bump_after_they_commit_and_when_they_fail(
    ecr: EcrStore, signal: WatchingSignal
) -> None:
    await ecr.put_registry_policy(ACCOUNT, "{}")
    assert signal.bumps == 1
    assert signal.committed_at_bump in ([], [True])
    await ecr.remove_resource_tags(0, ["absent"])  # bump=False
    assert signal.bumps == 1

    def fails(conn: Connection) -> None:
        raise Boom("unit")

    with pytest.raises(Boom, match="unit"):
        await ecr._write_unit(fails)
    assert signal.bumps == 2
    with pytest.raises(Boom):
        await ecr._write_unit(fails, bump=False)
    assert signal.bumps == 2
    assert await ecr.delete_registry_policy(ACCOUNT) == "{}"
    assert await ecr.delete_registry_policy(ACCOUNT) is None


async def test_a_cancelled_ecr_write_still_commits_and_bumps_only_after_the_commit(
    ecr: EcrStore, signal: WatchingSignal
) -> None:
    write = asyncio.create_task(ecr.put_registry_policy(ACCOUNT, '{"v": 1}'))
    await asyncio.sleep(0)  # the write is on its way
    write.cancel()
    with pytest.raises(asyncio.CancelledError):
        await write
    assert signal.bumps == 1
    assert signal.committed_at_bump in ([], [True])  # never before the commit a reader could cache around
    assert await ecr.registry_policy(ACCOUNT) == '{"v": 1}'


async def test_create_repository_reads_back_in_its_unit_and_refuses_a_taken_name(ecr: EcrStore) -> None:
    settings = RepositorySettings()
    created = await asyncio.gather(
        *(ecr.create_repository("team/app", ACCOUNT, settings, {"k": str(i)}) for i in range(6))
    )
    winners = [(i, found) for i, found in enumerate(created) if found is not None]
    assert len(winners) == 1
    index, winner = winners[0]
    assert winner == await ecr.repository(ACCOUNT, "team/app")
    assert await ecr.resource_tags(winner.id) == [("k", str(index))]


async def test_a_failing_reseal_leaves_every_secret_as_it_was(iam: SqlIdentityStore) -> None:
    await iam.create_access_key(AccessKey("AKIAONE", ACCOUNT, None, "Active", NOW), b"key-secret")
    session = Session(
        "ASIAONE", ACCOUNT, "role", "/", "AROA", "s", NOW + timedelta(hours=1), None, None, None
    )
    await iam.create_session(session, b"session-secret", b"session-token", NOW)

    def breaks_on_tokens(sealed: bytes) -> bytes:
        if sealed.endswith(b"token"):
            raise Boom("token")
        return sealed.upper()

    with pytest.raises(Boom, match="token"):
        await iam.reseal_all(breaks_on_tokens)
    key = await iam.access_key_secret("AKIAONE")
    assert key is not None
    assert key[1] == b"key-secret"
    assert await iam.reseal_all(bytes.upper) == 2
    key = await iam.access_key_secret("AKIAONE")
    found = await iam.session_secret("ASIAONE")
    assert key is not None
    assert key[1] == b"KEY-SECRET"
    assert found is not None
    assert found[1:] == (b"SESSION-SECRET", b"SESSION-TOKEN")


async def test_domain_errors_cross_the_unit_and_spare_concurrent_writes(iam: SqlIdentityStore) -> None:
    await iam.create_user(User(ACCOUNT, "kept", "/", "AIDA1", NOW))
    await iam.create_access_key(AccessKey("AKIAKEPT", ACCOUNT, "kept", "Active", NOW), b"s")
    outcomes = await asyncio.gather(
        iam.delete_user(ACCOUNT, "kept"),
        iam.delete_user(ACCOUNT, "nobody"),
        iam.create_user(User(ACCOUNT, "kept", "/", "AIDA2", NOW)),
        *(iam.create_user(User(ACCOUNT, f"u{i}", "/", f"AIDAU{i}", NOW)) for i in range(5)),
        return_exceptions=True,
    )
    assert isinstance(outcomes[0], DeleteConflict)
    assert isinstance(outcomes[1], NoSuchEntity)
    assert isinstance(outcomes[2], EntityAlreadyExists)
    assert outcomes[3:] == [None] * 5
    assert [u.name for u in await iam.list_users(ACCOUNT)] == ["kept", "u0", "u1", "u2", "u3", "u4"]
