"""AWS's policy evaluation logic, as documented in the IAM User Guide ("Policy evaluation logic",
"Determining whether a request is allowed or denied within an account", "Cross-account policy evaluation
logic").

1. An explicit ``Deny`` in any applicable policy (identity-based, resource-based, permissions boundary,
   session policy) denies. When several types deny, the reason names the first of: identity, resource,
   boundary, session.
2. Anonymous callers and AWS service principals have no identity-based policies: a resource-based policy
   must allow them.
3. Same account (the principal's account owns the resource): a resource-based policy that names the exact
   caller (the IAM user ARN, the role-session ARN, the federated-user ARN), ``"*"``, or a service allows on
   its own, whatever identity-based policies, boundaries and session policies say. A resource-based policy
   that names the role behind a session (or the IAM user behind a federated-user session) replaces the
   identity-based allow but is still limited by the permissions boundary and the session policy. Naming the
   account delegates to the account's identity-based policies and grants nothing by itself. Otherwise an
   identity-based policy must allow, then the permissions boundary (if any) and the session policy (if any)
   must allow too. A federated-user session without a session policy has no identity-based permissions.
4. Cross-account: the principal's account must allow (identity-based policy, then boundary, then session
   policy) and a resource-based policy must allow the principal (by any form of name, the account included).
5. The account root user needs no identity-based policy: in its own account it is denied only explicitly.
6. ``require_resource_allow`` (role trust policies, KMS key policies) makes a resource-based allow
   necessary even within one account.
7. A ``NotPrincipal`` with ``Deny`` applies to every principal that has a permissions boundary, whatever it
   names (documented in "Permissions boundaries for IAM entities").
8. A policy variable that cannot be resolved (no value in the request, no default) makes its statement
   inapplicable ("causes the statement to be invalid").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from dockyard.domain.iam.conditions import condition_holds
from dockyard.domain.iam.context import (
    IAM_TYPES,
    Principal,
    PrincipalType,
    RequestContext,
)
from dockyard.domain.iam.patterns import (
    Chunk,
    Resolver,
    Unresolvable,
    chunks_match,
    render,
    wildcard_match,
)
from dockyard.domain.iam.policy import Effect, Policy, Statement, ValueSet
from dockyard.domain.iam.principals import Match

__all__ = [
    "Decision",
    "MatchedStatement",
    "PolicyType",
    "Principal",
    "PrincipalType",
    "Reason",
    "RequestContext",
    "evaluate",
]


class PolicyType(StrEnum):
    IDENTITY = "identity"
    RESOURCE = "resource"
    BOUNDARY = "boundary"
    SESSION = "session"


_TYPE_ORDER = (PolicyType.IDENTITY, PolicyType.RESOURCE, PolicyType.BOUNDARY, PolicyType.SESSION)
_EXPLICIT_PHRASE = {
    PolicyType.IDENTITY: "an identity-based policy",
    PolicyType.RESOURCE: "a resource-based policy",
    PolicyType.BOUNDARY: "a permissions boundary",
    PolicyType.SESSION: "a session policy",
}
_IMPLICIT_PHRASE = {
    PolicyType.IDENTITY: "identity-based policy",
    PolicyType.RESOURCE: "resource-based policy",
    PolicyType.BOUNDARY: "permissions boundary",
    PolicyType.SESSION: "session policy",
}


class Reason(StrEnum):
    ALLOWED = "ALLOWED"
    EXPLICIT_DENY_IDENTITY = "EXPLICIT_DENY_IDENTITY"
    EXPLICIT_DENY_RESOURCE = "EXPLICIT_DENY_RESOURCE"
    EXPLICIT_DENY_BOUNDARY = "EXPLICIT_DENY_BOUNDARY"
    EXPLICIT_DENY_SESSION = "EXPLICIT_DENY_SESSION"
    NO_IDENTITY_ALLOW = "NO_IDENTITY_ALLOW"
    NO_RESOURCE_ALLOW = "NO_RESOURCE_ALLOW"
    NO_BOUNDARY_ALLOW = "NO_BOUNDARY_ALLOW"
    NO_SESSION_ALLOW = "NO_SESSION_ALLOW"

    @property
    def explicit(self) -> bool:
        return self.name.startswith("EXPLICIT_DENY")

    @property
    def policy_type(self) -> PolicyType | None:
        """The type of policy the AccessDenied message names (None when allowed)."""
        if self is Reason.ALLOWED:
            return None
        word = self.name.removeprefix("EXPLICIT_DENY_").removeprefix("NO_").removesuffix("_ALLOW")
        return PolicyType(word.lower())


_EXPLICIT = {
    PolicyType.IDENTITY: Reason.EXPLICIT_DENY_IDENTITY,
    PolicyType.RESOURCE: Reason.EXPLICIT_DENY_RESOURCE,
    PolicyType.BOUNDARY: Reason.EXPLICIT_DENY_BOUNDARY,
    PolicyType.SESSION: Reason.EXPLICIT_DENY_SESSION,
}


@dataclass(frozen=True, slots=True)
class MatchedStatement:
    """A statement that applied to the request, and where it came from."""

    policy_type: PolicyType
    policy_index: int
    statement_index: int
    statement: Statement
    policy_id: str | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer. ``statements``: the denying statements of an explicit deny, the granting statements of an
    allow (empty for the root user's implicit full access), nothing for an implicit deny."""

    allowed: bool
    reason: Reason
    statements: tuple[MatchedStatement, ...] = ()

    def message(self, principal_arn: str, action: str, resource: str | None) -> str:
        """AWS's AccessDenied text, e.g. ``User: arn:aws:iam::123456789012:user/bob is not authorized to
        perform: ecr:BatchGetImage on resource: arn:... because no identity-based policy allows the
        ecr:BatchGetImage action``. An empty ``resource`` drops the ``on resource:`` part."""
        policy_type = self.reason.policy_type
        if policy_type is None:
            raise ValueError("an allowed request has no AccessDenied message")
        head = f"User: {principal_arn} is not authorized to perform: {action}"
        if resource:
            head += f" on resource: {resource}"
        if self.reason.explicit:
            return f"{head} with an explicit deny in {_EXPLICIT_PHRASE[policy_type]}"
        return f"{head} because no {_IMPLICIT_PHRASE[policy_type]} allows the {action} action"

    def message_for(self, context: RequestContext) -> str:
        return self.message(context.principal.arn, context.action, context.resource)


@dataclass
class _Scan:
    """Every statement that applies to the request: the denies, and the allows with how they named us."""

    denies: list[MatchedStatement] = field(default_factory=list)
    allows: dict[PolicyType, list[tuple[Match, MatchedStatement]]] = field(default_factory=dict)

    def allowed(self, policy_type: PolicyType) -> list[MatchedStatement]:
        return [matched for _, matched in self.allows.get(policy_type, [])]

    def resource_allows(self, minimum: Match = Match.ACCOUNT) -> list[MatchedStatement]:
        return [m for level, m in self.allows.get(PolicyType.RESOURCE, []) if level >= minimum]


def evaluate(
    context: RequestContext,
    identity_policies: Sequence[Policy],
    resource_policies: Sequence[Policy] = (),
    session_policies: Sequence[Policy] | None = None,
    permissions_boundary: Policy | None = None,
    *,
    require_resource_allow: bool = False,
) -> Decision:
    """Decide whether ``context`` is allowed. ``session_policies=None`` means no session policy was passed
    (an empty sequence means one was, and it allows nothing); ``permissions_boundary=None`` means none.
    Boundaries and session policies belong to IAM users, roles and their sessions: for the root user,
    anonymous callers and services they are ignored."""
    iam = context.principal.type in IAM_TYPES
    has_boundary = permissions_boundary is not None and iam
    has_session = session_policies is not None and iam
    policies = {
        PolicyType.IDENTITY: tuple(identity_policies),
        PolicyType.RESOURCE: tuple(resource_policies),
        PolicyType.BOUNDARY: (permissions_boundary,) if has_boundary and permissions_boundary else (),
        PolicyType.SESSION: tuple(session_policies or ()) if has_session else (),
    }
    scan = _scan(context, policies, has_boundary)
    if scan.denies:
        first = min(_TYPE_ORDER.index(m.policy_type) for m in scan.denies)
        return Decision(False, _EXPLICIT[_TYPE_ORDER[first]], tuple(scan.denies))
    principal = context.principal
    if principal.type in (PrincipalType.ANONYMOUS, PrincipalType.SERVICE):
        return _verdict(scan.resource_allows(), Reason.NO_RESOURCE_ALLOW)
    limits = _Limits(has_boundary, has_session)
    if context.is_cross_account:
        return _cross_account(principal, scan, limits)
    return _same_account(principal, scan, limits, require_resource_allow)


@dataclass(frozen=True, slots=True)
class _Limits:
    boundary: bool
    session: bool

    def reason(self, principal: Principal, scan: _Scan) -> Reason | None:
        """The implicit deny of a boundary or session policy that does not allow, if any."""
        if self.boundary and not scan.allowed(PolicyType.BOUNDARY):
            return Reason.NO_BOUNDARY_ALLOW
        if self.session and not scan.allowed(PolicyType.SESSION):
            return Reason.NO_SESSION_ALLOW
        if not self.session and principal.type is PrincipalType.FEDERATED:
            return Reason.NO_SESSION_ALLOW
        return None


def _verdict(granting: list[MatchedStatement], otherwise: Reason) -> Decision:
    if granting:
        return Decision(True, Reason.ALLOWED, tuple(granting))
    return Decision(False, otherwise)


def _same_account(principal: Principal, scan: _Scan, limits: _Limits, require_resource: bool) -> Decision:
    direct = scan.resource_allows(Match.DIRECT)
    if direct:
        return Decision(True, Reason.ALLOWED, tuple(direct))
    if require_resource and not scan.resource_allows():
        return Decision(False, Reason.NO_RESOURCE_ALLOW)
    identity = scan.allowed(PolicyType.IDENTITY)
    if principal.type is PrincipalType.ROOT:
        return Decision(True, Reason.ALLOWED, tuple(identity + scan.resource_allows()))
    granting = identity + scan.resource_allows(Match.ENTITY)
    if not granting:
        return Decision(False, Reason.NO_IDENTITY_ALLOW)
    limit = limits.reason(principal, scan)
    return Decision(False, limit) if limit else Decision(True, Reason.ALLOWED, tuple(granting))


def _cross_account(principal: Principal, scan: _Scan, limits: _Limits) -> Decision:
    identity = scan.allowed(PolicyType.IDENTITY)
    if principal.type is not PrincipalType.ROOT:
        if not identity:
            return Decision(False, Reason.NO_IDENTITY_ALLOW)
        limit = limits.reason(principal, scan)
        if limit:
            return Decision(False, limit)
    resource = scan.resource_allows()
    if not resource:
        return Decision(False, Reason.NO_RESOURCE_ALLOW)
    return Decision(True, Reason.ALLOWED, tuple(identity + resource))


def _scan(
    context: RequestContext, policies: dict[PolicyType, tuple[Policy, ...]], has_boundary: bool
) -> _Scan:
    scan = _Scan()
    for policy_type in _TYPE_ORDER:
        for policy_index, policy in enumerate(policies[policy_type]):
            for statement_index, statement in enumerate(policy.statements):
                level = _applies(statement, policy, policy_type, context, has_boundary)
                if level is Match.NONE:
                    continue
                matched = MatchedStatement(policy_type, policy_index, statement_index, statement, policy.id)
                if statement.effect is Effect.DENY:
                    scan.denies.append(matched)
                    continue
                scan.allows.setdefault(policy_type, []).append((level, matched))
    return scan


def _applies(
    statement: Statement, policy: Policy, policy_type: PolicyType, context: RequestContext, has_boundary: bool
) -> Match:
    """How the statement applies to the request: NONE, or how its Principal names the caller."""
    resolve = context.resolve if policy.variables_enabled else None
    try:
        if not _action_matches(statement.action, context.action):
            return Match.NONE
        if statement.resource is not None and not _resource_matches(
            statement.resource, context.resource, resolve
        ):
            return Match.NONE
        level = _principal_level(statement, policy_type, context.principal, has_boundary)
        if level is Match.NONE:
            return Match.NONE
        if not all(condition_holds(condition, context, resolve) for condition in statement.conditions):
            return Match.NONE
    except Unresolvable:
        return Match.NONE
    return level


def _action_matches(actions: ValueSet, action: str) -> bool:
    hit = any(wildcard_match(pattern, action, ignore_case=True) for pattern in actions.values)
    return hit != actions.negated


def _resource_chunks(pattern: str, resolve: Resolver | None) -> tuple[Chunk, ...]:
    """Variables are substituted only in the resource part of an ARN, after the fifth colon."""
    parts = pattern.split(":", 5)
    if resolve is None or len(parts) < 6:
        return (Chunk(pattern),)
    return (Chunk(":".join(parts[:5]) + ":"), *render(parts[5], resolve))


def _resource_matches(resources: ValueSet, resource: str, resolve: Resolver | None) -> bool:
    hit = any(chunks_match(_resource_chunks(pattern, resolve), resource) for pattern in resources.values)
    return hit != resources.negated


def _principal_level(
    statement: Statement, policy_type: PolicyType, principal: Principal, has_boundary: bool
) -> Match:
    if policy_type is not PolicyType.RESOURCE:
        return Match.DIRECT  # identity-based policies apply to the identity they are attached to
    spec = statement.principal
    if spec is None:
        return Match.NONE
    if not spec.negated:
        return spec.match(principal)
    if statement.effect is Effect.DENY and has_boundary:
        return Match.DIRECT
    return Match.NONE if spec.excludes(principal) else Match.DIRECT
