"""STS use cases: AssumeRole, AssumeRoleWithWebIdentity (OIDC), GetCallerIdentity.

Temporary credentials are an ``ASIA…`` key, a secret and a session token, all random; the secret and the
token are stored sealed, and the session expires with the credentials. A role's trust policy is evaluated
as a resource-based policy that must allow (``require_resource_allow``), together with the caller's own
identity-based policies, exactly as AWS does; ``sts:ExternalId`` and the provider's ``<url>:aud`` /
``<url>:sub`` keys are in the request context.

Web identity tokens are checked against the keys the provider publishes (``jwks_uri`` of its
``/.well-known/openid-configuration``, cached for ``jwks_ttl`` seconds and re-read when a token names an
unknown ``kid``): signature, ``iss``, ``aud`` (one of the provider's client ids) and ``exp``.
"""

from __future__ import annotations

import base64
import dataclasses
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

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
    oidc_provider_arn,
)
from dockyard.services.access import Access, Caller
from dockyard.services.identity import is_loopback

DEFAULT_DURATION = 3600
MIN_DURATION = 900
MAX_SESSION_POLICY = 2048
ALGORITHMS = ("RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256", "PS384", "PS512")


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


def role_arn_parts(role_arn: str) -> tuple[str, str] | None:
    """``(account, role name)`` of ``arn:aws:iam::<account>:role/<path><name>``, else None."""
    parts = role_arn.split(":", 5)
    if len(parts) != 6 or parts[:3] != ["arn", "aws", "iam"] or not parts[5].startswith("role/"):
        return None
    return parts[4], parts[5].rsplit("/", 1)[-1]


class StsService:
    def __init__(self, access: Access, jwks_timeout: float = 5.0, jwks_ttl: float = 300.0) -> None:
        self.access = access
        self.identity = access.identity
        self._jwks_timeout = jwks_timeout
        self._jwks_ttl = jwks_ttl
        self._jwks_cache: dict[str, tuple[float, list[dict[str, Any]]]] = {}

    async def _role(self, caller_arn: str, action: str, role_arn: str) -> Role:
        found = role_arn_parts(role_arn)
        role = None if found is None else await self.identity.store.get_role(*found)
        if role is None or role.arn != role_arn:
            raise AccessDenied(
                f"User: {caller_arn} is not authorized to perform: {action} on resource: {role_arn}"
            )
        return role

    @staticmethod
    def _duration(role: Role, requested: int | None) -> int:
        duration = DEFAULT_DURATION if requested is None else requested
        if duration > role.max_session_duration:
            raise InvalidInput(
                f"The requested DurationSeconds exceeds the MaxSessionDuration set for this role."
                f" (requested {duration}, maximum {role.max_session_duration})"
            )
        if duration < MIN_DURATION:
            raise InvalidInput(f"DurationSeconds must be at least {MIN_DURATION}.")
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
        action = "sts:AssumeRole"
        if caller.is_root:
            raise AccessDenied("Roles may not be assumed by root accounts.")
        role = await self._role(caller.principal.arn, action, role_arn)
        session_policy = self._session_policy(policy)
        trust = parse_policy(role.trust_policy, PolicyKind.TRUST)
        keys = {"sts:ExternalId": external_id} if external_id is not None else {}
        now = self.identity.clock.now()
        decision, _ = await self.access.decide(
            caller, action, role.arn, [trust], keys, now, require_resource_allow=True
        )
        if not decision.allowed:
            raise AccessDenied(
                f"User: {caller.principal.arn} is not authorized to perform: {action} on resource: {role.arn}"
            )
        return await self._issue(role, session_name, self._duration(role, duration), session_policy)

    async def _service_trusted(self, service: str, role_arn: str) -> Role | None:
        """The role, when its trust policy allows the service principal ``service`` ``sts:AssumeRole``."""
        found = role_arn_parts(role_arn)
        role = None if found is None else await self.identity.store.get_role(*found)
        if role is None or role.arn != role_arn:
            return None
        trust = parse_policy(role.trust_policy, PolicyKind.TRUST)
        caller = Caller(Principal.service(service), role.account_id, None)
        now = self.identity.clock.now()
        decision, _ = await self.access.decide(
            caller, "sts:AssumeRole", role.arn, [trust], None, now, require_resource_allow=True
        )
        return role if decision.allowed else None

    async def service_may_assume(self, service: str, role_arn: str) -> bool:
        """Whether ``role_arn`` exists and trusts ``service`` (e.g. ``ecs-tasks.amazonaws.com``)."""
        return await self._service_trusted(service, role_arn) is not None

    async def assume_role_for_service(
        self, service: str, role_arn: str, session_name: str, duration: int = DEFAULT_DURATION
    ) -> TemporaryCredentials:
        """Credentials for ``role_arn`` as the service principal ``service`` gets them when it acts for
        the role's account (ECS for task roles, EC2 for instance roles): the role's trust policy must allow
        ``service`` ``sts:AssumeRole``, else :class:`AccessDenied`."""
        role = await self._service_trusted(service, role_arn)
        if role is None:
            raise AccessDenied(
                f"{service} is not authorized to perform: sts:AssumeRole on resource: {role_arn}"
            )
        return await self._issue(role, session_name, self._duration(role, duration), None)

    async def _issue(
        self,
        role: Role,
        session_name: str,
        duration: int,
        policy: str | None,
        provider: str | None = None,
        subject: str | None = None,
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
        found = role_arn_parts(role_arn)
        if found is None:
            raise InvalidInput(f"{role_arn} is invalid")
        claims = _unverified_claims(token)
        provider = await self._provider(found[0], str(claims.get("iss", "")))
        verified = await self._verify_token(token, provider)
        session_policy = self._session_policy(policy)
        role = await self._role(assumed_role_arn(found[0], found[1], session_name), action, role_arn)
        audience, subject = _aud(verified, provider.client_ids), str(verified.get("sub", ""))
        keys = {f"{provider.url}:aud": audience, f"{provider.url}:sub": subject}
        principal = Principal(PrincipalType.ANONYMOUS, "anonymous", identity_provider=provider.arn)
        caller = Caller(principal, role.account_id, None)
        trust = parse_policy(role.trust_policy, PolicyKind.TRUST)
        now = self.identity.clock.now()
        decision, _ = await self.access.decide(
            caller, action, role.arn, [trust], keys, now, require_resource_allow=True
        )
        if not decision.allowed:
            raise AccessDenied(f"Not authorized to perform {action}")
        duration = self._duration(role, duration)
        issued = await self._issue(role, session_name, duration, session_policy, provider.arn, subject)
        return dataclasses.replace(issued, provider=_issuer_url(provider.url), audience=audience)

    async def _provider(self, account: str, issuer: str) -> OidcProvider:
        provider = await self.identity.store.get_oidc_provider(oidc_provider_arn(account, issuer))
        if provider is None or not issuer:
            raise InvalidIdentityToken(f"No OpenIDConnect provider found in your account for {issuer}")
        return provider

    async def _verify_token(self, token: str, provider: OidcProvider) -> dict[str, Any]:
        issuer = _issuer_url(provider.url)
        try:
            header = jwt.get_unverified_header(token)
            key = await self._signing_key(issuer, header.get("kid"))
            claims = jwt.decode(
                token,
                key,
                algorithms=list(ALGORITHMS),
                audience=list(provider.client_ids),
                issuer=issuer,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise ExpiredToken(
                "Token expired: current date/time must be before the expiration date/time"
            ) from None
        except jwt.InvalidAudienceError:
            raise InvalidIdentityToken("Incorrect token audience") from None
        except jwt.InvalidIssuerError:
            raise InvalidIdentityToken("Incorrect token issuer") from None
        except jwt.InvalidSignatureError:
            raise InvalidIdentityToken("The web identity token signature could not be verified.") from None
        except jwt.PyJWTError as exc:
            raise InvalidIdentityToken(f"The web identity token is invalid: {exc}") from None
        return dict(claims)

    async def _signing_key(self, issuer: str, kid: Any) -> Any:
        for fresh in (False, True):
            keys = await self._jwks(issuer, fresh)
            if kid is None and len(keys) == 1:
                return jwt.PyJWK(keys[0]).key
            for jwk in keys:
                if kid is not None and jwk.get("kid") == kid:
                    return jwt.PyJWK(jwk).key
        raise InvalidIdentityToken("The web identity token names no key the provider publishes.")

    async def _jwks(self, issuer: str, fresh: bool) -> list[dict[str, Any]]:
        cached = self._jwks_cache.get(issuer)
        if cached is not None and not fresh and time.monotonic() - cached[0] < self._jwks_ttl:
            return cached[1]
        try:
            async with httpx.AsyncClient(timeout=self._jwks_timeout) as client:
                response = await client.get(issuer + "/.well-known/openid-configuration")
                response.raise_for_status()
                keys = await client.get(str(response.json()["jwks_uri"]))
                keys.raise_for_status()
                found = [k for k in keys.json().get("keys", []) if isinstance(k, dict)]
        except (httpx.HTTPError, ValueError, KeyError, TypeError, AttributeError):
            raise InvalidIdentityToken(
                "Couldn't retrieve verification key from your identity provider"
            ) from None
        self._jwks_cache[issuer] = (time.monotonic(), found)
        return found

    async def caller_identity(self, caller: Caller) -> tuple[str, str, str]:
        """``(UserId, Account, Arn)`` as GetCallerIdentity answers."""
        principal = caller.principal
        if caller.is_root:
            return caller.account, caller.account, principal.arn
        return principal.userid or caller.account, caller.account, principal.arn


def _issuer_url(url: str) -> str:
    """Providers are kept without a scheme (AWS's form); https unless the host is loopback."""
    host = url.split("/", 1)[0].rsplit(":", 1)[0] if not url.startswith("[") else url.split("]")[0][1:]
    return ("http://" if is_loopback(host) else "https://") + url


def _unverified_claims(token: str) -> dict[str, Any]:
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise InvalidIdentityToken("The web identity token is not a valid JWT.") from None
    return dict(claims)


def _aud(claims: dict[str, Any], client_ids: tuple[str, ...]) -> str:
    """The token's audience that is one of the provider's client ids (a verified token has one)."""
    aud = claims.get("aud")
    audiences = [str(item) for item in aud] if isinstance(aud, list) else [str(aud or "")]
    return next((item for item in audiences if item in client_ids), audiences[0] if audiences else "")
