"""Identity value objects and naming rules: accounts, IAM users, roles, groups, policies, keys, sessions.

Pure: id and ARN formats as AWS uses them. Unique ids carry AWS's prefixes (AIDA user, AROA role,
AGPA group, ANPA policy, AKIA long-term key, ASIA temporary key) and 16 characters of the base-32 alphabet.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime

ACCOUNT_ID = re.compile(r"^\d{12}$")
_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_SECRET_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"  # noqa: S105  (an alphabet, not a secret)


def new_unique_id(prefix: str) -> str:
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(16))


def new_access_key_id(*, temporary: bool = False) -> str:
    return new_unique_id("ASIA" if temporary else "AKIA")


def new_secret_access_key() -> str:
    return "".join(secrets.choice(_SECRET_ALPHABET) for _ in range(40))


def new_account_id() -> str:
    return str(secrets.randbelow(9 * 10**11) + 10**11)


def iam_arn(account: str, kind: str, path: str, name: str) -> str:
    return f"arn:aws:iam::{account}:{kind}{path}{name}"


def root_arn(account: str) -> str:
    return f"arn:aws:iam::{account}:root"


def assumed_role_arn(account: str, role_name: str, session_name: str) -> str:
    return f"arn:aws:sts::{account}:assumed-role/{role_name}/{session_name}"


def policy_arn(account: str, path: str, name: str) -> str:
    return f"arn:aws:iam::{account}:policy{path}{name}"


def provider_url(url: str) -> str:
    """An OIDC provider URL as IAM keeps it: no scheme, no trailing slash (``token.example.com/path``)."""
    return url.strip().removeprefix("https://").removeprefix("http://").rstrip("/")


def oidc_provider_arn(account: str, url: str) -> str:
    return f"arn:aws:iam::{account}:oidc-provider/{provider_url(url)}"


# -- addressing: every account has its own registry host name, as on ECR ---------------------------------


def registry_host(account_id: str, domain: str) -> str:
    """``<account id>.dkr.<domain>``: the host name of an account's registry (ECR's ``proxyEndpoint``)."""
    return f"{account_id}.dkr.{domain.lower()}"


def account_for_host(host: str, *, domain: str, default: str | None) -> str | None:
    """The account a request's ``Host`` header addresses: ``<12 digits>.dkr.<domain>[:port]`` names it;
    any other host name (an IP address, ``localhost``, a load balancer's name) means ``default``."""
    name = _host_name(host)
    suffix = f".dkr.{domain.lower().rstrip('.')}"
    if name.endswith(suffix):
        label = name[: -len(suffix)]
        if ACCOUNT_ID.match(label):
            return label
    return default


def _host_name(host: str) -> str:
    text = host.strip().lower()
    if text.startswith("["):  # [::1]:5000
        return text.partition("]")[0] + "]"
    name, _, port = text.rpartition(":")
    if name and port.isdigit():
        text = name
    return text.rstrip(".")


@dataclass(frozen=True, slots=True)
class RegistryHosts:
    """The configured domain and default account, for the registry side's host routing."""

    domain: str
    default_account: str | None = None

    def account_for_host(self, host: str) -> str | None:
        return account_for_host(host, domain=self.domain, default=self.default_account)

    def host_for(self, account_id: str) -> str:
        return registry_host(account_id, self.domain)


@dataclass(frozen=True, slots=True)
class Account:
    id: str
    alias: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class User:
    account_id: str
    name: str
    path: str
    user_id: str
    created_at: datetime
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def arn(self) -> str:
        return iam_arn(self.account_id, "user", self.path, self.name)


@dataclass(frozen=True, slots=True)
class Role:
    account_id: str
    name: str
    path: str
    role_id: str
    trust_policy: str
    created_at: datetime
    description: str | None = None
    max_session_duration: int = 3600
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def arn(self) -> str:
        return iam_arn(self.account_id, "role", self.path, self.name)


@dataclass(frozen=True, slots=True)
class Group:
    account_id: str
    name: str
    path: str
    group_id: str
    created_at: datetime

    @property
    def arn(self) -> str:
        return iam_arn(self.account_id, "group", self.path, self.name)


@dataclass(frozen=True, slots=True)
class ManagedPolicy:
    arn: str
    account_id: str | None  # None: an AWS managed policy, visible to every account
    name: str
    path: str
    policy_id: str
    default_version: str
    created_at: datetime
    updated_at: datetime
    description: str | None = None
    attachment_count: int = 0


@dataclass(frozen=True, slots=True)
class PolicyVersion:
    policy_arn: str
    version_id: str
    document: str
    is_default: bool
    created_at: datetime


@dataclass(frozen=True, slots=True)
class AccessKey:
    access_key_id: str
    account_id: str
    user_name: str | None  # None: the account's root credentials
    status: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Session:
    """Temporary credentials issued by STS for a role; ``identity_provider`` and ``subject`` are set when
    they came from AssumeRoleWithWebIdentity."""

    access_key_id: str
    account_id: str
    role_name: str
    role_path: str
    role_id: str
    session_name: str
    expires_at: datetime
    session_policy: str | None
    identity_provider: str | None
    subject: str | None


@dataclass(frozen=True, slots=True)
class OidcProvider:
    arn: str
    account_id: str
    url: str
    client_ids: tuple[str, ...]
    thumbprints: tuple[str, ...]
    created_at: datetime


@dataclass(frozen=True, slots=True)
class SigningSecret:
    """What SigV4 verification needs for one access key id (the secret is decrypted, kept in memory only)."""

    access_key_id: str
    secret: str = field(repr=False)
    account_id: str
    user_name: str | None
    active: bool
    session: Session | None = None
    session_token: str | None = field(default=None, repr=False)


class IdentityError(Exception):
    """Base of the identity plane's domain errors; each wire format maps them to its own codes."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NoSuchEntity(IdentityError):
    pass


class EntityAlreadyExists(IdentityError):
    pass


class DeleteConflict(IdentityError):
    pass


class LimitExceeded(IdentityError):
    pass


class InvalidInput(IdentityError):
    pass


class AccessDenied(IdentityError):
    pass


class InvalidIdentityToken(IdentityError):
    pass


class ExpiredToken(IdentityError):
    pass
