"""``build_ecr_endpoint``: the ECR control plane over the registry's own services, ready to mount.

The composition root calls it once and mounts what it returns: ``api.endpoint`` (an
:class:`~dockyard.http.aws.endpoint.AwsEndpoint`, for ``POST /`` or an ``AwsRouter`` under the signing
name ``ecr``), ``api.downloads`` on :data:`~dockyard.services.ecr_layers.DOWNLOAD_PATH`, and optionally
``api.throttle_oci(router)`` around the ``/v2/`` router. Building it also hooks ECR into the manifest
service the ``/v2/`` API uses: tag immutability on every manifest push, pull times on every manifest read.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Scope

from dockyard.http.aws.endpoint import AwsEndpoint
from dockyard.http.aws.errors import AwsError
from dockyard.http.aws.model import ParamValidationError
from dockyard.http.ecr.auth import AccountResolver, Authenticator, Authorizer, EcrCaller, caller_authenticator
from dockyard.http.ecr.downloads import LayerDownloads
from dockyard.http.ecr.errors import ecr_error
from dockyard.http.ecr.handlers import EcrHandlers, PolicyGuard
from dockyard.http.ecr.lifecycle_handlers import LifecycleHandlers
from dockyard.http.ecr.scan_handlers import ScanHandlers
from dockyard.http.ecr.throttle import OciThrottle
from dockyard.metadata.ecr_image_store import EcrImageStore
from dockyard.metadata.ecr_store import EcrStore
from dockyard.metadata.lifecycle_store import LifecycleStore
from dockyard.metadata.scan_inventory import ScanInventoryStore
from dockyard.metadata.scan_store import ScanStore
from dockyard.ports import ChangeSignal, Clock, VulnerabilityDatabase
from dockyard.services.ecr import EcrConfig, EcrRepositories
from dockyard.services.ecr_images import EcrImages, PullRecorder
from dockyard.services.ecr_layers import DOWNLOAD_PATH, EcrLayers
from dockyard.services.ecr_limits import RateLimitConfig, RateLimiter
from dockyard.services.ecr_tokens import HmacTokenIssuer, PageTokens, SigningKey, TokenIssuer, UrlSigner
from dockyard.services.lifecycle import Lifecycle, LifecycleConfig
from dockyard.services.manifests import ManifestService
from dockyard.services.registry import RegistryService
from dockyard.services.scanning import Scanning, ScanningConfig

# ECR's JSON bodies are small but a part upload carries up to 20 MiB of base64 (~27 MiB).
MAX_BODY_BYTES = 32 * 1024 * 1024


class EcrEndpoint(AwsEndpoint[EcrCaller]):
    """The AWS endpoint, answering a failed model constraint as ECR does: ``InvalidParameterException``
    ("Invalid parameter at 'repositoryName' failed to satisfy constraint: 'must have length less than or
    equal to 256'"), where Coral's generic layer would say ``ValidationException``."""

    async def _serve(self, request: Request, request_id: str) -> Response:
        try:
            return await super()._serve(request, request_id)
        except ParamValidationError as exc:
            raise AwsError("InvalidParameterException", invalid_parameter_message(exc), 400) from None


def invalid_parameter_message(exc: ParamValidationError) -> str:
    texts = []
    for problem in exc.problems:
        constraint = problem.constraint.removeprefix("Member ")
        constraint = constraint.replace("regular expression pattern: ", "regular expression ")
        texts.append(f"Invalid parameter at '{problem.path}' failed to satisfy constraint: '{constraint}'")
    return "; ".join(texts) or exc.message


@dataclass
class EcrApi:
    endpoint: AwsEndpoint[EcrCaller]
    downloads: LayerDownloads
    repositories: EcrRepositories
    images: EcrImages
    layers: EcrLayers
    limiter: RateLimiter
    issuer: TokenIssuer
    config: EcrConfig
    lifecycle: Lifecycle
    scanning: Scanning

    def routes(self) -> list[BaseRoute]:
        """``POST /`` (the API) and the layer download path, for a Starlette route list."""
        return [
            Route("/", self.endpoint, methods=["POST"]),
            Route(DOWNLOAD_PATH, self.downloads, methods=["GET", "HEAD"]),
        ]

    def throttle_oci(self, app: ASGIApp, account_of: Callable[[Scope], str] | None = None) -> ASGIApp:
        """``app`` (the ``/v2/`` router) under the same rate limits; until ``/v2/`` authenticates callers,
        its requests count against the default account."""
        default = self.config.default_account
        return OciThrottle(app, self.limiter, account_of or (lambda _scope: default))


def build_ecr_endpoint(
    *,
    engine: AsyncEngine,
    signal: ChangeSignal,
    registry: RegistryService,
    manifests: ManifestService,
    clock: Clock,
    key: SigningKey,
    authenticator: Authenticator,
    authorizer: Authorizer,
    account_of: AccountResolver,
    region: str,
    domain: str,
    default_account: str,
    rate_limits: RateLimitConfig | None = None,
    issuer: TokenIssuer | None = None,
    download_lifetime: timedelta = timedelta(minutes=10),
    policy_guard: PolicyGuard | None = None,
    settings_signal: ChangeSignal | None = None,
    lifecycle: LifecycleConfig | None = None,
    vulnerabilities: VulnerabilityDatabase,
    scanning: ScanningConfig | None = None,
) -> EcrApi:
    config = EcrConfig(region, domain, default_account, download_lifetime=download_lifetime)
    pages = PageTokens(key)
    issuer = issuer or HmacTokenIssuer(key)
    store = EcrStore(engine, clock, signal, default_account)
    image_store = EcrImageStore(engine, clock, signal)
    repositories = EcrRepositories(store, clock, config, pages, issuer, settings_signal or signal)
    pulls = PullRecorder(image_store, clock)
    images = EcrImages(repositories, image_store, manifests, pages, pulls)
    signer = UrlSigner(key)
    layers = EcrLayers(repositories, store, registry, clock, config, signer)
    limiter = RateLimiter(rate_limits or RateLimitConfig())
    policies = Lifecycle(
        repositories, LifecycleStore(engine, clock, signal), clock, lifecycle or LifecycleConfig()
    )
    settings = settings_signal or signal
    stores = (ScanStore(engine, clock, settings), ScanInventoryStore(engine, clock))
    scans = Scanning(
        repositories,
        images,
        registry,
        stores,
        vulnerabilities,
        clock,
        pages,
        scanning or ScanningConfig(),
        settings,
    )
    scan_handlers = ScanHandlers(scans)
    extra = LifecycleHandlers(policies, pages).operations() | scan_handlers.operations()
    handlers = EcrHandlers(repositories, images, layers, authorizer, limiter, policy_guard, extra)
    handlers.image_extras = scan_handlers.image_details
    manifests.tag_rules = repositories
    manifests.pull_listeners.append(pulls)
    manifests.push_listeners.append(scans.on_push)
    endpoint = EcrEndpoint(
        service="ecr",
        handlers=handlers.handlers(),
        authenticator=caller_authenticator(authenticator, account_of),
        domain_errors=ecr_error,
        max_body_bytes=MAX_BODY_BYTES,
    )
    downloads = LayerDownloads(registry, signer, clock)
    return EcrApi(endpoint, downloads, repositories, images, layers, limiter, issuer, config, policies, scans)


def fixed_account(account: str) -> Callable[[Any], Awaitable[str]]:
    """An account resolver that puts every caller in ``account`` (until identity is wired in)."""

    async def resolve(_identity: Any) -> str:
        return account

    return resolve
