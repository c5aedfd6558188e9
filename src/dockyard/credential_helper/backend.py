"""Getting a registry password from ``GetAuthorizationToken`` with the AWS credential chain (botocore)."""

from __future__ import annotations

import hashlib
import json
import os
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import urlsplit

from dockyard.credential_helper.cache import Authorization
from dockyard.credential_helper.protocol import DEFAULT_REGION, ENV_ENDPOINT, CredentialsNotFound
from dockyard.credential_helper.routes import Route


class TokenFetchError(Exception):
    """The endpoint did not hand out a token (unreachable, denied, malformed answer)."""


class Connection(Protocol):
    """Credentials resolved for a route: who (``identity``, never a secret), where, and the API call."""

    @property
    def identity(self) -> str: ...

    @property
    def endpoint(self) -> str: ...

    @property
    def region(self) -> str: ...

    def get_authorization_token(self, registry_id: str | None) -> Authorization: ...


class Backend(Protocol):
    def connect(self, route: Route) -> Connection:
        """Raises :class:`CredentialsNotFound` without credentials or an endpoint."""
        ...


_DEFERRED_IDENTITY_KEYS = (
    "role_arn",
    "source_profile",
    "credential_source",
    "role_session_name",
    "external_id",
    "web_identity_token_file",
    "sso_session",
    "sso_start_url",
    "sso_account_id",
    "sso_role_name",
    "credential_process",
)
_AWS_DOMAINS = (".amazonaws.com", ".amazonaws.com.cn", ".api.aws", ".c2s.ic.gov", ".sc2s.sgov.gov")


class BotoConnection:
    def __init__(
        self, client: Any, identity: str, endpoint: str, region: str, errors: tuple[type[Exception], ...]
    ) -> None:
        self._client = client
        self._errors = errors  # botocore's, imported only when a token is needed
        self.identity = identity
        self.endpoint = endpoint
        self.region = region

    def get_authorization_token(self, registry_id: str | None) -> Authorization:
        params: dict[str, Any] = {"registryIds": [registry_id]} if registry_id else {}
        try:
            output = self._client.get_authorization_token(**params)
        except self._errors as exc:
            response = getattr(exc, "response", None)  # a ClientError: the service's code and message
            if isinstance(response, dict):
                error = response.get("Error", {})
                raise TokenFetchError(f"{error.get('Code', 'error')}: {error.get('Message', '')}") from None
            raise TokenFetchError(f"{type(exc).__name__}: {exc}") from None
        for data in output.get("authorizationData") or []:
            token, proxy, expires = (
                data.get(k) for k in ("authorizationToken", "proxyEndpoint", "expiresAt")
            )
            if isinstance(token, str) and isinstance(proxy, str) and isinstance(expires, datetime):
                if expires.tzinfo is None:
                    expires = expires.replace(tzinfo=UTC)
                return Authorization(token, expires, proxy)
        raise TokenFetchError("the answer carried no authorizationData")


class BotoBackend:
    """boto3 sessions: the standard AWS credential chain, ``AWS_PROFILE`` or the route's profile."""

    def connect(self, route: Route) -> Connection:
        import boto3  # type: ignore[import-untyped]
        import botocore.session  # type: ignore[import-untyped]
        from botocore.config import Config  # type: ignore[import-untyped]
        from botocore.exceptions import BotoCoreError, ClientError  # type: ignore[import-untyped]

        try:
            core = botocore.session.Session(profile=route.profile)
            credentials = core.get_credentials()
            if credentials is None:
                raise CredentialsNotFound("no AWS credentials were found")
            identity = credential_identity(core, credentials)
            region = (  # AWS_REGION as the other SDKs read it; botocore knows only AWS_DEFAULT_REGION
                route.region
                or os.environ.get("AWS_REGION")
                or core.get_config_variable("region")
                or DEFAULT_REGION
            )
            session = boto3.Session(botocore_session=core)
            config = Config(connect_timeout=5, read_timeout=20)
            if core.get_config_variable("max_attempts") is None:
                # Docker waits for the helper: a few quick retries unless AWS_MAX_ATTEMPTS says otherwise.
                config = config.merge(Config(retries={"max_attempts": 3}))
            client = session.client("ecr", region_name=region, endpoint_url=route.endpoint, config=config)
            endpoint = route.endpoint or str(client.meta.endpoint_url)
            if route.endpoint is None:
                default = session.client(
                    "ecr",
                    region_name=region,
                    config=config.merge(Config(ignore_configured_endpoint_urls=True)),
                )
                hostname = (urlsplit(endpoint).hostname or "").lower()
                if endpoint == default.meta.endpoint_url or hostname.endswith(_AWS_DOMAINS):
                    raise CredentialsNotFound(
                        f"no Dockyard endpoint: set {ENV_ENDPOINT}, list the host in the mapping file, "
                        "or configure endpoint_url for ECR in the AWS profile"
                    )
        except BotoCoreError as exc:
            raise CredentialsNotFound(f"AWS configuration: {type(exc).__name__}: {exc}") from None
        return BotoConnection(client, identity, endpoint.rstrip("/"), region, (BotoCoreError, ClientError))


def credential_identity(core: Any, credentials: Any) -> str:
    """Who the credentials are, for the cache key: the access key id of resolved credentials; for ones
    fetched only on first use (assumed roles, SSO, web identity), the configuration that defines them, so
    that a cached token is found without calling STS or SSO first."""
    from botocore.credentials import DeferredRefreshableCredentials  # type: ignore[import-untyped]

    if isinstance(credentials, DeferredRefreshableCredentials):
        scoped = core.get_scoped_config() or {}
        defining = {key: str(scoped[key]) for key in _DEFERRED_IDENTITY_KEYS if scoped.get(key)}
        for variable in ("AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_SESSION_NAME"):
            if os.environ.get(variable):
                defining[variable] = os.environ[variable]
        profile = core.get_config_variable("profile") or "default"
        return json.dumps(["deferred", credentials.method, profile, defining], sort_keys=True)
    return json.dumps(["key", credentials.get_frozen_credentials().access_key])


# ------------------------------------------------------------------------------------------------ helper


def short_identity(identity: str) -> str:
    return hashlib.sha256(identity.encode()).hexdigest()[:12]
