"""IAM use cases: accounts, users, groups, roles, access keys, policies and their attachments.

Every policy document is validated by the domain parser before it is stored, so the evaluator only ever
sees documents it can read. AWS managed policies are seeded on start (``seed``).
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

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
    OidcProvider,
    PolicyVersion,
    Role,
    User,
    new_access_key_id,
    new_account_id,
    new_secret_access_key,
    new_unique_id,
    oidc_provider_arn,
    policy_arn,
    provider_url,
)
from dockyard.metadata.iam_policy_store import SqlPolicyStore
from dockyard.metadata.iam_store import SqlIdentityStore
from dockyard.ports import ChangeSignal, Clock
from dockyard.services.managed_policies import BUILTIN_POLICIES

MAX_KEYS_PER_USER = 2
MAX_ATTACHED_POLICIES = 10
MAX_CLIENT_IDS = 100
OWNER_KINDS = ("user", "group", "role")
# IAM's quotas on the total size of an entity's inline policies (whitespace not counted).
INLINE_QUOTA = {"user": 2048, "group": 5120, "role": 10240}
MANAGED_QUOTA = 6144


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
        issued = await self._issue_key(account_id, None)
        self.changed()  # the default account may have changed (the first account)
        return issued

    async def default_account(self, configured: str | None = None) -> str | None:
        """The account for host names that name none: ``configured``, else the first account created."""
        if configured:
            return configured
        accounts = await self.store.list_accounts()
        return accounts[0].id if accounts else None

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

    async def update_access_key(self, account: str, user_name: str | None, key_id: str, status: str) -> None:
        """Activate or deactivate a key of ``user_name`` (None: the account's root user)."""
        if status not in ("Active", "Inactive"):
            raise InvalidInput("Status must be Active or Inactive.")
        if user_name is not None:
            await self.user(account, user_name)
        if not await self.store.set_access_key_status(account, user_name, key_id, status):
            raise NoSuchEntity(f"The Access Key with id {key_id} cannot be found.")
        self.changed()

    async def delete_access_key(self, account: str, user_name: str | None, key_id: str) -> None:
        if user_name is not None:
            await self.user(account, user_name)
        if not await self.store.delete_access_key(account, user_name, key_id):
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
        others = await self.policies.inline_policies(account, kind, owner)
        total = _policy_size(document) + sum(_policy_size(text) for other, text in others if other != name)
        if total > INLINE_QUOTA[kind]:
            raise LimitExceeded(
                f"Maximum policy size of {INLINE_QUOTA[kind]} bytes exceeded for {kind} {owner}"
            )
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
        _check_managed(document)
        now = self.clock.now()
        path = path or "/"
        arn = policy_arn(account, path, name)
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
        _check_managed(document)
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
        if (await self.policy(account, arn)).account_id is None:
            raise InvalidInput("AWS managed policies cannot be changed.")
        await self.policies.delete_version(arn, version_id)

    async def set_default_version(self, account: str, arn: str, version_id: str) -> None:
        if (await self.policy(account, arn)).account_id is None:
            raise InvalidInput("AWS managed policies cannot be changed.")
        await self.policies.set_default_version(arn, version_id, self.clock.now())
        self.changed()

    async def attach(self, account: str, kind: str, owner: str, arn: str) -> None:
        await self.policy(account, arn)
        await self._owner_exists(account, kind, owner)
        attached = [policy for policy, _ in await self.policies.attached(account, kind, owner)]
        if arn not in attached and len(attached) >= MAX_ATTACHED_POLICIES:
            quota = f"PoliciesPer{kind.capitalize()}"
            raise LimitExceeded(f"Cannot exceed quota for {quota}: {MAX_ATTACHED_POLICIES}")
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

    async def entities_for_policy(self, account: str, arn: str) -> list[tuple[str, str]]:
        await self.policy(account, arn)
        return [(kind, name) for kind, name in await self.policies.entities_for_policy(arn)]

    # -- OIDC providers -------------------------------------------------------------------------------

    async def create_oidc_provider(
        self, account: str, url: str, client_ids: list[str], thumbprints: list[str]
    ) -> OidcProvider:
        _check_provider_url(url)
        if len(client_ids) > MAX_CLIENT_IDS:
            raise LimitExceeded(
                f"Cannot exceed quota for ClientIdsPerOpenIdConnectProvider: {MAX_CLIENT_IDS}"
            )
        provider = OidcProvider(
            oidc_provider_arn(account, url),
            account,
            provider_url(url),
            tuple(dict.fromkeys(client_ids)),
            tuple(dict.fromkeys(t.lower() for t in thumbprints)),
            self.clock.now(),
        )
        await self.store.create_oidc_provider(provider)
        return provider

    async def oidc_provider(self, account: str, arn: str) -> OidcProvider:
        provider = await self.store.get_oidc_provider(arn)
        if provider is None or provider.account_id != account:
            raise NoSuchEntity(f"OpenIDConnect Provider not found for arn {arn}")
        return provider

    async def list_oidc_providers(self, account: str) -> list[OidcProvider]:
        return await self.store.list_oidc_providers(account)

    async def delete_oidc_provider(self, account: str, arn: str) -> None:
        await self.oidc_provider(account, arn)
        await self.store.delete_oidc_provider(arn)
        self.changed()

    async def set_oidc_client_ids(self, account: str, arn: str, add: str | None, remove: str | None) -> None:
        provider = await self.oidc_provider(account, arn)
        ids = [client for client in provider.client_ids if client != remove]
        if add is not None and add not in ids:
            if len(ids) >= MAX_CLIENT_IDS:
                quota = "ClientIdsPerOpenIdConnectProvider"
                raise LimitExceeded(f"Cannot exceed quota for {quota}: {MAX_CLIENT_IDS}")
            ids.append(add)
        await self.store.update_oidc_provider(arn, client_ids=tuple(ids))
        self.changed()

    async def set_oidc_thumbprints(self, account: str, arn: str, thumbprints: list[str]) -> None:
        await self.oidc_provider(account, arn)
        await self.store.update_oidc_provider(arn, thumbprints=tuple(t.lower() for t in thumbprints))
        self.changed()


def document_json(document: str) -> Any:
    """A stored document as JSON (for APIs that return it decoded)."""
    return json.loads(document)


def _policy_size(document: str) -> int:
    """A policy's size as IAM counts it against its quotas: without whitespace."""
    return len("".join(document.split()).encode())


def _check_managed(document: str) -> None:
    parse_policy(document, PolicyKind.IDENTITY, require_current_version=True)
    if _policy_size(document) > MANAGED_QUOTA:
        raise LimitExceeded(f"Cannot exceed quota for PolicySize: {MANAGED_QUOTA}")


def _check_provider_url(url: str) -> None:
    """``https://host[/path]``; ``http://`` only for a loopback issuer (tests, local identity providers)."""
    parsed = urlparse(url.strip())
    loopback = is_loopback(parsed.hostname or "")
    if parsed.scheme not in ("https", "http") or (parsed.scheme == "http" and not loopback):
        raise InvalidInput("Invalid OpenID Connect provider URL: it must begin with https://")
    if not parsed.hostname or parsed.query or parsed.fragment or parsed.username:
        raise InvalidInput("Invalid OpenID Connect provider URL.")


def is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
