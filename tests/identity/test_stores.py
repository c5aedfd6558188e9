"""The identity services on SQLite and PostgreSQL, in-process: the SQL the wire tests run on the default
database, here on both, plus what the wire does not show (sealed secrets, sessions, ordering)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.fernet import Fernet

from dockyard.crypto import SecretBox
from dockyard.domain.iam.errors import MalformedPolicyDocument
from dockyard.domain.identity import (
    AccessDenied,
    DeleteConflict,
    EntityAlreadyExists,
    InvalidInput,
    NoSuchEntity,
)
from dockyard.metadata.engine import create_engine
from dockyard.metadata.iam_policy_store import SqlPolicyStore
from dockyard.metadata.iam_store import SqlIdentityStore
from dockyard.metadata.signal import LocalChangeSignal
from dockyard.services.access import Access
from dockyard.services.identity import IdentityService
from dockyard.services.sts import StsService

ACCOUNT = "123456789012"


class StepClock:
    def __init__(self) -> None:
        self.current = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.current


@dataclass
class Plane:
    identity: IdentityService
    access: Access
    sts: StsService
    clock: StepClock
    signal: LocalChangeSignal


@pytest.fixture
async def plane(db_url: str) -> AsyncIterator[Plane]:
    engine = create_engine(db_url)
    clock, signal = StepClock(), LocalChangeSignal()
    box = SecretBox([Fernet.generate_key().decode()])
    identity = IdentityService(
        SqlIdentityStore(engine, clock), SqlPolicyStore(engine, clock), box, clock, signal
    )
    await identity.seed()
    await identity.seed()  # idempotent
    access = Access(identity, signal)
    try:
        yield Plane(identity, access, StsService(access), clock, signal)
    finally:
        await engine.dispose()


def allow(*actions: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": list(actions), "Resource": "*"}],
        }
    )


async def test_entities_order_lexically_and_refuse_duplicates(plane: Plane) -> None:
    identity = plane.identity
    await identity.create_account(ACCOUNT)
    with pytest.raises(EntityAlreadyExists):
        await identity.create_account(ACCOUNT)
    with pytest.raises(InvalidInput):
        await identity.create_account("123")
    for name in ("b", "B", "a_1", "a1"):
        await identity.create_user(ACCOUNT, name, "/x_y/")
    await identity.create_user(ACCOUNT, "other", "/xzy/")
    assert [u.name for u in await identity.store.list_users(ACCOUNT, "/x_y/")] == ["B", "a1", "a_1", "b"]
    with pytest.raises(EntityAlreadyExists):
        await identity.create_user(ACCOUNT, "b")
    await identity.create_group(ACCOUNT, "g")
    for name in ("b", "B"):
        await identity.add_user_to_group(ACCOUNT, "g", name)
    await identity.add_user_to_group(ACCOUNT, "g", "b")  # twice is harmless
    assert [u.name for u in await identity.store.group_members(ACCOUNT, "g")] == ["B", "b"]
    with pytest.raises(DeleteConflict):
        await identity.delete_group(ACCOUNT, "g")
    assert await identity.default_account() == ACCOUNT
    assert await identity.default_account("999988887777") == "999988887777"


async def test_policies_versions_attachments_and_named_documents(plane: Plane) -> None:
    identity = plane.identity
    await identity.create_account(ACCOUNT)
    await identity.create_user(ACCOUNT, "bob")
    await identity.create_group(ACCOUNT, "devs")
    await identity.add_user_to_group(ACCOUNT, "devs", "bob")
    await identity.put_inline(ACCOUNT, "user", "bob", "mine", allow("iam:GetUser"))
    await identity.put_inline(ACCOUNT, "user", "bob", "mine", allow("iam:ListUsers"))  # replaced
    await identity.put_inline(ACCOUNT, "group", "devs", "theirs", allow("iam:ListGroups"))
    policy = await identity.create_policy(ACCOUNT, "managed", allow("iam:ListRoles"), "/team/")
    assert policy.arn == f"arn:aws:iam::{ACCOUNT}:policy/team/managed"
    with pytest.raises(MalformedPolicyDocument):  # managed policies must be version 2012-10-17
        await identity.create_policy(
            ACCOUNT, "old", '{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}'
        )
    await identity.attach(ACCOUNT, "group", "devs", policy.arn)
    await identity.attach(
        ACCOUNT, "user", "bob", "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly"
    )
    named = await plane.access.named_policies(ACCOUNT, "user", "bob")
    assert [(n.source, n.name) for n, _ in named] == [
        ("user", "mine"),
        ("aws-managed", "AmazonEC2ContainerRegistryReadOnly"),
        ("group", "theirs"),
        ("user-managed", "managed"),
    ]
    assert "iam:ListUsers" in named[0][0].document
    await identity.create_policy_version(ACCOUNT, policy.arn, allow("iam:ListPolicies"), True)
    plane.clock.current += timedelta(seconds=1)
    await identity.create_policy_version(ACCOUNT, policy.arn, allow("iam:GetPolicy"), False)
    versions = await identity.policies.list_versions(policy.arn)
    assert [(v.version_id, v.is_default) for v in versions] == [("v3", False), ("v2", True), ("v1", False)]
    named = await plane.access.named_policies(ACCOUNT, "group", "devs")
    assert "iam:ListPolicies" in named[-1][0].document
    assert await identity.entities_for_policy(ACCOUNT, policy.arn) == [("group", "devs")]
    with pytest.raises(DeleteConflict):
        await identity.delete_policy(ACCOUNT, policy.arn)
    with pytest.raises(NoSuchEntity):
        await identity.policy("999988887777", policy.arn)  # another account's policy is not visible


async def test_keys_are_sealed_and_sessions_expire(plane: Plane) -> None:
    identity = plane.identity
    root = await identity.create_account(ACCOUNT)
    await identity.create_user(ACCOUNT, "bob")
    key = await identity.create_access_key(ACCOUNT, "bob")
    found = await identity.store.access_key_secret(key.key.access_key_id)
    assert found is not None
    assert found[1] != key.secret.encode()
    assert identity.box.open(found[1]) == key.secret
    secret = await plane.access.signing_secret(key.key.access_key_id)
    assert secret is not None
    assert (secret.secret, secret.user_name, secret.active) == (
        key.secret,
        "bob",
        True,
    )
    caller = await plane.access.caller(secret)
    assert caller.principal.arn == f"arn:aws:iam::{ACCOUNT}:user/bob"

    trust = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                        "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/bob"}}]})  # fmt: skip
    role = await identity.create_role(ACCOUNT, "deploy", trust, max_session_duration=3600)
    issued = await plane.sts.assume_role(caller, role.arn, "s1", 900)
    session = await plane.access.signing_secret(issued.access_key_id)
    assert session is not None
    assert session.session is not None
    assert (session.secret, session.session_token) == (issued.secret_access_key, issued.session_token)
    assert session.session.expires_at == plane.clock.now() + timedelta(seconds=900)
    root_secret = await plane.access.signing_secret(root.key.access_key_id)
    assert root_secret is not None
    root_caller = await plane.access.caller(root_secret)
    with pytest.raises(AccessDenied):
        await plane.sts.assume_role(root_caller, role.arn, "s2")

    resealer = SecretBox([Fernet.generate_key().decode(), *identity.box.keys])
    assert await identity.store.reseal_all(resealer.reseal) == 3  # two keys, one session
    identity.box = resealer
    plane.signal.bump()
    again = await plane.access.signing_secret(issued.access_key_id)
    assert again is not None
    assert again.session_token == issued.session_token

    assert await identity.store.delete_expired_sessions(plane.clock.now() + timedelta(seconds=901)) == 1
    plane.signal.bump()
    assert await plane.access.signing_secret(issued.access_key_id) is None
