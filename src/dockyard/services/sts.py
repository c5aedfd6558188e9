"""STS use cases: AssumeRole, AssumeRoleWithWebIdentity (OIDC), GetCallerIdentity.

Temporary credentials are an ``ASIA…`` key, a secret and a session token, all random; the secret and the
token are stored sealed, and the session expires with the credentials.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlparse

import httpx
import jwt

from dockyard.domain.iam.context import Principal, PrincipalType
from dockyard.domain.iam.policy import PolicyKind, parse_policy
from dockyard.domain.identity import (
    AccessDenied,
    ExpiredToken,
    InvalidIdentityToken,
    InvalidInput,
    OidcProvider,
    Role,
    Session,
    assumed_role_arn,
    new_access_key_id,
    new_secret_access_key,
)
from dockyard.services.access import Access, Caller

DEFAULT_DURATION = 3600
MIN_DURATION = 900
MAX_SESSION_POLICY = 2048


@dataclass(frozen=True, slots=True)
class TemporaryCredentials:
    access_key_id: str
    secret_access_key: str
    session_token: str
    expiration: datetime
    assumed_role_id: str
    assumed_role_arn: str
    subject: str | None = None
    provider: str | None = None
    audience: str | None = None


def _role_name(role_arn: str) -> tuple[str, str] | None:
    parts = role_arn.split(":", 5)
    if len(parts) != 6 or parts[2] != "iam" or not parts[5].startswith("role/"):
        return None
    return parts[4], parts[5].rsplit("/", 1)[-1]


class StsService:
    def __init__(self, access: Access, jwks_timeout: float = 5.0) -> None:
        self.access = access
        self.identity = access.identity
        self._jwks_timeout = jwks_timeout

    async def _role(self, caller_arn: str, action: str, role_arn: str) -> Role:
        found = _role_name(role_arn)
        role = None if found is None else await self.identity.store.get_role(*found)
        if role is None:
            raise AccessDenied(
                f"User: {caller_arn} is not authorized to perform: {action} on resource: {role_arn}"
            )
        return role

    def _duration(self, role: Role, requested: int | None) -> int:
        duration = DEFAULT_DURATION if requested is None else requested
        if not MIN_DURATION <= duration <= role.max_session_duration:
            raise InvalidInput(
                "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."
                if duration > role.max_session_duration
                else f"DurationSeconds must be at least {MIN_DURATION}."
            )
        return duration

    @staticmethod
    def _session_policy(policy: str | None) -> str | None:
        if policy is None:
            return None
        if len(policy) > MAX_SESSION_POLICY:
            raise InvalidInput("Session policy is larger than the maximum of 2048 characters.")
        parse_policy(policy, PolicyKind.IDENTITY)
        return policy

    async def assume_role(
        self,
        caller: Caller,
        role_arn: str,
        session_name: str,
        duration: int | None = None,
        policy: str | None = None,
        external_id: str | None = None,
    ) -> TemporaryCredentials:
        role = await self._role(caller.principal.arn, "sts:AssumeRole", role_arn)
        trust = parse_policy(role.trust_policy, PolicyKind.TRUST)
        keys = {"sts:ExternalId": external_id} if external_id is not None else {}
        now = self.identity.clock.now()
        decision, context = await self.access.decide(caller, "sts:AssumeRole", role.arn, [trust], keys, now)
        if not decision.allowed:
            raise AccessDenied(decision.message_for(context))
        return await self._issue(
            role, session_name, self._duration(role, duration), self._session_policy(policy), None, None
        )

    async def _issue(
        self,
        role: Role,
        session_name: str,
        duration: int,
        policy: str | None,
        provider: str | None,
        subject: str | None,
    ) -> TemporaryCredentials:
        now = self.identity.clock.now()
        key_id, secret = new_access_key_id(temporary=True), new_secret_access_key()
        token = base64.b64encode(secrets.token_bytes(192)).decode()
        expires = now + timedelta(seconds=duration)
        session = Session(
            key_id,
            role.account_id,
            role.name,
            role.path,
            role.role_id,
            session_name,
            expires,
            policy,
            provider,
            subject,
        )
        box = self.identity.box
        await self.identity.store.create_session(session, box.seal(secret), box.seal(token), now)
        return TemporaryCredentials(
            key_id,
            secret,
            token,
            expires,
            f"{role.role_id}:{session_name}",
            assumed_role_arn(role.account_id, role.name, session_name),
            subject,
            provider,
        )

    async def assume_role_with_web_identity(
        self,
        role_arn: str,
        session_name: str,
        token: str,
        duration: int | None = None,
        policy: str | None = None,
    ) -> TemporaryCredentials:
        action = "sts:AssumeRoleWithWebIdentity"
        claims = _unverified_claims(token)
        found = _role_name(role_arn)
        if found is None:
            raise InvalidInput("RoleArn is not a role ARN.")
        provider = await self._provider(found[0], str(claims.get("iss", "")))
        verified = await self._verify_token(token, provider)
        role = await self._role(
            f"arn:aws:sts::{found[0]}:assumed-role/{found[1]}/{session_name}", action, role_arn
        )
        host = provider.url
        keys = {f"{host}:aud": _aud(verified), f"{host}:sub": str(verified.get("sub", ""))}
        principal = Principal(PrincipalType.ANONYMOUS, provider.arn, identity_provider=provider.arn)
        caller = Caller(principal, role.account_id, None)
        trust = parse_policy(role.trust_policy, PolicyKind.TRUST)
        decision, _ = await self.access.decide(
            caller, action, role.arn, [trust], keys, self.identity.clock.now()
        )
        if not decision.allowed:
            raise AccessDenied("Not authorized to perform sts:AssumeRoleWithWebIdentity")
        credentials = await self._issue(
            role,
            session_name,
            self._duration(role, duration),
            self._session_policy(policy),
            provider.arn,
            str(verified.get("sub", "")),
        )
        return TemporaryCredentials(**{**credentials.__dict__, "audience": _aud(verified)})

    async def _provider(self, account: str, issuer: str) -> OidcProvider:
        url = issuer.removeprefix("https://").removeprefix("http://").rstrip("/")
        arn = f"arn:aws:iam::{account}:oidc-provider/{url}"
        provider = await self.identity.store.get_oidc_provider(arn)
        if provider is None:
            raise InvalidIdentityToken(f"No OpenIDConnect provider found in your account for {issuer}")
        return provider

    async def _verify_token(self, token: str, provider: OidcProvider) -> dict[str, Any]:
        issuer = _issuer_url(provider.url)
        keys = await self._jwks(issuer)
        try:
            header = jwt.get_unverified_header(token)
            jwk = next((k for k in keys if k.get("kid") == header.get("kid")), None) or (
                keys[0] if keys else None
            )
            if jwk is None:
                raise InvalidIdentityToken("The provider publishes no signing keys.")
            key = jwt.PyJWK(jwk).key
            return dict(
                jwt.decode(
                    token,
                    key,
                    algorithms=["RS256", "RS384", "RS512", "ES256", "ES384"],
                    audience=list(provider.client_ids),
                    issuer=issuer,
                    options={"require": ["exp", "iss", "aud"]},
                )
            )
        except jwt.ExpiredSignatureError:
            raise ExpiredToken("Token expired: current date/time is past the token's exp.") from None
        except jwt.InvalidAudienceError:
            raise InvalidIdentityToken("Incorrect token audience") from None
        except jwt.PyJWTError as exc:
            raise InvalidIdentityToken(f"Token could not be verified: {exc}") from None

    async def _jwks(self, issuer: str) -> list[dict[str, Any]]:
        try:
            async with httpx.AsyncClient(timeout=self._jwks_timeout) as client:
                config = (await client.get(issuer + "/.well-known/openid-configuration")).json()
                jwks = (await client.get(str(config["jwks_uri"]))).json()
        except (httpx.HTTPError, ValueError, KeyError, TypeError):
            raise InvalidIdentityToken(
                "Couldn't retrieve verification key from your identity provider"
            ) from None
        return [k for k in jwks.get("keys", []) if isinstance(k, dict)]

    async def caller_identity(self, caller: Caller) -> tuple[str, str, str]:
        """``(UserId, Account, Arn)`` as GetCallerIdentity answers."""
        principal = caller.principal
        if caller.is_root:
            return caller.account, caller.account, principal.arn
        return principal.userid or caller.account, caller.account, principal.arn


def _issuer_url(url: str) -> str:
    """Providers are registered without a scheme (AWS's form); https unless the host is loopback."""
    host = urlparse("//" + url).hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    return ("http://" if loopback else "https://") + url


def _unverified_claims(token: str) -> dict[str, Any]:
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise InvalidIdentityToken("The web identity token is not a valid JWT.") from None
    return dict(claims)


def _aud(claims: dict[str, Any]) -> str:
    aud = claims.get("aud")
    return aud[0] if isinstance(aud, list) and aud else str(aud or "")


def provider_arn(account: str, url: str) -> str:
    return f"arn:aws:iam::{account}:oidc-provider/{url.removeprefix('https://').removeprefix('http://').rstrip('/')}"


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))
