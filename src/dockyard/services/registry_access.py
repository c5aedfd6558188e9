"""May this caller do this ``ecr:`` action on this repository? Identity-based policies (through
:class:`~dockyard.services.access.Access`), the repository's policy and the registry policy of the
repository's account, evaluated with AWS's logic (cross-account included), and the registry password that
``/v2/`` callers present.

Both wire formats use it: the ECR API (its ``Authorizer``) and ``/v2/`` (every request, see
``http/oci/auth.py``).

What is cached, per process, and how it is invalidated: the parsed resource policies of a repository and of
a registry, the default account, and each *decision* keyed by (access key id, principal ARN, action,
resource ARN). Every write that can change an answer (an IAM or STS change, a repository or registry
policy, a repository created or deleted, an account created) bumps the shared change signal after its
transaction commits, and every cache here is dropped as soon as a reader sees the signal move; so a revoked
policy takes effect on every process at once. A decision is cached only when no policy that took part in
it has a ``Condition``: conditions may read the time or the request, which a cache key does not hold.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from dockyard.caching import SignalCache
from dockyard.domain.iam.context import RequestContext
from dockyard.domain.iam.errors import MalformedPolicyDocument
from dockyard.domain.iam.evaluation import Decision, evaluate
from dockyard.domain.iam.policy import Policy, PolicyKind, parse_policy
from dockyard.domain.identity import AccessDenied
from dockyard.metadata.ecr_store import EcrStore
from dockyard.ports import ChangeSignal, Clock
from dockyard.services.access import Access, Caller
from dockyard.services.ecr_tokens import TokenClaims, TokenIssuer

log = logging.getLogger("dockyard.access")
UNASSIGNED_ACCOUNT = "000000000000"  # owns repositories pushed while no account exists (auth off)
INVALID = "Your authorization token is invalid."
EXPIRED = "Your authorization token has expired. Reauthenticate and try again."
NO_LONGER_VALID = "Your authorization token is no longer valid. Reauthenticate and try again."
_EPOCH = datetime.fromtimestamp(0, UTC)
_REPOSITORY_ARN = re.compile(r"^arn:aws:ecr:[a-z0-9-]+:(?P<account>\d{12}):repository/(?P<name>.+)\Z")


class Unauthenticated(Exception):
    """No usable registry credentials: answered with 401 and the Basic challenge."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    message: str  # AWS's AccessDenied text when not allowed
    cacheable: bool = True  # no Condition took part: the same question has the same answer until a write


class RegistryAccess:
    def __init__(
        self,
        access: Access,
        store: EcrStore,
        issuer: TokenIssuer,
        signal: ChangeSignal,
        clock: Clock,
        *,
        region: str,
        configured_default: str | None = None,
    ) -> None:
        self.access = access
        self.store = store
        self.issuer = issuer
        self.clock = clock
        self.region = region
        self.configured_default = configured_default
        self.signal = signal
        self._policies = SignalCache(signal, 8192)
        self._decisions = SignalCache(signal, 65536)
        self._accounts = SignalCache(signal, 4)
        self._passwords = SignalCache(signal, 4096)

    def arn(self, account: str, name: str) -> str:
        return f"arn:aws:ecr:{self.region}:{account}:repository/{name}"

    async def default_account(self) -> str:
        """The account of host names that name none: configured, else the first account, else
        ``000000000000`` (no account exists yet)."""

        async def load() -> str:
            found = await self.access.identity.default_account(self.configured_default)
            return found or UNASSIGNED_ACCOUNT

        return await self._accounts.get("default", load)

    # -- registry passwords ---------------------------------------------------------------------------

    async def authenticate(self, password: str) -> Caller:
        return (await self.authenticate_until(password))[0]

    async def authenticate_until(self, password: str) -> tuple[Caller, datetime]:
        """The caller behind a registry password (GetAuthorizationToken's) and until when the answer holds
        (token or session expiry), or :class:`Unauthenticated`.

        The signature and expiry are checked without the database; the credential the token was issued
        for is looked up (cached, dropped on the change signal) on every request, so the token of a
        deleted user or key, a deactivated key or an expired role session stops working at once."""
        now = self.clock.now()
        claims = await self._passwords.get(("password", password), lambda: _verified(self.issuer, password))
        if claims is None or claims.access_key_id is None:
            raise Unauthenticated(INVALID)
        if claims.expires_at <= now:
            raise Unauthenticated(EXPIRED)
        secret = await self.access.signing_secret(claims.access_key_id)
        if secret is None or not secret.active:
            raise Unauthenticated(NO_LONGER_VALID)
        until = claims.expires_at
        if secret.session is not None:
            if secret.session.expires_at <= now:
                raise Unauthenticated(EXPIRED)
            until = min(until, secret.session.expires_at)
        caller = await self.access.caller(secret)
        if caller.principal.arn != claims.principal:
            raise Unauthenticated(NO_LONGER_VALID)
        return caller, until

    # -- decisions ------------------------------------------------------------------------------------

    async def resource_policies(self, account: str, name: str | None) -> list[Policy]:
        """The repository's policy (when ``name`` names one) and the registry policy of ``account``."""

        async def load() -> list[Policy]:
            texts: list[str] = []
            if name is not None:
                found = await self.store.repository(account, name)
                if found is not None and found.policy_text:
                    texts.append(found.policy_text)
            registry = await self.store.registry_policy(account)
            if registry:
                texts.append(registry)
            policies = []
            for text in texts:
                try:
                    policies.append(parse_policy(text, PolicyKind.RESOURCE))
                except (MalformedPolicyDocument, ValueError, TypeError):
                    log.warning("a stored resource policy does not parse", extra={"account": account})
            return policies

        return await self._policies.get(("policies", account, name), load)

    async def verdict(self, caller: Caller, action: str, account: str, name: str | None) -> Verdict:
        """AWS's answer for ``action`` on repository ``name`` of ``account`` (``None``: on the registry)."""
        resource = self.arn(account, name) if name is not None else "*"
        key = (caller.access_key_id, caller.principal.arn, action, resource)
        cached: Verdict | None = self._decisions.peek(key)
        if cached is not None:
            return cached
        seen = self._decisions.generation()
        resources = await self.resource_policies(account, name)
        identity = await self.access.identity_policies(caller)
        sessions = [] if caller.session_policy is None else [caller.session_policy]
        now = self.clock.now()
        context = RequestContext(caller.principal, action, resource, resource_account=account, now=now)
        decision: Decision = evaluate(context, identity, resources, sessions or None)
        cacheable = not _conditional(identity, resources, sessions)
        message = "" if decision.allowed else decision.message_for(context)
        found = Verdict(decision.allowed, message, cacheable)
        if cacheable:
            self._decisions.put(key, found, seen)
        return found

    async def require(self, caller: Caller, action: str, account: str, name: str | None) -> None:
        found = await self.verdict(caller, action, account, name)
        if not found.allowed:
            raise AccessDenied(found.message)

    async def allowed(self, caller: Caller, action: str, account: str, name: str | None) -> bool:
        return (await self.verdict(caller, action, account, name)).allowed

    async def keeps_control(self, caller: object, account: str, name: str, text: str) -> bool:
        """Whether ``caller`` could still set the policy of ``name`` were its policy ``text`` (ECR refuses,
        without ``force``, a policy that locks its author out)."""
        if not isinstance(caller, Caller):
            return True
        policies = [parse_policy(text, PolicyKind.RESOURCE)]
        policies += await self.resource_policies(account, None)  # the registry policy
        resource = self.arn(account, name)
        context = RequestContext(
            caller.principal,
            "ecr:SetRepositoryPolicy",
            resource,
            resource_account=account,
            now=self.clock.now(),
        )
        identity = await self.access.identity_policies(caller)
        sessions = None if caller.session_policy is None else [caller.session_policy]
        return evaluate(context, identity, policies, sessions).allowed

    async def authorize(self, caller: Caller, action: str, resource: str) -> None:
        """The ECR API's ``Authorizer``: ``resource`` is a repository ARN (its policy and its account's
        registry policy apply) or ``*`` (identity-based policies only, e.g. GetAuthorizationToken)."""
        match = _REPOSITORY_ARN.match(resource)
        if match is None:
            await self.access.require(caller, action, resource)
            return
        account, name = match["account"], match["name"]
        if name == "*":
            registry = await self.resource_policies(account, None)
            await self.access.require(caller, action, resource, registry)
            return
        await self.require(caller, action, account, name)


async def _verified(issuer: TokenIssuer, password: str) -> TokenClaims | None:
    """The claims of a genuine password, expired or not (expiry is checked on each use)."""
    return issuer.verify(password, _EPOCH)


def _conditional(*groups: Sequence[Policy]) -> bool:
    return any(
        statement.conditions for group in groups for policy in group for statement in policy.statements
    )
