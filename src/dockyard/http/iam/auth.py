"""Who signed an AWS-protocol request: SigV4 verification against stored keys, then the principal.

One :class:`AwsAuthenticator` serves every AWS-style API (IAM, STS, and ECR's JSON API on the same ``/``):
``authenticator("iam")`` is the endpoint's ``authenticator`` callable. Long-term keys (``AKIA…``) must be
``Active`` (an inactive or deleted key is ``InvalidClientTokenId``); temporary ones (``ASIA…``) must carry
their session token and be unexpired (``ExpiredToken``). Operations AWS serves unsigned
(``sts:AssumeRoleWithWebIdentity``) get the anonymous caller.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection

from starlette.requests import Request

from dockyard.domain.iam.context import Principal
from dockyard.http.aws.errors import Fault, SignatureError
from dockyard.http.aws.query_protocol import request_params
from dockyard.http.aws.sigv4 import SecretKeyRecord, SigV4Verifier
from dockyard.ports import Clock
from dockyard.services.access import Access, Caller

ANONYMOUS_ACCOUNT = ""
_INVALID_TOKEN = "The security token included in the request is invalid."  # noqa: S105 (a message)


def anonymous() -> Caller:
    return Caller(Principal.anonymous(), ANONYMOUS_ACCOUNT, None)


class AwsAuthenticator:
    def __init__(self, access: Access, clock: Clock, regions: Collection[str]) -> None:
        self.access = access
        self.clock = clock
        self.regions = frozenset(regions)

    async def lookup(self, access_key_id: str) -> SecretKeyRecord | None:
        """The SigV4 key lookup: only usable credentials are found."""
        secret = await self.access.signing_secret(access_key_id)
        if secret is None or not secret.active:
            return None
        if secret.session is not None:
            return SecretKeyRecord(secret.secret, secret.session_token, secret.session.expires_at)
        return SecretKeyRecord(secret.secret)

    def authenticator(
        self, service: str, unsigned_actions: Collection[str] = ()
    ) -> Callable[[Request, bytes], Awaitable[Caller]]:
        """The ``authenticator`` of the endpoint for signing name ``service``; ``unsigned_actions`` are
        Query actions served without a signature."""
        verifier = SigV4Verifier(region=self.regions, service=service, lookup=self.lookup, clock=self.clock)
        unsigned = frozenset(unsigned_actions)

        async def authenticate(request: Request, body: bytes) -> Caller:
            if unsigned and request_params(request, body).get("Action") in unsigned:
                return anonymous()
            verified = await verifier.verify_starlette(request, body)
            secret = await self.access.signing_secret(verified.access_key_id)
            if secret is None or not secret.active:
                raise SignatureError(_INVALID_TOKEN, Fault.INVALID_CLIENT_TOKEN_ID)
            return await self.access.caller(secret)

        return authenticate
