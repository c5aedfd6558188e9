"""The public host ``public.<domain>``: ``/v2/<alias>/<repo>/…`` behind the Docker bearer-token flow, as
public.ecr.aws serves it.

- ``GET /v2/`` (and any request without a valid token) answers 401 with
  ``WWW-Authenticate: Bearer realm="<scheme>://public.<domain>/token",service="public.<domain>"``.
- ``GET /token?service=…&scope=repository:<alias>/<repo>:pull[,push]`` answers
  ``{"token", "access_token", "expires_in", "issued_at"}``: anyone gets ``pull``; with
  ``Authorization: Basic AWS:<ecr-public get-login-password>`` also ``push`` and ``delete`` (docker login
  and docker push send exactly that); a bad password is 401.
- With a token, pulls (manifests and blobs ``GET``/``HEAD``, tag lists, referrers) of public repositories
  are open. Pushes and deletes need the token's grant and the caller's IAM allow for the ECR Public action
  (``ecr-public:InitiateLayerUpload``… on ``arn:aws:ecr-public::<account>:repository/<repo>``, identity and
  repository policies), decided before any lookup; a denial is 403 ``DENIED`` with AWS's text, a missing
  grant (an anonymous push) 401 with an ``insufficient_scope`` challenge. Nothing is written either way.
- Every name on this host is in the public namespace (core registry ``'public'``): a private repository is
  not reachable here, and a repository must exist (CreateRepository) before a push, as on ECR Public.
"""

from __future__ import annotations

import base64
import binascii
import re
from datetime import datetime

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from dockyard.domain.errors import NameInvalid
from dockyard.domain.identity import RegistryHosts
from dockyard.domain.reference import validate_name
from dockyard.http.oci.auth import OciGate, RegistryContext, actions_for
from dockyard.http.oci.errors import oci_error
from dockyard.metadata.ecr_public_tables import PUBLIC_REGISTRY
from dockyard.services.access import Caller
from dockyard.services.ecr_public_access import SCOPE_ACTIONS, BearerClaims, BearerTokens, PublicAccess
from dockyard.services.registry_access import RegistryAccess, Unauthenticated

NOT_AUTHORIZED = "Not Authorized"
MAX_SCOPES = 16
_HOST = re.compile(r"^[A-Za-z0-9.-]+(?::\d{1,5})?\Z")
PULLS = {"manifests": ("GET", "HEAD"), "blobs": ("GET", "HEAD"), "tags": ("GET",), "referrers": ("GET",)}


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None


def host_name(scope: Scope) -> str:
    """The request's host name, lower case, without port or trailing dot."""
    host = (_header(scope, b"host") or "").strip().lower()
    return host.rpartition(":")[0].rstrip(".") if ":" in host else host.rstrip(".")


def scope_action(kind: str, method: str) -> str:
    """The Docker scope action a ``/v2/`` request needs: ``pull``, ``push`` or ``delete``."""
    if method in PULLS.get(kind, ()):
        return "pull"
    return "delete" if method == "DELETE" and kind in ("manifests", "blobs") else "push"


class PublicHostSwitch:
    """``public`` for requests to the public host, ``other`` for every other host name."""

    def __init__(self, host: str, public: ASGIApp, other: ASGIApp) -> None:
        self.host = host
        self.public = public
        self.other = other

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        chosen = self.public if scope["type"] == "http" and host_name(scope) == self.host else self.other
        await chosen(scope, receive, send)


class PublicGate(OciGate):
    """Admits ``/v2/`` requests on the public host (same contract as :meth:`OciGate.admit`); the context it
    gives addresses the registry ``'public'`` with no caller, so handlers never filter by identity (every
    public repository may be read by anyone, a mount's source included)."""

    def __init__(
        self,
        access: PublicAccess,
        tokens: BearerTokens,
        registry_access: RegistryAccess,
        hosts: RegistryHosts,
    ) -> None:
        super().__init__(registry_access, hosts, enabled=True)
        self.public = access
        self.tokens = tokens

    async def admit(
        self, scope: Scope, kind: str, method: str, name: str | None
    ) -> RegistryContext | Response:
        claims = self._claims(scope)
        action = scope_action(kind, method)
        if claims is None:
            return self.bearer_challenge(scope, name, action, NOT_AUTHORIZED)
        if kind == "catalog":
            return oci_error("UNSUPPORTED", "The catalog is not served by the public registry.", 404)
        context = RegistryContext(PUBLIC_REGISTRY, None, self)
        if name is None:
            return context
        if action == "pull":
            if claims.allows(name, action):
                return context
            return self.bearer_challenge(scope, name, action, NOT_AUTHORIZED, insufficient=True)
        # A logged-in caller hears AWS's denial (or NAME_UNKNOWN), whatever the token says; an allowed
        # request the token does not cover is sent back for a fresh token.
        refused = await self._authorize(scope, kind, method, name, claims)
        if refused is not None:
            return refused
        if claims.allows(name, action):
            return context
        return self.bearer_challenge(scope, name, action, NOT_AUTHORIZED, insufficient=True)

    async def _authorize(
        self, scope: Scope, kind: str, method: str, name: str, claims: BearerClaims
    ) -> Response | None:
        """``None`` when the token's caller may do the request's ECR Public actions, else the answer."""
        if claims.principal is None or claims.access_key_id is None:  # anonymous: a token for pulls only
            return self.bearer_challenge(
                scope, name, scope_action(kind, method), NOT_AUTHORIZED, insufficient=True
            )
        try:
            caller = await self.public.live_caller(claims.access_key_id, claims.principal, claims.expires_at)
        except Unauthenticated as exc:
            return self.bearer_challenge(scope, name, scope_action(kind, method), exc.message)
        alias, _, repository = name.partition("/")
        owner = await self.public.owner(alias) if repository else None
        if owner is None:
            return oci_error("NAME_UNKNOWN", "repository name not known to registry", 404, {"name": name})
        for private_action in actions_for(kind, method, scope):
            action = "ecr-public:" + private_action.removeprefix("ecr:")
            verdict = await self.public.verdict(caller, action, owner, repository)
            if not verdict.allowed:
                return oci_error("DENIED", verdict.message, 403)
        return None

    def _claims(self, scope: Scope) -> BearerClaims | None:
        header = _header(scope, b"authorization")
        if header is None:
            return None
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer":
            return None
        return self.tokens.verify(value.strip(), self.access.clock.now())

    def bearer_challenge(
        self, scope: Scope, name: str | None, action: str, message: str, *, insufficient: bool = False
    ) -> Response:
        challenge = f'Bearer realm="{realm(scope, self.tokens.service)}",service="{self.tokens.service}"'
        if name is not None:
            wanted = "pull" if action == "pull" else f"pull,{action}"
            challenge += f',scope="repository:{name}:{wanted}"'
        if insufficient:
            challenge += ',error="insufficient_scope"'
        return oci_error("UNAUTHORIZED", message, 401, headers={"WWW-Authenticate": challenge})


def realm(scope: Scope, service: str) -> str:
    """``<scheme>://<host as the client wrote it>/token`` (the configured host if the header is odd)."""
    host = (_header(scope, b"host") or "").strip()
    if not _HOST.match(host):
        host = service
    return f"{scope.get('scheme', 'http')}://{host}/token"


class TokenEndpoint:
    """``GET /token`` on the public host (see the module docstring)."""

    def __init__(self, access: PublicAccess, tokens: BearerTokens) -> None:
        self.access = access
        self.tokens = tokens

    async def handle(self, request: Request) -> Response:
        if host_name(request.scope) != self.tokens.service:
            return oci_error("NOT_FOUND", "no such endpoint", 404)
        service = request.query_params.get("service")
        if service is not None and service.lower() != self.tokens.service:
            return oci_error("DENIED", f"This token service serves '{self.tokens.service}' only.", 400)
        try:
            caller = await self._caller(request.headers.get("authorization"))
        except Unauthenticated as exc:
            return oci_error("UNAUTHORIZED", exc.message, 401)
        allowed = SCOPE_ACTIONS if caller is not None else ("pull",)
        grants = requested(request.query_params.getlist("scope"), allowed)
        if caller is not None:
            grants = {path: await self.access.grants(caller, path, wanted) for path, wanted in grants.items()}
        now = self.access.clock.now()
        principal, key = (None, None) if caller is None else (caller.principal.arn, caller.access_key_id)
        token, expires = self.tokens.issue(principal, key, grants, now)
        lifetime = int((expires - now).total_seconds())
        body = {"token": token, "access_token": token, "expires_in": lifetime, "issued_at": _iso(now)}
        return JSONResponse(body, headers={"Cache-Control": "no-store"})

    async def _caller(self, header: str | None) -> Caller | None:
        """The caller whose login is in ``header``; ``None`` without one."""
        if header is None:
            return None
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "basic":
            raise Unauthenticated(NOT_AUTHORIZED)
        try:
            user, colon, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise Unauthenticated(NOT_AUTHORIZED) from None
        if not colon or user != "AWS" or not password:
            raise Unauthenticated(NOT_AUTHORIZED)
        return await self.access.authenticate(password)


def requested(scopes: list[str], allowed: tuple[str, ...]) -> dict[str, set[str]]:
    """The grants for ``scope`` parameters (``repository:<name>:<a>,<b>``; ``*`` is every action): the
    requested actions among ``allowed``, for valid repository names; anything else is not granted."""
    grants: dict[str, set[str]] = {}
    for entry in scopes[:MAX_SCOPES]:
        kind, _, rest = entry.partition(":")
        name, _, actions = rest.rpartition(":")
        if kind != "repository" or not name:
            continue
        try:
            validate_name(name)
        except NameInvalid:
            continue
        wanted = set(allowed) if "*" in actions.split(",") else set(actions.split(","))
        granted = wanted & set(allowed)
        if granted:
            grants.setdefault(name, set()).update(granted)
    return grants


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
