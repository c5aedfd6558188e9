"""Who calls ``/v2/``, which registry (account) they address, and may they: run by the router before any
handler, so no answer ever depends on what the caller may not see.

- The account comes from the ``Host`` header (``<account id>.dkr.<domain>``); any other host name
  addresses the default account.
- With auth on (``DOCKYARD_AUTH=iam``) every request needs ``Authorization: Basic base64(AWS:<password>)``
  where the password is GetAuthorizationToken's; without it (or with a bad one) the answer is 401 with
  ECR's challenge ``WWW-Authenticate: Basic realm="https://<host>/",service="ecr.amazonaws.com"``.
- Each request is the ECR action a real ECR checks (:data:`ACTIONS`) on the repository's ARN; a denial is
  403 ``DENIED`` with AWS's AccessDenied text. The check comes before any lookup, so a caller who may not
  read a repository cannot learn whether it, a tag or a blob exists.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

from starlette.responses import Response
from starlette.types import Scope

from dockyard.caching import SignalCache
from dockyard.domain.identity import RegistryHosts
from dockyard.http.oci.errors import oci_error
from dockyard.services.access import Caller
from dockyard.services.registry_access import RegistryAccess, Unauthenticated

SCOPE_KEY = "dockyard.registry"
READ_LAYER = "ecr:GetDownloadUrlForLayer"
DESCRIBE = "ecr:DescribeRepositories"
INITIATE, PART, COMPLETE = "ecr:InitiateLayerUpload", "ecr:UploadLayerPart", "ecr:CompleteLayerUpload"

# (endpoint kind, method) -> the ECR actions the request needs on the repository.
ACTIONS: dict[tuple[str, str], tuple[str, ...]] = {
    ("manifests", "GET"): ("ecr:BatchGetImage",),
    ("manifests", "HEAD"): ("ecr:BatchGetImage",),
    ("manifests", "PUT"): ("ecr:PutImage",),
    ("manifests", "DELETE"): ("ecr:BatchDeleteImage",),
    ("blobs", "GET"): (READ_LAYER,),
    ("blobs", "HEAD"): ("ecr:BatchCheckLayerAvailability",),
    ("blobs", "DELETE"): ("ecr:BatchDeleteImage",),
    ("uploads", "POST"): (INITIATE,),
    ("upload", "GET"): (PART,),
    ("upload", "PATCH"): (PART,),
    ("upload", "PUT"): (COMPLETE,),
    ("upload", "DELETE"): (PART,),
    ("tags", "GET"): ("ecr:ListImages",),
    ("referrers", "GET"): ("ecr:BatchGetImage",),
    # /dockyard/v1/sbom (dockyard.http.sbom): reading scan results, and attaching an SBOM as a referrer
    ("sbom", "GET"): ("ecr:BatchGetImage", "ecr:DescribeImageScanFindings"),
    ("sbom", "POST"): ("ecr:BatchGetImage", "ecr:DescribeImageScanFindings", "ecr:PutImage"),
}


@dataclass(frozen=True, slots=True)
class RegistryContext:
    """What the router established about a request, for the handlers: the addressed account and, with
    auth on, the caller (``None`` with auth off: anonymous full access)."""

    account: str
    caller: Caller | None
    gate: OciGate

    async def may(self, action: str, account: str, name: str | None) -> bool:
        if self.caller is None:
            return True
        return await self.gate.access.allowed(self.caller, action, account, name)

    async def can_read(self, account: str, name: str) -> bool:
        """May the caller read blobs of ``name`` (the source of a cross-repository mount)?"""
        return await self.may(READ_LAYER, account, name)

    async def can_describe(self, account: str, name: str) -> bool:
        """May the caller see ``name`` in the catalog?"""
        return await self.may(DESCRIBE, account, name)


def actions_for(kind: str, method: str, scope: Scope) -> tuple[str, ...]:
    """The actions of a request; a single-request upload (``POST ?digest=``) is all three upload steps,
    and a ``PUT`` that carries the last chunk is a part as well as the completion."""
    actions = ACTIONS.get((kind, method), ())
    if kind == "uploads":
        query = scope.get("query_string", b"")
        if b"digest=" in query and b"mount=" not in query:
            return (INITIATE, PART, COMPLETE)
    elif kind == "upload" and method == "PUT" and _has_body(scope):
        return (PART, COMPLETE)
    return actions


def _has_body(scope: Scope) -> bool:
    for key, value in scope.get("headers", ()):
        if key == b"content-length":
            return bool(value != b"0")
        if key == b"transfer-encoding" and b"chunked" in value:
            return True
    return False


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None


class OciGate:
    """Admits ``/v2/`` requests. An admission (Authorization header, host, repository, actions) is
    remembered until the token or session behind it expires, or the change signal moves (any IAM, policy
    or registry write), unless a ``Condition`` took part in one of its decisions: a repeated pull then
    costs one dictionary lookup."""

    def __init__(self, access: RegistryAccess, hosts: RegistryHosts, *, enabled: bool) -> None:
        self.access = access
        self.hosts = hosts
        self.enabled = enabled
        self._admitted = SignalCache(access.signal, 16384)

    async def account_of(self, scope: Scope) -> str:
        host = _header(scope, b"host") or ""
        found = self.hosts.account_for_host(host)
        return found if found is not None else await self.access.default_account()

    async def admit(
        self, scope: Scope, kind: str, method: str, name: str | None
    ) -> RegistryContext | Response:
        """The request's context, or the 401 / 403 answer that ends it."""
        if not self.enabled:
            return RegistryContext(await self.account_of(scope), None, self)
        actions = actions_for(kind, method, scope) if name is not None else ()
        key = (_header(scope, b"authorization"), _header(scope, b"host"), name, actions)
        now = self.access.clock.now()
        hit = self._admitted.peek(key)
        if hit is not None and hit[0] > now:
            found: RegistryContext = hit[1]
            return found
        seen = self._admitted.generation()
        account = await self.account_of(scope)
        try:
            caller, until = await self.access.authenticate_until(self._password(scope))
        except Unauthenticated as exc:
            return self.challenge(scope, exc.message)
        context = RegistryContext(account, caller, self)
        cacheable = True
        for action in actions:  # none for the base endpoint and the catalog (filtered by the handler)
            verdict = await self.access.verdict(caller, action, account, name)
            if not verdict.allowed:
                return oci_error("DENIED", verdict.message, 403)
            cacheable = cacheable and verdict.cacheable
        if cacheable:
            self._admitted.put(key, (until, context), seen)
        return context

    @staticmethod
    def _password(scope: Scope) -> str:
        header = _header(scope, b"authorization")
        if header is None:
            raise Unauthenticated("Not Authorized")
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "basic":
            raise Unauthenticated("Not Authorized")
        try:
            user, colon, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise Unauthenticated("Not Authorized") from None
        if not colon or user != "AWS" or not password:
            raise Unauthenticated("Not Authorized")
        return password

    def challenge(self, scope: Scope, message: str) -> Response:
        """401 with ECR's Basic challenge (never Bearer: docker prefers Bearer whenever offered)."""
        host = _header(scope, b"host") or "localhost"
        realm = f'Basic realm="https://{host}/",service="ecr.amazonaws.com"'
        return oci_error("UNAUTHORIZED", message, 401, headers={"WWW-Authenticate": realm})


def context_of(scope: Any) -> RegistryContext:
    found: RegistryContext = scope[SCOPE_KEY]
    return found
