"""Who may do what on ECR Public, and the tokens of the public host.

- **Login passwords** (``ecr-public get-login-password``): the registry passwords of
  :mod:`dockyard.services.ecr_tokens` (same key ring, same claims) under their own purpose label, so a
  public login is never accepted by a private registry host, nor a private one here.
- **Bearer tokens** (the public host's ``GET /token``, the Docker token flow): who asked (nobody, or the
  principal and access key behind a login password), which repositories and actions (``pull``, ``push``,
  ``delete``) were granted, and an expiry five minutes out; HMAC-signed, verified without the database.
  Anyone gets ``pull``; ``push`` and ``delete`` only a caller who logged in.
- **Decisions**: ``ecr-public:<Action>`` on ``arn:aws:ecr-public::<account>:repository/<name>`` with the
  caller's identity-based policies and the repository's policy (AWS's evaluation, cross-account included);
  cached like :class:`~dockyard.services.registry_access.RegistryAccess`'s, dropped on the change signal.
  The credential behind a token is checked on every use (deleted or inactive key, expired session).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from dockyard.caching import SignalCache
from dockyard.domain.iam.context import RequestContext
from dockyard.domain.iam.errors import MalformedPolicyDocument
from dockyard.domain.iam.evaluation import evaluate
from dockyard.domain.iam.policy import Policy, PolicyKind, parse_policy
from dockyard.domain.identity import AccessDenied
from dockyard.metadata.ecr_public_store import EcrPublicStore
from dockyard.ports import ChangeSignal, Clock
from dockyard.services.access import Access, Caller
from dockyard.services.ecr_tokens import HmacTokenIssuer, SigningKey
from dockyard.services.registry_access import EXPIRED, INVALID, NO_LONGER_VALID, Unauthenticated, Verdict

log = logging.getLogger("dockyard.access")
BEARER_LIFETIME = timedelta(minutes=5)
SCOPE_ACTIONS = ("pull", "push", "delete")
# The ECR Public actions behind a Docker scope action: a token carries ``push`` when any of them is allowed
# (each request is then checked for its own), ``delete`` when BatchDeleteImage is.
SCOPE_GRANTS = {
    "push": (
        "ecr-public:InitiateLayerUpload",
        "ecr-public:UploadLayerPart",
        "ecr-public:CompleteLayerUpload",
        "ecr-public:PutImage",
    ),
    "delete": ("ecr-public:BatchDeleteImage",),
}
_REPOSITORY_ARN = re.compile(r"^arn:aws:ecr-public::(?P<account>\d{12}):repository/(?P<name>.+)\Z")
_EPOCH = datetime.fromtimestamp(0, UTC)


class PublicPasswordIssuer(HmacTokenIssuer):
    """``ecr-public get-login-password``'s passwords: the private format under another purpose label."""

    PURPOSE = "ecr-public-password"


@dataclass(frozen=True, slots=True)
class BearerClaims:
    principal: str | None  # None: anonymous
    access_key_id: str | None
    expires_at: datetime
    access: Mapping[str, frozenset[str]]  # repository path (<alias>/<repo>) -> granted actions

    def allows(self, name: str, action: str) -> bool:
        return action in self.access.get(name, frozenset())


class BearerTokens:
    """The public host's Docker bearer tokens (see the module docstring)."""

    PURPOSE = "ecr-public-bearer"

    def __init__(self, key: SigningKey, service: str, lifetime: timedelta = BEARER_LIFETIME) -> None:
        self._key = key
        self.service = service
        self.lifetime = lifetime

    def issue(
        self,
        principal: str | None,
        access_key_id: str | None,
        access: Mapping[str, Collection[str]],
        now: datetime,
    ) -> tuple[str, datetime]:
        expires = now + self.lifetime
        claims = {
            "s": self.service,
            "p": principal,
            "k": access_key_id,
            "e": int(expires.timestamp()),
            "r": {name: sorted(actions) for name, actions in access.items()},
        }
        return self._key.seal(self.PURPOSE, claims), expires

    def verify(self, token: str, now: datetime) -> BearerClaims | None:
        """The claims of a genuine, unexpired token for this service; ``None`` otherwise."""
        claims = self._key.open(self.PURPOSE, token)
        if claims is None or claims.get("s") != self.service:
            return None
        try:
            expires = datetime.fromtimestamp(int(claims["e"]), UTC)
            access = {str(n): frozenset(str(a) for a in acts) for n, acts in dict(claims["r"]).items()}
            principal, key = claims.get("p"), claims.get("k")
        except (KeyError, TypeError, ValueError, OverflowError):
            return None
        if expires <= now:
            return None
        return BearerClaims(
            None if principal is None else str(principal), None if key is None else str(key), expires, access
        )


class PublicAccess:
    def __init__(
        self,
        access: Access,
        passwords: PublicPasswordIssuer,
        store: EcrPublicStore,
        signal: ChangeSignal,
        clock: Clock,
    ) -> None:
        self.access = access
        self.passwords = passwords
        self.store = store
        self.signal = signal
        self.clock = clock
        self._policies = SignalCache(signal, 8192)
        self._decisions = SignalCache(signal, 65536)
        self._owners = SignalCache(signal, 4096)

    # -- who is calling -------------------------------------------------------------------------------

    async def authenticate(self, password: str) -> Caller:
        """The caller behind a public login password, or :class:`Unauthenticated`."""
        claims = self.passwords.verify(password, _EPOCH)
        if claims is None or claims.access_key_id is None:
            raise Unauthenticated(INVALID)
        return await self.live_caller(claims.access_key_id, claims.principal, claims.expires_at)

    async def live_caller(self, access_key_id: str, principal: str, expires_at: datetime) -> Caller:
        """The caller a token was issued to, if its credential still stands (key active, session not
        expired, same principal); :class:`Unauthenticated` otherwise."""
        now = self.clock.now()
        if expires_at <= now:
            raise Unauthenticated(EXPIRED)
        secret = await self.access.signing_secret(access_key_id)
        if secret is None or not secret.active:
            raise Unauthenticated(NO_LONGER_VALID)
        if secret.session is not None and secret.session.expires_at <= now:
            raise Unauthenticated(EXPIRED)
        caller = await self.access.caller(secret)
        if caller.principal.arn != principal:
            raise Unauthenticated(NO_LONGER_VALID)
        return caller

    async def owner(self, alias: str) -> str | None:
        """The account whose public registry has ``alias`` (aliases are public: the host shows them)."""

        async def load() -> str | None:
            found = await self.store.registry_by_alias(alias)
            return None if found is None else found.account_id

        return await self._owners.get(alias, load)

    async def grants(self, caller: Caller, path: str, wanted: Collection[str]) -> set[str]:
        """Which of the scope actions ``wanted`` on ``<alias>/<repo>`` the caller's policies allow now
        (``pull`` always)."""
        granted = {"pull"} & set(wanted)
        alias, _, name = path.partition("/")
        owner = await self.owner(alias) if name else None
        if owner is None:
            return granted
        for action in set(wanted) & set(SCOPE_GRANTS):
            for iam_action in SCOPE_GRANTS[action]:
                if (await self.verdict(caller, iam_action, owner, name)).allowed:
                    granted.add(action)
                    break
        return granted

    # -- decisions ------------------------------------------------------------------------------------

    @staticmethod
    def arn(account: str, name: str) -> str:
        return f"arn:aws:ecr-public::{account}:repository/{name}"

    async def repository_policies(self, account: str, name: str) -> list[Policy]:
        async def load() -> list[Policy]:
            found = await self.store.repository(account, name)
            if found is None or not found.policy_text:
                return []
            try:
                return [parse_policy(found.policy_text, PolicyKind.RESOURCE)]
            except (MalformedPolicyDocument, ValueError, TypeError):
                log.warning("a stored public repository policy does not parse", extra={"account": account})
                return []

        return await self._policies.get((account, name), load)

    async def verdict(self, caller: Caller, action: str, account: str, name: str) -> Verdict:
        """AWS's answer for ``action`` on the public repository ``name`` of ``account``."""
        resource = self.arn(account, name)
        key = (caller.access_key_id, caller.principal.arn, action, resource)
        cached: Verdict | None = self._decisions.peek(key)
        if cached is not None:
            return cached
        seen = self._decisions.generation()
        resources = await self.repository_policies(account, name)
        identity = await self.access.identity_policies(caller)
        sessions = [] if caller.session_policy is None else [caller.session_policy]
        context = RequestContext(
            caller.principal, action, resource, resource_account=account, now=self.clock.now()
        )
        decision = evaluate(context, identity, resources, sessions or None)
        cacheable = not any(
            s.conditions for group in (identity, resources, sessions) for p in group for s in p.statements
        )
        found = Verdict(
            decision.allowed, "" if decision.allowed else decision.message_for(context), cacheable
        )
        if cacheable:
            self._decisions.put(key, found, seen)
        return found

    async def authorize(self, caller: Caller, action: str, resource: str) -> None:
        """The ECR Public API's ``Authorizer``: a repository ARN (its policy applies) or any other
        resource (identity-based policies only)."""
        match = _REPOSITORY_ARN.match(resource)
        if match is None or match["name"] == "*":
            await self.access.require(caller, action, resource)
            return
        found = await self.verdict(caller, action, match["account"], match["name"])
        if not found.allowed:
            raise AccessDenied(found.message)

    async def keeps_control(self, caller: object, account: str, name: str, text: str) -> bool:
        """Whether ``caller`` could still set the policy of ``name`` were its policy ``text``."""
        if not isinstance(caller, Caller):
            return True
        resource = self.arn(account, name)
        context = RequestContext(
            caller.principal,
            "ecr-public:SetRepositoryPolicy",
            resource,
            resource_account=account,
            now=self.clock.now(),
        )
        identity = await self.access.identity_policies(caller)
        sessions = None if caller.session_policy is None else [caller.session_policy]
        return evaluate(context, identity, [parse_policy(text, PolicyKind.RESOURCE)], sessions).allowed
