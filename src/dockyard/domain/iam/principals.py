"""The ``Principal`` and ``NotPrincipal`` elements of resource-based and trust policies.

Matching returns how the request's principal was named, because AWS treats the cases differently within
one account (see ``evaluation``): the exact caller (an IAM user ARN, a role-session ARN, a federated-user
ARN), ``"*"`` or a service is a DIRECT grant; the role behind a session (or the IAM user behind a federated
user session) is an ENTITY grant, still limited by permissions boundaries and session policies; the account
(``"123456789012"`` or ``arn:aws:iam::123456789012:root``, which mean any principal of the account) is an
ACCOUNT grant, which delegates to the account's identity-based policies.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from dockyard.domain.iam.context import Principal, PrincipalType, is_account_id
from dockyard.domain.iam.errors import SYNTAX_ERRORS, MalformedPolicyDocument

_AWS_ARN = re.compile(
    r"^arn:[a-z-]+:(?:iam::\d{12}:(?:root|user/[^\s*?]+|role/[^\s*?]+)"
    r"|sts::\d{12}:(?:assumed-role/[^/\s*?]+/[^/\s*?]+|federated-user/[^/\s*?]+))\Z"
)
_ROOT_ARN = re.compile(r"^arn:[a-z-]+:iam::(?P<account>\d{12}):root\Z")
_UNIQUE_ID = re.compile(r"^A[A-Z0-9]{15,127}\Z")  # AIDA… (user), AROA… (role): a deleted entity's trace
_TYPES = ("AWS", "Service", "Federated", "CanonicalUser")


class Match(IntEnum):
    NONE = 0
    ACCOUNT = 1
    ENTITY = 2
    DIRECT = 3


@dataclass(frozen=True, slots=True)
class PrincipalSpec:
    """The value of a ``Principal`` (or, with ``negated``, ``NotPrincipal``) element."""

    everyone: bool = False
    aws: tuple[str, ...] = ()
    service: tuple[str, ...] = ()
    federated: tuple[str, ...] = ()
    canonical_user: tuple[str, ...] = ()
    negated: bool = False

    def match(self, principal: Principal) -> Match:
        """How this element (read as ``Principal``) names ``principal``."""
        if self.everyone:
            return Match.DIRECT
        if principal.type is PrincipalType.SERVICE:
            return Match.DIRECT if principal.arn in self.service else Match.NONE
        if principal.identity_provider is not None and principal.identity_provider in self.federated:
            return Match.DIRECT
        return max((_match_aws(value, principal) for value in self.aws), default=Match.NONE)

    def excludes(self, principal: Principal) -> bool:
        """Read as ``NotPrincipal``: whether every identity of the caller is named, so the statement skips it.

        AWS checks the account, then the role or user behind a session, then the session itself; naming
        only the session leaves the account and the role to which the statement still applies.
        """
        return all(self._names(identity, principal) for identity in _identities(principal))

    def _names(self, identity: str, principal: Principal) -> bool:
        if self.everyone:
            return True
        if principal.type is PrincipalType.SERVICE:
            return identity in self.service
        account = _account_of(identity)
        if account is not None:
            return any(_account_of(value) == account for value in self.aws)
        return identity in self.aws or (identity == principal.arn and principal.userid in self.aws)


def _identities(principal: Principal) -> tuple[str, ...]:
    if principal.type is PrincipalType.ANONYMOUS:
        return ("anonymous",)
    if principal.type is PrincipalType.SERVICE:
        return (principal.arn,)
    chain = [principal.account or "", principal.entity_arn, principal.arn]
    return tuple(dict.fromkeys(identity for identity in chain if identity))


def _account_of(value: str) -> str | None:
    if is_account_id(value):
        return value
    root = _ROOT_ARN.match(value)
    return root.group("account") if root else None


def _match_aws(value: str, principal: Principal) -> Match:
    if principal.type in (PrincipalType.ANONYMOUS, PrincipalType.SERVICE):
        return Match.NONE
    account = _account_of(value)
    if account is not None:
        return Match.ACCOUNT if account == principal.account else Match.NONE
    if value == principal.arn:
        return Match.ENTITY if principal.type is PrincipalType.ROLE else Match.DIRECT
    if value == principal.entity_arn:
        return Match.ENTITY
    userid = principal.userid or ""
    if _UNIQUE_ID.match(value) and userid == value:
        return Match.ENTITY if principal.type is PrincipalType.ROLE else Match.DIRECT
    if _UNIQUE_ID.match(value) and userid.startswith(value + ":"):
        return Match.ENTITY
    return Match.NONE


def parse_principal(raw: Any, *, negated: bool = False) -> PrincipalSpec:
    """Validate and parse a ``Principal`` / ``NotPrincipal`` value (``"*"`` or a map of principal types)."""
    if raw == "*":
        return PrincipalSpec(everyone=True, negated=negated)
    if isinstance(raw, str):
        raise _invalid("AWS", raw)
    if not isinstance(raw, dict) or not raw:
        raise MalformedPolicyDocument(SYNTAX_ERRORS, reason='Principal must be "*" or a non-empty map')
    values: dict[str, tuple[str, ...]] = {}
    for kind, value in raw.items():
        if kind not in _TYPES:
            raise _invalid(kind, value)
        values[kind] = _strings(kind, value)
    aws = values.get("AWS", ())
    for value in aws:
        if value != "*" and not (is_account_id(value) or _AWS_ARN.match(value) or _UNIQUE_ID.match(value)):
            raise _invalid("AWS", value)
    for kind in ("Service", "Federated", "CanonicalUser"):
        for value in values.get(kind, ()):
            if not value or any(char.isspace() or char in "*?" for char in value):
                raise _invalid(kind, value)
    return PrincipalSpec(
        everyone="*" in aws,
        aws=tuple(value for value in aws if value != "*"),
        service=values.get("Service", ()),
        federated=values.get("Federated", ()),
        canonical_user=values.get("CanonicalUser", ()),
        negated=negated,
    )


def _strings(kind: str, value: Any) -> tuple[str, ...]:
    items: Iterable[Any] = value if isinstance(value, list) else [value]
    result = tuple(items)
    if not result or not all(isinstance(item, str) for item in result):
        raise _invalid(kind, value)
    return result


def _invalid(kind: str, value: Any) -> MalformedPolicyDocument:
    text = value if isinstance(value, str) else json.dumps(value)
    return MalformedPolicyDocument(f'Invalid principal in policy: "{kind}":"{text}"')
