"""IAM use cases: accounts, users, groups, roles, access keys, policies and their attachments.

Every policy document is validated by the domain parser before it is stored, so the evaluator only ever
sees documents it can read. AWS managed policies are seeded on start (``seed``).
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from typing import Any

from dockyard.crypto import SecretBox
from dockyard.domain.iam.policy import PolicyKind, parse_policy
from dockyard.domain.identity import (
    ACCOUNT_ID,
    AccessKey,
    Account,
    EntityAlreadyExists,
    Group,
    InvalidInput,
    LimitExceeded,
    ManagedPolicy,
    NoSuchEntity,
    PolicyVersion,
    Role,
    User,
    new_access_key_id,
    new_account_id,
    new_secret_access_key,
    new_unique_id,
)
from dockyard.metadata.iam_policy_store import SqlPolicyStore
from dockyard.metadata.iam_store import SqlIdentityStore
from dockyard.ports import ChangeSignal, Clock
from dockyard.services.managed_policies import BUILTIN_POLICIES

MAX_KEYS_PER_USER = 2
OWNER_KINDS = ("user", "group", "role")


@dataclass(frozen=True, slots=True)
class NewAccessKey:
    key: AccessKey
    secret: str


class IdentityService:
    def __init__(
        self,
        store: SqlIdentityStore,
        policies: SqlPolicyStore,
        box: SecretBox,
        clock: Clock,
        signal: ChangeSignal,
    ) -> None:
        self.store = store
        self.policies = policies
        self.box = box
        self.clock = clock
        self.signal = signal

    def changed(self) -> None:
        """Tell every process that identity data moved (keys, policies, roles): caches drop at once."""
        self.signal.bump()

    async def seed(self) -> None:
        for builtin in BUILTIN_POLICIES:
            if await self.policies.get_policy(builtin.arn) is None:
                now = self.clock.now()
                policy = ManagedPolicy(
                    builtin.arn,
                    None,
                    builtin.name,
                    builtin.path,
                    new_unique_id("ANPA"),
                    "v1",
                    now,
                    now,
                    builtin.description,
                )
                with contextlib.suppress(EntityAlreadyExists):  # another process seeded it first
                    await self.policies.create_policy(policy, builtin.document)

    # -- accounts -------------------------------------------------------------------------------------

    async def create_account(self, account_id: str | None = None, alias: str | None = None) -> NewAccessKey:
        """A new account and its root access key (the secret is returned once and stored sealed)."""
        account_id = account_id or new_account_id()
        if not ACCOUNT_ID.match(account_id):
            raise InvalidInput("An account id is 12 digits.")
        await self.store.create_account(Account(account_id, alias, self.clock.now()))
        return await self._issue_key(account_id, None)

    async def account(self, account_id: str) -> Account:
        account = await self.store.get_account(account_id)
        if account is None:
            raise NoSuchEntity(f"The account {account_id} cannot be found.")
        return account

    # -- users and access keys ------------------------------------------------------------------------

    async def create_user(
        self, account: str, name: str, path: str = "/", tags: dict[str, str] | None = None
    ) -> User:
        user = User(account, name, path or "/", new_unique_id("AIDA"), self.clock.now(), tags or {})
        await self.store.create_user(user)
        return user

    async def user(self, account: str, name: str) -> User:
        user = await self.store.get_user(account, name)
        if user is None:
            raise NoSuchEntity(f"The user with name {name} cannot be found.")
        return user

    async def delete_user(self, account: str, name: str) -> None:
        await self.store.delete_user(account, name)
        self.changed()

    async def create_access_key(self, account: str, user_name: str | None) -> NewAccessKey:
        if user_name is not None:
            await self.user(account, user_name)
        if len(await self.store.list_access_keys(account, user_name)) >= MAX_KEYS_PER_USER:
            raise LimitExceeded(f"Cannot exceed quota for AccessKeysPerUser: {MAX_KEYS_PER_USER}")
        return await self._issue_key(account, user_name)

    async def _issue_key(self, account: str, user_name: str | None) -> NewAccessKey:
        key = AccessKey(new_access_key_id(), account, user_name, "Active", self.clock.now())
        secret = new_secret_access_key()
        await self.store.create_access_key(key, self.box.seal(secret))
        return NewAccessKey(key, secret)

    async def list_access_keys(self, account: str, user_name: str | None) -> list[AccessKey]:
        if user_name is not None:
            await self.user(account, user_name)
        return await self.store.list_access_keys(account, user_name)

    async def update_access_key(self, account: str, key_id: str, status: str) -> None:
        if status not in ("Active", "Inactive"):
            raise InvalidInput("Status must be Active or Inactive.")
        if not await self.store.set_access_key_status(account, key_id, status):
            raise NoSuchEntity(f"The Access Key with id {key_id} cannot be found.")
        self.changed()

    async def delete_access_key(self, account: str, key_id: str) -> None:
        if not await self.store.delete_access_key(account, key_id):
            raise NoSuchEntity(f"The Access Key with id {key_id} cannot be found.")
        self.changed()

    # -- groups ---------------------------------------------------------------------------------------

    async def create_group(self, account: str, name: str, path: str = "/") -> Group:
        group = Group(account, name, path or "/", new_unique_id("AGPA"), self.clock.now())
        await self.store.create_group(group)
        return group

    async def group(self, account: str, name: str) -> Group:
        group = await self.store.get_group(account, name)
        if group is None:
            raise NoSuchEntity(f"The group with name {name} cannot be found.")
        return group

    async def add_user_to_group(self, account: str, group: str, user: str) -> None:
        await self.group(account, group)
        await self.user(account, user)
        await self.store.add_member(account, group, user)
        self.changed()

    async def remove_user_from_group(self, account: str, group: str, user: str) -> None:
        await self.group(account, group)
        if not await self.store.remove_member(account, group, user):
            raise NoSuchEntity(f"The user with name {user} cannot be found.")
        self.changed()

    async def delete_group(self, account: str, name: str) -> None:
        await self.store.delete_group(account, name)
        self.changed()

    # -- roles ----------------------------------------------------------------------------------------

    async def create_role(
        self,
        account: str,
        name: str,
        trust_policy: str,
        path: str = "/",
        description: str | None = None,
        max_session_duration: int = 3600,
        tags: dict[str, str] | None = None,
    ) -> Role:
        parse_policy(trust_policy, PolicyKind.TRUST)
        if not 3600 <= max_session_duration <= 43200:
            raise InvalidInput("MaxSessionDuration must be between 3600 and 43200 seconds.")
        role = Role(
            account,
            name,
            path or "/",
            new_unique_id("AROA"),
            trust_policy,
            self.clock.now(),
            description,
            max_session_duration,
            tags or {},
        )
        await self.store.create_role(role)
        return role

    async def role(self, account: str, name: str) -> Role:
        role = await self.store.get_role(account, name)
        if role is None:
            raise NoSuchEntity(f"The role with name {name} cannot be found.")
        return role

    async def update_trust_policy(self, account: str, name: str, document: str) -> None:
        parse_policy(document, PolicyKind.TRUST)
        await self.store.update_trust_policy(account, name, document)
        self.changed()

    async def delete_role(self, account: str, name: str) -> None:
        await self.store.delete_role(account, name)
        self.changed()

    # -- inline policies ------------------------------------------------------------------------------

    async def _owner_exists(self, account: str, kind: str, name: str) -> None:
        lookups = {"user": self.user, "group": self.group, "role": self.role}
        await lookups[kind](account, name)

    async def put_inline(self, account: str, kind: str, owner: str, name: str, document: str) -> None:
        parse_policy(document, PolicyKind.IDENTITY)
        await self._owner_exists(account, kind, owner)
        await self.policies.put_inline(account, kind, owner, name, document)
        self.changed()

    async def get_inline(self, account: str, kind: str, owner: str, name: str) -> str:
        await self._owner_exists(account, kind, owner)
        document = await self.policies.get_inline(account, kind, owner, name)
        if document is None:
            raise NoSuchEntity(f"The {kind} policy with name {name} cannot be found.")
        return document

    async def delete_inline(self, account: str, kind: str, owner: str, name: str) -> None:
        await self._owner_exists(account, kind, owner)
        if not await self.policies.delete_inline(account, kind, owner, name):
            raise NoSuchEntity(f"The {kind} policy with name {name} cannot be found.")
        self.changed()

    async def list_inline(self, account: str, kind: str, owner: str) -> list[str]:
        await self._owner_exists(account, kind, owner)
        return [name for name, _ in await self.policies.inline_policies(account, kind, owner)]

    # -- managed policies -----------------------------------------------------------------------------

    async def create_policy(
        self, account: str, name: str, document: str, path: str = "/", description: str | None = None
    ) -> ManagedPolicy:
        parse_policy(document, PolicyKind.IDENTITY)
        now = self.clock.now()
        path = path or "/"
        arn = f"arn:aws:iam::{account}:policy{path}{name}"
        policy = ManagedPolicy(arn, account, name, path, new_unique_id("ANPA"), "v1", now, now, description)
        await self.policies.create_policy(policy, document)
        return policy

    async def policy(self, account: str, arn: str) -> ManagedPolicy:
        policy = await self.policies.get_policy(arn)
        if policy is None or policy.account_id not in (None, account):
            raise NoSuchEntity(f"Policy {arn} does not exist or is not attachable.")
        return policy

    async def delete_policy(self, account: str, arn: str) -> None:
        policy = await self.policy(account, arn)
        if policy.account_id is None:
            raise InvalidInput("AWS managed policies cannot be deleted.")
        await self.policies.delete_policy(arn)
        self.changed()

    async def create_policy_version(
        self, account: str, arn: str, document: str, set_default: bool
    ) -> PolicyVersion:
        parse_policy(document, PolicyKind.IDENTITY)
        policy = await self.policy(account, arn)
        if policy.account_id is None:
            raise InvalidInput("AWS managed policies cannot be changed.")
        version = await self.policies.create_version(arn, document, set_default, self.clock.now())
        self.changed()
        return version

    async def policy_version(self, account: str, arn: str, version_id: str) -> PolicyVersion:
        await self.policy(account, arn)
        version = await self.policies.get_version(arn, version_id)
        if version is None:
            raise NoSuchEntity(f"Policy {arn} version {version_id} does not exist or is not attachable.")
        return version

    async def delete_policy_version(self, account: str, arn: str, version_id: str) -> None:
        await self.policy(account, arn)
        await self.policies.delete_version(arn, version_id)

    async def set_default_version(self, account: str, arn: str, version_id: str) -> None:
        await self.policy(account, arn)
        await self.policies.set_default_version(arn, version_id, self.clock.now())
        self.changed()

    async def attach(self, account: str, kind: str, owner: str, arn: str) -> None:
        await self.policy(account, arn)
        await self._owner_exists(account, kind, owner)
        await self.policies.attach(arn, account, kind, owner)
        self.changed()

    async def detach(self, account: str, kind: str, owner: str, arn: str) -> None:
        await self._owner_exists(account, kind, owner)
        if not await self.policies.detach(arn, account, kind, owner):
            raise NoSuchEntity(f"Policy {arn} was not found.")
        self.changed()

    async def attached(self, account: str, kind: str, owner: str) -> list[tuple[str, str]]:
        await self._owner_exists(account, kind, owner)
        return await self.policies.attached(account, kind, owner)


def document_json(document: str) -> Any:
    """A stored document as JSON (for APIs that return it decoded)."""
    return json.loads(document)
