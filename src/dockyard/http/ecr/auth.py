"""Who calls the ECR API and may they: the pluggable authenticator, account resolver and authorizer.

Until the identity services are wired in, ``build_ecr_endpoint`` takes these as functions: an
``Authenticator`` (request, body → identity, e.g. a SigV4 verifier), an ``AccountResolver`` (identity →
account id) and an ``Authorizer`` called as ``authorize(identity, action="ecr:<Op>", resource=<arn>)``,
which raises (e.g. ``AccessDenied``) to refuse.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from starlette.requests import Request


class Authorizer(Protocol):
    async def __call__(self, caller: Any, action: str, resource: str) -> None: ...


Authenticator = Callable[[Request, bytes], Awaitable[Any]]
AccountResolver = Callable[[Any], Awaitable[str]]


@dataclass(frozen=True, slots=True)
class EcrCaller:
    """An authenticated caller of the ECR API."""

    identity: Any  # what the authenticator returned; handed to the authorizer as it is
    account: str
    principal: str  # for the registry password's claims
    base_url: str  # where this request arrived, for download URLs
    access_key_id: str | None = None  # the credential the request was signed with


def principal_of(identity: Any) -> str:
    """A printable name of ``identity``: its principal's ARN, else its access key id, else its text."""
    principal = getattr(identity, "principal", None)
    arn = getattr(principal, "arn", None)
    if isinstance(arn, str):
        return arn
    key = getattr(identity, "access_key_id", None)
    return key if isinstance(key, str) else str(identity)


def caller_authenticator(authenticate: Authenticator, account_of: AccountResolver) -> Authenticator:
    async def wrapped(request: Request, body: bytes) -> EcrCaller:
        identity = await authenticate(request, body)
        account = await account_of(identity)
        key = getattr(identity, "access_key_id", None)
        return EcrCaller(
            identity,
            account,
            principal_of(identity),
            str(request.base_url).rstrip("/"),
            key if isinstance(key, str) else None,
        )

    return wrapped
