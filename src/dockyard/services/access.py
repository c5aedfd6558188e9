"""Who is calling, and may they? Credentials to principals, principals to policies, policies to decisions.

Lookups are cached per process and dropped whenever the shared change signal moves, so a deleted key, a
detached policy or an edited trust policy takes effect on every process at once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from dockyard.caching import SignalCache
from dockyard.domain.iam.context import ContextValue, Principal, PrincipalType, RequestContext
from dockyard.domain.iam.evaluation import Decision, evaluate
from dockyard.domain.iam.policy import Policy, PolicyKind, parse_policy
from dockyard.domain.identity import AccessDenied, SigningSecret, root_arn
from dockyard.metadata.iam_policy_store import NamedDocument
from dockyard.ports import ChangeSignal
from dockyard.services.identity import IdentityService

T = TypeVar("T")
_ROOT_POLICY = parse_policy(
    '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}'
)


@dataclass(frozen=True, slots=True)
class Caller:
    """An authenticated caller: the principal policies are evaluated for, and how it signed in."""

    principal: Principal
    account: str
    access_key_id: str | None
    session_policy: Policy | None = None
    role_name: str | None = None

    @property
    def is_root(self) -> bool:
        return self.principal.type is PrincipalType.ROOT


class Access:
    def __init__(self, identity: IdentityService, signal: ChangeSignal) -> None:
        self.identity = identity
        self._secrets = SignalCache(signal)
        self._policies = SignalCache(signal)

    # -- credentials ----------------------------------------------------------------------------------

    async def signing_secret(self, access_key_id: str) -> SigningSecret | None:
        return await self._secrets.get(access_key_id, lambda: self._load_secret(access_key_id))

    async def _load_secret(self, access_key_id: str) -> SigningSecret | None:
        store, box = self.identity.store, self.identity.box
        if access_key_id.startswith("ASIA"):
            found = await store.session_secret(access_key_id)
            if found is None:
                return None
            session, sealed, token = found
            return SigningSecret(
                access_key_id, box.open(sealed), session.account_id, None, True, session, box.open(token)
            )
        key = await store.access_key_secret(access_key_id)
        if key is None:
            return None
        record, sealed = key
        return SigningSecret(
            access_key_id, box.open(sealed), record.account_id, record.user_name, record.status == "Active"
        )

    async def caller(self, secret: SigningSecret) -> Caller:
        """The principal behind verified credentials (signature and token already checked).

        Cached like the secrets: a user's path and tags are read once per change of identity data."""
        key = ("caller", secret.access_key_id)
        return await self._secrets.get(key, lambda: self._load_caller(secret))

    async def _load_caller(self, secret: SigningSecret) -> Caller:
        account = secret.account_id
        if secret.session is not None:
            s = secret.session
            principal = Principal.assumed_role(
                account,
                s.role_name,
                s.session_name,
                role_path=s.role_path,
                role_id=s.role_id,
                identity_provider=s.identity_provider,
            )
            session_policy = parse_policy(s.session_policy) if s.session_policy else None
            return Caller(principal, account, secret.access_key_id, session_policy, s.role_name)
        if secret.user_name is None:
            return Caller(Principal.root(account), account, secret.access_key_id)
        user = await self.identity.user(account, secret.user_name)
        principal = Principal.user(account, user.name, path=user.path, userid=user.user_id, tags=user.tags)
        return Caller(principal, account, secret.access_key_id)

    # -- policies and decisions -----------------------------------------------------------------------

    async def identity_policies(self, caller: Caller) -> list[Policy]:
        if caller.is_root:
            return [_ROOT_POLICY]
        if caller.role_name is None and caller.principal.username is None:
            return []  # anonymous callers and services have no identity-based policies
        key = (caller.account, caller.principal.type, caller.role_name or caller.principal.username)
        return await self._policies.get(key, lambda: self._load_policies(caller))

    async def _load_policies(self, caller: Caller) -> list[Policy]:
        if caller.role_name is not None:
            named = await self.named_policies(caller.account, "role", caller.role_name)
        else:
            named = await self.named_policies(caller.account, "user", caller.principal.username or "")
        return [policy for _, policy in named]

    async def named_policies(self, account: str, kind: str, name: str) -> list[tuple[NamedDocument, Policy]]:
        """The identity-based policies of a user (with its groups'), group or role, with their sources."""
        owners = [(kind, name)]
        if kind == "user":
            groups = await self.identity.store.groups_for_user(account, name)
            owners += [("group", group.name) for group in groups]
        documents = await self.identity.policies.named_documents(account, owners)
        return [(named, parse_policy(named.document, PolicyKind.IDENTITY)) for named in documents]

    async def decide(
        self,
        caller: Caller,
        action: str,
        resource: str = "*",
        resource_policies: Sequence[Policy] = (),
        keys: Mapping[str, ContextValue] | None = None,
        now: datetime | None = None,
        *,
        require_resource_allow: bool = False,
    ) -> tuple[Decision, RequestContext]:
        """AWS's decision for ``caller``; ``require_resource_allow`` for trust policies, which must allow
        even within one account."""
        context = RequestContext(caller.principal, action, resource, keys=keys or {}, now=now)
        sessions = None if caller.session_policy is None else [caller.session_policy]
        identity = await self.identity_policies(caller)
        decision = evaluate(
            context, identity, resource_policies, sessions, require_resource_allow=require_resource_allow
        )
        return decision, context

    async def require(
        self,
        caller: Caller,
        action: str,
        resource: str = "*",
        resource_policies: Sequence[Policy] = (),
        keys: Mapping[str, ContextValue] | None = None,
        now: datetime | None = None,
    ) -> None:
        """Raise :class:`AccessDenied` with AWS's message unless ``caller`` may do ``action``."""
        decision, context = await self.decide(
            caller, action, resource, resource_policies, keys, now or self.identity.clock.now()
        )
        if not decision.allowed:
            raise AccessDenied(decision.message_for(context))


def account_root(account: str) -> str:
    return root_arn(account)
