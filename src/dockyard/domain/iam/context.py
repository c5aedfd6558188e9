"""Who is asking, for what, on what: the principal and the request context that policies are tested against.

Condition key names are case-insensitive. The keys that describe the principal (``aws:PrincipalArn``,
``aws:PrincipalAccount``, ``aws:PrincipalType``, ``aws:userid``, ``aws:username``, ``aws:PrincipalTag/*``,
``aws:PrincipalIsAWSService``, ``aws:PrincipalServiceName``, ``aws:RoleSessionName``), the resource
(``aws:ResourceAccount``, ``aws:ResourceTag/*`` and ``<service>:ResourceTag/*``) and the clock
(``aws:CurrentTime``, ``aws:EpochTime``) are derived here and take precedence over keys the caller passes,
so a request cannot claim to be someone else through its context keys.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from functools import cached_property

_ACCOUNT_ID = re.compile(r"^\d{12}\Z")
_CALLER_ARN = re.compile(
    r"^arn:(?P<partition>[a-z-]+):(?P<service>iam|sts)::(?P<account>\d{12}):(?P<rest>[\x21-\x7e]+)\Z"
)


class PrincipalType(StrEnum):
    USER = "user"
    ROLE = "role"  # a role acting without a session (simulations); treated like a role session
    ASSUMED_ROLE = "assumed-role"
    ROOT = "root"
    FEDERATED = "federated"  # an AWS STS federated user session (GetFederationToken)
    ANONYMOUS = "anonymous"
    SERVICE = "service"


SESSION_TYPES = frozenset({PrincipalType.ASSUMED_ROLE, PrincipalType.FEDERATED})
# Principals that have identity-based policies, permissions boundaries and session policies at all.
IAM_TYPES = frozenset(
    {PrincipalType.USER, PrincipalType.ROLE, PrincipalType.ASSUMED_ROLE, PrincipalType.FEDERATED}
)
_TYPE_KEY = {
    PrincipalType.USER: "User",
    PrincipalType.ROLE: "AssumedRole",
    PrincipalType.ASSUMED_ROLE: "AssumedRole",
    PrincipalType.ROOT: "Account",
    PrincipalType.FEDERATED: "FederatedUser",
    PrincipalType.ANONYMOUS: "Anonymous",
}


def is_account_id(text: str) -> bool:
    return _ACCOUNT_ID.match(text) is not None


@dataclass(frozen=True)
class Principal:
    """An authenticated (or anonymous) caller.

    ``arn`` is the caller's ARN as AWS prints it in AccessDenied messages: the user ARN, the assumed-role
    session ARN, the federated-user ARN, the root ARN; ``"anonymous"``, or the service principal's name.
    ``entity_arn`` is the IAM entity behind a session: the role ARN (with its path) of an assumed-role
    session, the IAM user ARN that called GetFederationToken. ``identity_provider`` is the ``Federated``
    principal (OIDC or SAML provider) a caller came through, for trust policies.
    """

    type: PrincipalType
    arn: str
    account: str | None = None
    userid: str | None = None
    username: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    session_name: str | None = None
    entity_arn: str | None = None
    identity_provider: str | None = None

    @classmethod
    def root(cls, account: str, *, partition: str = "aws") -> Principal:
        return cls(PrincipalType.ROOT, f"arn:{partition}:iam::{account}:root", account, userid=account)

    @classmethod
    def user(
        cls,
        account: str,
        name: str,
        *,
        path: str = "/",
        userid: str | None = None,
        tags: Mapping[str, str] | None = None,
        partition: str = "aws",
    ) -> Principal:
        arn = f"arn:{partition}:iam::{account}:user{path}{name}"
        return cls(PrincipalType.USER, arn, account, userid=userid, username=name, tags=dict(tags or {}))

    @classmethod
    def role(
        cls,
        account: str,
        name: str,
        *,
        path: str = "/",
        role_id: str | None = None,
        tags: Mapping[str, str] | None = None,
        partition: str = "aws",
    ) -> Principal:
        arn = f"arn:{partition}:iam::{account}:role{path}{name}"
        return cls(PrincipalType.ROLE, arn, account, userid=role_id, tags=dict(tags or {}), entity_arn=arn)

    @classmethod
    def assumed_role(
        cls,
        account: str,
        role_name: str,
        session_name: str,
        *,
        role_path: str = "/",
        role_id: str | None = None,
        tags: Mapping[str, str] | None = None,
        identity_provider: str | None = None,
        partition: str = "aws",
    ) -> Principal:
        return cls(
            PrincipalType.ASSUMED_ROLE,
            f"arn:{partition}:sts::{account}:assumed-role/{role_name}/{session_name}",
            account,
            userid=f"{role_id}:{session_name}" if role_id else None,
            tags=dict(tags or {}),
            session_name=session_name,
            entity_arn=f"arn:{partition}:iam::{account}:role{role_path}{role_name}",
            identity_provider=identity_provider,
        )

    @classmethod
    def federated_user(
        cls,
        account: str,
        name: str,
        *,
        user_arn: str | None = None,
        tags: Mapping[str, str] | None = None,
        partition: str = "aws",
    ) -> Principal:
        arn = f"arn:{partition}:sts::{account}:federated-user/{name}"
        return cls(
            PrincipalType.FEDERATED,
            arn,
            account,
            userid=f"{account}:{name}",
            tags=dict(tags or {}),
            session_name=name,
            entity_arn=user_arn,
        )

    @classmethod
    def anonymous(cls) -> Principal:
        return cls(PrincipalType.ANONYMOUS, "anonymous", userid="anonymous")

    @classmethod
    def service(cls, name: str) -> Principal:
        return cls(PrincipalType.SERVICE, name)

    @classmethod
    def from_arn(
        cls, arn: str, *, userid: str | None = None, tags: Mapping[str, str] | None = None
    ) -> Principal:
        """The principal a caller ARN names (root, user, role, assumed-role or federated-user)."""
        match = _CALLER_ARN.match(arn)
        if match is None:
            raise ValueError(f"not a principal ARN: {arn!r}")
        partition, service, account, rest = match.group("partition", "service", "account", "rest")
        kind, _, name = rest.partition("/")
        if (service, rest) == ("iam", "root"):
            return cls.root(account, partition=partition)
        if service == "iam" and kind in ("user", "role") and name:
            path, _, leaf = f"/{name}".rpartition("/")
            if kind == "user":
                return cls.user(account, leaf, path=path + "/", userid=userid, tags=tags, partition=partition)
            return cls.role(account, leaf, path=path + "/", role_id=userid, tags=tags, partition=partition)
        if service == "sts" and kind == "assumed-role" and name.count("/") == 1:
            role, session = name.split("/")
            role_id = userid.partition(":")[0] if userid else None
            return cls.assumed_role(account, role, session, role_id=role_id, tags=tags, partition=partition)
        if service == "sts" and kind == "federated-user" and name:
            return cls.federated_user(account, name, tags=tags, partition=partition)
        raise ValueError(f"not a principal ARN: {arn!r}")

    @property
    def principal_arn(self) -> str | None:
        """``aws:PrincipalArn``: the role ARN for a role session, otherwise the caller's own ARN."""
        if self.type is PrincipalType.ASSUMED_ROLE:
            return self.entity_arn
        if self.type in (PrincipalType.ANONYMOUS, PrincipalType.SERVICE):
            return None
        return self.arn

    def context_keys(self) -> dict[str, str]:
        """The global condition keys that describe this principal (absent keys are left out)."""
        keys: dict[str, str | None] = {
            "aws:PrincipalArn": self.principal_arn,
            "aws:PrincipalAccount": self.account,
            "aws:PrincipalType": _TYPE_KEY.get(self.type),
            "aws:userid": self.userid,
            "aws:username": self.username if self.type is PrincipalType.USER else None,
            "aws:PrincipalIsAWSService": "true" if self.type is PrincipalType.SERVICE else "false",
            "aws:PrincipalServiceName": self.arn if self.type is PrincipalType.SERVICE else None,
            "aws:RoleSessionName": self.session_name if self.type is PrincipalType.ASSUMED_ROLE else None,
        }
        keys.update({f"aws:PrincipalTag/{key}": value for key, value in self.tags.items()})
        return {key: value for key, value in keys.items() if value is not None}


ContextValue = str | Sequence[str]


@dataclass(frozen=True)
class RequestContext:
    """One authorization question: may ``principal`` perform ``action`` on ``resource``?

    ``resource`` is an ARN, or ``"*"`` for actions that take none. ``resource_account`` defaults to the
    account field of the resource ARN, and failing that to the principal's account (same-account).
    ``keys`` maps condition key names (any case) to one string or a list of strings.
    """

    principal: Principal
    action: str
    resource: str = "*"
    resource_account: str | None = None
    keys: Mapping[str, ContextValue] = field(default_factory=dict)
    resource_tags: Mapping[str, str] = field(default_factory=dict)
    now: datetime | None = None

    @property
    def service(self) -> str:
        return self.action.partition(":")[0].lower()

    @cached_property
    def target_account(self) -> str | None:
        if self.resource_account:
            return self.resource_account
        parts = self.resource.split(":", 5)
        if len(parts) == 6 and parts[0] == "arn" and is_account_id(parts[4]):
            return parts[4]
        return self.principal.account

    @property
    def is_cross_account(self) -> bool:
        return self.principal.account is not None and self.principal.account != self.target_account

    @cached_property
    def _values(self) -> dict[str, tuple[str, ...]]:
        values = {name.lower(): _as_tuple(value) for name, value in self.keys.items()}
        for name, text in self._derived().items():
            values[name.lower()] = (text,)
        return values

    def _derived(self) -> dict[str, str]:
        derived = self.principal.context_keys()
        if self.target_account:
            derived["aws:ResourceAccount"] = self.target_account
        for tag, value in self.resource_tags.items():
            derived[f"aws:ResourceTag/{tag}"] = value
            derived[f"{self.service}:ResourceTag/{tag}"] = value
        if self.now is not None:
            now = self.now if self.now.tzinfo else self.now.replace(tzinfo=UTC)
            derived["aws:CurrentTime"] = now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            derived["aws:EpochTime"] = str(int(now.timestamp()))
        return derived

    def get(self, key: str) -> tuple[str, ...] | None:
        """The values of a condition key, or ``None`` when the request does not carry it."""
        values = self._values.get(key.lower())
        return values if values else None

    def resolve(self, key: str) -> str | None:
        """The value a policy variable takes: only single-valued keys can be substituted."""
        values = self.get(key)
        return values[0] if values is not None and len(values) == 1 else None


def _as_tuple(value: ContextValue) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    return tuple(value)
