"""The composition root: the one place that picks adapters and wires services and wire formats."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.types import Scope

from dockyard.blobstore.content import BlobStore
from dockyard.blobstore.filesystem import FilesystemDriver
from dockyard.clock import SystemClock
from dockyard.config import SETTINGS_ENV, Settings, settings_from_json
from dockyard.crypto import SecretBox
from dockyard.domain.identity import RegistryHosts
from dockyard.http.aws.router import AwsRouter
from dockyard.http.ecr.api import EcrApi, build_ecr_endpoint
from dockyard.http.iam import iam_endpoint
from dockyard.http.iam.auth import AwsAuthenticator
from dockyard.http.observability import Metrics, ObservabilityMiddleware
from dockyard.http.oci.auth import OciGate
from dockyard.http.oci.router import OciRouter
from dockyard.http.oci.routes import OciApi
from dockyard.http.sts import UNSIGNED_ACTIONS, sts_endpoint
from dockyard.metadata.cache import CachedMetadataStore
from dockyard.metadata.ecr_store import EcrStore
from dockyard.metadata.engine import create_engine, database_url
from dockyard.metadata.iam_policy_store import SqlPolicyStore
from dockyard.metadata.iam_store import SqlIdentityStore
from dockyard.metadata.migrate import upgrade
from dockyard.metadata.signal import ACCESS, DATA, CombinedSignal, FileChangeSignal
from dockyard.metadata.store import SqlMetadataStore
from dockyard.ports import ChangeSignal, Clock
from dockyard.services.access import Access, Caller
from dockyard.services.ecr_layers import DOWNLOAD_PATH
from dockyard.services.ecr_limits import RateLimitConfig
from dockyard.services.ecr_tokens import HmacTokenIssuer, SigningKey, TokenKeyRing
from dockyard.services.identity import IdentityService
from dockyard.services.manifests import ManifestService
from dockyard.services.registry import RegistryPolicy, RegistryService
from dockyard.services.registry_access import UNASSIGNED_ACCOUNT, RegistryAccess
from dockyard.services.sts import StsService

log = logging.getLogger("dockyard")
EXPIRY_INTERVAL_SECONDS = 600.0
SESSION_GRACE = timedelta(days=1)  # expired sessions are kept a day, so their keys answer ExpiredToken


@dataclass
class Services:
    engine: AsyncEngine
    registry: RegistryService
    manifests: ManifestService
    identity: IdentityService
    access: Access
    sts: StsService
    signal: ChangeSignal
    clock: Clock
    registry_access: RegistryAccess

    async def close(self) -> None:
        await self.engine.dispose()


def build_services(settings: Settings, clock: Clock | None = None) -> Services:
    """Adapters and use cases for ``settings`` (no I/O yet beyond creating the data directory)."""
    clock = clock or SystemClock()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = create_engine(database_url(settings.database_url, settings.data_dir))
    signal_file = settings.data_dir / "change-signal"
    data_signal, access_signal = FileChangeSignal(signal_file, DATA), FileChangeSignal(signal_file, ACCESS)
    signal = CombinedSignal(data_signal, access_signal)  # for writes that change data and access alike
    store = CachedMetadataStore(SqlMetadataStore(engine, clock), data_signal, access=access_signal)
    blobs = BlobStore(FilesystemDriver(settings.blob_root))
    policy = RegistryPolicy(
        create_on_push=settings.create_on_push,
        upload_expiry=timedelta(hours=settings.upload_expiry_hours),
    )
    registry = RegistryService(store, blobs, clock, policy)
    identity, access, sts = _identity_services(settings, engine, clock, access_signal)
    registry_access = RegistryAccess(
        access,
        EcrStore(engine, clock, signal, UNASSIGNED_ACCOUNT),
        HmacTokenIssuer(TokenKeyRing.from_data_dir(settings.data_dir)),
        access_signal,
        clock,
        region=settings.region,
        configured_default=settings.default_account,
    )
    manifests = ManifestService(registry)
    return Services(engine, registry, manifests, identity, access, sts, signal, clock, registry_access)


def _identity_services(
    settings: Settings, engine: AsyncEngine, clock: Clock, signal: ChangeSignal
) -> tuple[IdentityService, Access, StsService]:
    """IAM and STS on the same engine; secrets sealed with the server keys (``crypto``); every identity
    write bumps the shared change signal, so each process drops its credential and policy caches."""
    box = SecretBox.from_data_dir(settings.data_dir)
    if settings.database_url and box.path is not None:
        log.warning("secret keys come from the data directory; set DOCKYARD_SECRET_KEYS on every machine")
    identity = IdentityService(
        SqlIdentityStore(engine, clock), SqlPolicyStore(engine, clock), box, clock, signal
    )
    access = Access(identity, signal)
    return identity, access, StsService(access)


def aws_router(settings: Settings, services: Services, ecr: EcrApi) -> AwsRouter:
    """The AWS-protocol APIs on ``/``, one endpoint per signing name; IAM and STS accept the configured
    region and us-east-1 (where botocore signs IAM by default)."""
    auth = AwsAuthenticator(services.access, services.identity.clock, {settings.region, "us-east-1"})
    return AwsRouter(
        {
            "iam": iam_endpoint(services.identity, services.access, auth.authenticator("iam")),
            "sts": sts_endpoint(services.sts, auth.authenticator("sts", UNSIGNED_ACTIONS)),
            "ecr": ecr.endpoint,
        }
    )


def ecr_api(settings: Settings, services: Services) -> EcrApi:
    """ECR's control plane over the same registry model; callers authenticate by SigV4 in this region."""
    auth = AwsAuthenticator(services.access, services.clock, {settings.region})

    async def account_of(caller: Caller) -> str:
        return caller.account

    return build_ecr_endpoint(
        engine=services.engine,
        signal=services.signal,
        registry=services.registry,
        manifests=services.manifests,
        clock=services.clock,
        key=SigningKey.from_data_dir(settings.data_dir),
        authenticator=auth.authenticator("ecr"),
        authorizer=services.registry_access.authorize,
        account_of=account_of,
        region=settings.region,
        domain=settings.domain,
        default_account=settings.default_account or UNASSIGNED_ACCOUNT,
        rate_limits=RateLimitConfig.parse(settings.ecr_rate_limits),
        issuer=services.registry_access.issuer,
        policy_guard=services.registry_access.keeps_control,
    )


async def migrate(settings: Settings) -> None:
    services = build_services(settings)
    try:
        await upgrade(services.engine)
    finally:
        await services.close()


def create_app(settings: Settings, *, clock: Clock | None = None, run_migrations: bool = True) -> Starlette:
    services = build_services(settings, clock)
    metrics = Metrics(CollectorRegistry())
    oci = OciApi(services.registry, services.manifests)

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        if run_migrations:
            await upgrade(services.engine)
        expiry = asyncio.create_task(_expire_uploads(services.registry))
        try:
            async with _identity_upkeep(services.identity):
                yield
        finally:
            expiry.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await expiry
            await services.close()

    async def healthz(_request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(_request: Request) -> Response:
        async with services.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        return JSONResponse({"status": "ready"})

    async def metrics_endpoint(_request: Request) -> Response:
        registry = metrics.registry
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return Response(generate_latest(registry), media_type="text/plain; version=0.0.4")

    ops = [
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics_endpoint),
    ]
    ecr = ecr_api(settings, services)
    hosts = RegistryHosts(settings.domain, settings.default_account)
    gate = OciGate(services.registry_access, hosts, enabled=settings.auth == "iam")
    fallback = settings.default_account or UNASSIGNED_ACCOUNT

    def throttled_account(scope: Scope) -> str:
        host = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"host"), "")
        return hosts.account_for_host(host) or fallback

    router = ecr.throttle_oci(OciRouter(oci, gate), throttled_account)
    registry_api = [Mount("/v2", app=router), Route("/v2", router)]
    aws = aws_router(settings, services, ecr)
    app = Starlette(
        routes=[
            *ops,
            *registry_api,
            Route(DOWNLOAD_PATH, ecr.downloads, methods=["GET", "HEAD"]),
            Route("/", aws),
        ],
        lifespan=lifespan,
        exception_handlers={HTTPException: _http_error},
    )
    app.state.services = services
    app.state.aws = aws
    app.add_middleware(ObservabilityMiddleware, metrics=metrics, access_log=settings.access_log)
    return app


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return JSONResponse({"error": exc.detail}, exc.status_code)


async def _expire_uploads(registry: RegistryService) -> None:
    while True:
        await asyncio.sleep(EXPIRY_INTERVAL_SECONDS)
        try:
            removed = await registry.expire_uploads()
            if removed:
                log.info("expired uploads", extra={"count": removed})
        except Exception:
            log.exception("upload expiry failed")


@contextlib.asynccontextmanager
async def _identity_upkeep(identity: IdentityService) -> AsyncIterator[None]:
    """The AWS managed policies seeded (idempotent, any process may), expired STS sessions swept."""
    await identity.seed()
    sweeper = asyncio.create_task(_expire_sessions(identity))
    try:
        yield
    finally:
        sweeper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sweeper


async def _expire_sessions(identity: IdentityService) -> None:
    while True:
        await asyncio.sleep(EXPIRY_INTERVAL_SECONDS)
        try:
            await identity.store.delete_expired_sessions(identity.clock.now() - SESSION_GRACE)
        except Exception:
            log.exception("session expiry failed")


def app_from_environment() -> Starlette:
    """Factory for server worker processes: settings arrive as JSON from ``dockyard serve``."""
    raw = os.environ.get(SETTINGS_ENV)
    settings = settings_from_json(raw) if raw else Settings()
    from dockyard.logs import configure

    configure(settings.log_level)
    return create_app(settings, run_migrations=False)
