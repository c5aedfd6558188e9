"""ECR Public: the ``ecr-public`` API (AWS JSON 1.1, ``SpencerFrontendService.<Op>``, signing name
``ecr-public``) and the public host ``public.<domain>`` (``/v2/`` behind Docker bearer tokens, ``/token``).

``build_public`` is called once by the composition root; it returns what to mount:

- ``endpoint``: the API, for the ``AwsRouter`` under ``ecr-public``;
- ``switch(private)``: the ``/v2`` app, sending the public host to the public router and every other host
  to ``private`` (the account registries);
- ``token``: the ``/token`` endpoint.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.types import ASGIApp

from dockyard.domain.identity import RegistryHosts
from dockyard.http.aws.endpoint import Authenticator, AwsEndpoint
from dockyard.http.ecr.api import MAX_BODY_BYTES, EcrEndpoint
from dockyard.http.ecr.auth import AccountResolver, EcrCaller, caller_authenticator
from dockyard.http.ecr.errors import ecr_error
from dockyard.http.ecr_public.handlers import EcrPublicHandlers
from dockyard.http.ecr_public.registry import PublicGate, PublicHostSwitch, TokenEndpoint
from dockyard.http.oci.router import OciRouter
from dockyard.http.oci.routes import OciApi
from dockyard.metadata.ecr_image_store import EcrImageStore
from dockyard.metadata.ecr_public_store import EcrPublicStore
from dockyard.metadata.ecr_store import EcrStore
from dockyard.ports import ChangeSignal, Clock
from dockyard.services.access import Access
from dockyard.services.ecr_public import EcrPublic, PublicConfig
from dockyard.services.ecr_public_access import BearerTokens, PublicAccess, PublicPasswordIssuer
from dockyard.services.ecr_tokens import PageTokens, SigningKey, TokenKeyRing
from dockyard.services.manifests import ManifestService
from dockyard.services.registry import RegistryPolicy, RegistryService
from dockyard.services.registry_access import UNASSIGNED_ACCOUNT, RegistryAccess

__all__ = ["PublicApi", "build_public"]


@dataclass
class PublicApi:
    endpoint: AwsEndpoint[EcrCaller]
    router: OciRouter
    token: TokenEndpoint
    public: EcrPublic
    access: PublicAccess
    config: PublicConfig

    def switch(self, private: ASGIApp) -> ASGIApp:
        return PublicHostSwitch(self.config.host, self.router, private)


@dataclass(frozen=True)
class PublicWiring:
    """What the composition root hands over: the shared engine, signal, clock, keys and services."""

    engine: AsyncEngine
    signal: ChangeSignal
    clock: Clock
    key: SigningKey
    key_ring: TokenKeyRing
    registry: RegistryService
    access: Access
    registry_access: RegistryAccess
    hosts: RegistryHosts
    authenticator: Authenticator[object]
    account_of: AccountResolver
    default_account: Callable[[], Awaitable[str]]


def build_public(wiring: PublicWiring, config: PublicConfig) -> PublicApi:
    w = wiring
    store = EcrPublicStore(w.engine, w.clock, w.signal)
    passwords = PublicPasswordIssuer(w.key_ring)
    public = EcrPublic(
        store,
        EcrImageStore(w.engine, w.clock, w.signal),
        EcrStore(w.engine, w.clock, w.signal, UNASSIGNED_ACCOUNT),  # for resource tags only
        w.clock,
        config,
        PageTokens(w.key),
        passwords,
        w.default_account,
    )
    access = PublicAccess(w.access, passwords, store, w.signal, w.clock)
    handlers = EcrPublicHandlers(public, access.authorize, access.keeps_control)
    endpoint = EcrEndpoint(
        service="ecr-public",
        handlers=handlers.handlers(),
        authenticator=caller_authenticator(w.authenticator, w.account_of),
        domain_errors=ecr_error,
        max_body_bytes=MAX_BODY_BYTES,
    )
    # The public host never creates a repository on push: ECR Public needs CreateRepository first.
    policy = RegistryPolicy(create_on_push=False, upload_expiry=w.registry.policy.upload_expiry)
    registry = RegistryService(w.registry.store, w.registry.blobs, w.clock, policy)
    tokens = BearerTokens(w.key, config.host)
    gate = PublicGate(access, tokens, w.registry_access, w.hosts)
    router = OciRouter(OciApi(registry, ManifestService(registry)), gate)
    return PublicApi(endpoint, router, TokenEndpoint(access, tokens), public, access, config)
