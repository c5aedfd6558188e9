"""The composition root: the one place that picks adapters and wires services and wire formats."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

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

from dockyard.background import scan_worker, scheduler, settle_heap
from dockyard.blobstore.content import BlobStore
from dockyard.blobstore.filesystem import FilesystemDriver
from dockyard.blobstore.s3 import S3Config, S3Driver
from dockyard.clock import clock_from_environment
from dockyard.config import Settings, handed_settings
from dockyard.crypto import SecretBox
from dockyard.domain.gc import GcPolicy
from dockyard.domain.identity import RegistryHosts
from dockyard.http.aws.router import AwsRouter
from dockyard.http.ecr.api import EcrApi, build_ecr_endpoint
from dockyard.http.ecr_public import PublicApi, PublicWiring, build_public
from dockyard.http.ecs import EcsApi, build_ecs_endpoint
from dockyard.http.iam import iam_endpoint
from dockyard.http.iam.auth import AwsAuthenticator
from dockyard.http.logs import LogsApi, logs_endpoint
from dockyard.http.observability import Metrics, ObservabilityMiddleware
from dockyard.http.oci.auth import OciGate
from dockyard.http.oci.router import OciRouter
from dockyard.http.oci.routes import OciApi
from dockyard.http.sbom import SbomEndpoint
from dockyard.http.sts import UNSIGNED_ACTIONS, sts_endpoint
from dockyard.metadata.cache import CachedMetadataStore
from dockyard.metadata.ecr_store import EcrStore
from dockyard.metadata.ecs_store import EcsStore
from dockyard.metadata.engine import create_engine, database_url
from dockyard.metadata.gc_store import SqlGcStore
from dockyard.metadata.iam_policy_store import SqlPolicyStore
from dockyard.metadata.iam_store import SqlIdentityStore
from dockyard.metadata.key_store import SqlKeyStore
from dockyard.metadata.listener import ChangeListener, listener_dsn
from dockyard.metadata.migrate import upgrade
from dockyard.metadata.signal import ACCESS, DATA, CombinedSignal, FileChangeSignal
from dockyard.metadata.store import SqlMetadataStore
from dockyard.metadata.vulndb_store import VulnDbStore
from dockyard.ports import BlobDriver, ChangeSignal, Clock
from dockyard.services.access import Access, Caller
from dockyard.services.ecr_layers import DOWNLOAD_PATH
from dockyard.services.ecr_limits import RateLimitConfig
from dockyard.services.ecr_public import PublicConfig
from dockyard.services.ecr_tokens import HmacTokenIssuer, SigningKey, TokenKeyRing
from dockyard.services.ecs_types import EcsConfig
from dockyard.services.gc import GarbageCollector
from dockyard.services.identity import IdentityService
from dockyard.services.lifecycle import LifecycleConfig
from dockyard.services.manifests import ManifestService
from dockyard.services.registry import RegistryPolicy, RegistryService
from dockyard.services.registry_access import UNASSIGNED_ACCOUNT, RegistryAccess
from dockyard.services.sbom_export import SbomExport
from dockyard.services.scanning import ScanningConfig
from dockyard.services.server_keys import ServerKeys, placeholder_ring
from dockyard.services.sts import StsService
from dockyard.services.vulndb import VulnDb

log = logging.getLogger("dockyard")
IO_THREADS = 32  # worker threads for blob file I/O (the default executor), as many as anyio gave before


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
    access_signal: ChangeSignal  # moves when repositories, policies or settings change, not on pushes
    keys: Keys
    gc: GarbageCollector
    vulnerabilities: VulnDb

    async def close(self) -> None:
        await self.engine.dispose()


@dataclass
class Keys:
    """The registry-password key ring and the ECR signing key: from the data directory's files, or with
    PostgreSQL from the database (``shared``, loaded by :meth:`start` before the server answers), where
    replicas on other machines find them; ``listener`` carries other replicas' writes into the signal."""

    ring: TokenKeyRing
    signing: SigningKey
    shared: ServerKeys | None = None
    listener: ChangeListener | None = None

    async def start(self) -> None:
        if self.shared is not None:
            await self.shared.load()
        if self.listener is not None:
            shared = self.shared
            if shared is not None:
                self.listener.on_change("server_keys", lambda: _spawn(shared.reload()))
            await self.listener.start()

    async def stop(self) -> None:
        if self.listener is not None:
            await self.listener.stop()


_background: set[asyncio.Task[None]] = set()


def _spawn(work: Any) -> None:
    task = asyncio.ensure_future(work)
    _background.add(task)
    task.add_done_callback(_background.discard)


def blob_store(settings: Settings) -> BlobStore:
    """The configured blob driver under the content-addressed layer."""
    driver: BlobDriver
    if settings.storage == "s3":
        assert settings.s3_bucket is not None  # the settings validator requires it
        driver = S3Driver(
            S3Config(
                bucket=settings.s3_bucket,
                prefix=settings.s3_prefix,
                endpoint_url=settings.s3_endpoint_url,
                region=settings.s3_region,
                addressing_style=settings.s3_addressing_style,
                access_key_id=settings.s3_access_key_id,
                secret_access_key=settings.s3_secret_access_key,
                part_size=settings.s3_part_size_mib * 1024 * 1024,
            )
        )
    else:
        driver = FilesystemDriver(settings.blob_root)
    return BlobStore(driver, redirect=settings.redirect, url_ttl=settings.redirect_ttl_seconds)


def build_services(settings: Settings, clock: Clock | None = None) -> Services:
    """Adapters and use cases for ``settings`` (no I/O yet beyond creating the data directory)."""
    clock = clock or clock_from_environment()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    url = database_url(settings.database_url, settings.data_dir)
    engine = create_engine(url)
    signal_file = settings.data_dir / "change-signal"
    data_signal, access_signal = FileChangeSignal(signal_file, DATA), FileChangeSignal(signal_file, ACCESS)
    signal = CombinedSignal(data_signal, access_signal)  # for writes that change data and access alike
    keys = _keys(settings, engine, clock, url, {DATA: data_signal, ACCESS: access_signal})
    store = CachedMetadataStore(SqlMetadataStore(engine, clock), data_signal, access=access_signal)
    blobs = blob_store(settings)
    policy = RegistryPolicy(
        create_on_push=settings.create_on_push,
        upload_expiry=timedelta(hours=settings.upload_expiry_hours),
    )
    registry = RegistryService(store, blobs, clock, policy)
    identity, access, sts = _identity_services(settings, engine, clock, access_signal)
    registry_access = RegistryAccess(
        access,
        EcrStore(engine, clock, signal, UNASSIGNED_ACCOUNT),
        HmacTokenIssuer(keys.ring),
        access_signal,
        clock,
        region=settings.region,
        configured_default=settings.default_account,
    )
    manifests = ManifestService(registry)
    return Services(
        engine,
        registry,
        manifests,
        identity,
        access,
        sts,
        signal,
        clock,
        registry_access,
        access_signal,
        keys,
        GarbageCollector(SqlGcStore(engine, clock, data_signal), blobs, clock, gc_policy(settings)),
        VulnDb(VulnDbStore(engine, clock), clock),
    )


def gc_policy(settings: Settings) -> GcPolicy:
    """A tombstone older than a few leases was left by a run that stopped (its lease long lapsed)."""
    return GcPolicy(
        grace=timedelta(seconds=settings.gc_grace_seconds),
        orphan_after=timedelta(seconds=4 * settings.job_lease_seconds),
    )


def _keys(
    settings: Settings, engine: AsyncEngine, clock: Clock, url: str, signals: dict[int, ChangeSignal]
) -> Keys:
    """Keys in the data directory's files on SQLite; on PostgreSQL in the database, with a listener."""
    if engine.dialect.name != "postgresql":
        data_dir = settings.data_dir
        return Keys(TokenKeyRing.from_data_dir(data_dir), SigningKey.from_data_dir(data_dir))
    ring, signing = placeholder_ring(), SigningKey.generate()
    shared = ServerKeys(SqlKeyStore(engine, clock), SecretBox.from_data_dir(settings.data_dir), ring, signing)
    return Keys(ring, signing, shared, ChangeListener(listener_dsn(url), signals))


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


def aws_router(
    settings: Settings,
    services: Services,
    ecr: EcrApi,
    public: PublicApi | None = None,
    ecs: EcsApi | None = None,
    logs: LogsApi | None = None,
) -> AwsRouter:
    """The AWS-protocol APIs on ``/``, one endpoint per signing name; IAM and STS accept the configured
    region and us-east-1 (where botocore signs IAM by default)."""
    auth = AwsAuthenticator(services.access, services.identity.clock, {settings.region, "us-east-1"})
    router = AwsRouter(
        {
            "iam": iam_endpoint(services.identity, services.access, auth.authenticator("iam")),
            "sts": sts_endpoint(services.sts, auth.authenticator("sts", UNSIGNED_ACTIONS)),
            "ecr": ecr.endpoint,
            "logs": (logs or logs_api(settings, services)).endpoint,
        }
    )
    if public is not None:
        router.add("ecr-public", public.endpoint)
    if ecs is not None:
        router.add("ecs", ecs.endpoint)
    return router


def logs_api(settings: Settings, services: Services) -> LogsApi:
    """CloudWatch Logs (the agent ships containers' output there); callers sign for this region."""
    return logs_endpoint(services.engine, services.access, services.clock, settings.region)


def ecs_api(settings: Settings, services: Services) -> EcsApi:
    """ECS's API and the node agent's poll; callers authenticate by SigV4 in this region."""
    auth = AwsAuthenticator(services.access, services.clock, {settings.region})
    config = EcsConfig(
        settings.region,
        agent_timeout=timedelta(seconds=settings.ecs_agent_timeout_seconds),
        poll_interval=settings.ecs_poll_interval_seconds,
    )
    return build_ecs_endpoint(
        engine=services.engine,
        clock=services.clock,
        access=services.access,
        sts=services.sts,
        authenticator=auth.authenticator("ecs"),
        key=services.keys.signing,
        config=config,
    )


def public_api(settings: Settings, services: Services, hosts: RegistryHosts) -> PublicApi:
    """ECR Public: its API (signed for the configured region or us-east-1, where ECR Public lives) and the
    public host ``public.<domain>``, over the same registry model as the private registries."""
    auth = AwsAuthenticator(services.access, services.clock, {settings.region, "us-east-1"})

    async def account_of(caller: Caller) -> str:
        return caller.account

    wiring = PublicWiring(
        engine=services.engine,
        signal=services.signal,
        clock=services.clock,
        key=services.keys.signing,
        key_ring=services.keys.ring,
        registry=services.registry,
        access=services.access,
        registry_access=services.registry_access,
        hosts=hosts,
        authenticator=auth.authenticator("ecr-public"),
        account_of=account_of,
        default_account=services.registry_access.default_account,
    )
    return build_public(wiring, PublicConfig(settings.domain, settings.public_alias))


def ecr_api(settings: Settings, services: Services) -> EcrApi:
    """ECR's control plane over the same registry model; callers authenticate by SigV4 in this region."""
    auth = AwsAuthenticator(services.access, services.clock, {settings.region})

    async def account_of(caller: Caller) -> str:
        return caller.account

    api = build_ecr_endpoint(
        engine=services.engine,
        signal=services.signal,
        registry=services.registry,
        manifests=services.manifests,
        clock=services.clock,
        key=services.keys.signing,
        authenticator=auth.authenticator("ecr"),
        authorizer=services.registry_access.authorize,
        account_of=account_of,
        region=settings.region,
        domain=settings.domain,
        default_account=settings.default_account or UNASSIGNED_ACCOUNT,
        rate_limits=RateLimitConfig.parse(settings.ecr_rate_limits),
        issuer=services.registry_access.issuer,
        policy_guard=services.registry_access.keeps_control,
        settings_signal=services.access_signal,
        lifecycle=lifecycle_config(settings),
        vulnerabilities=services.vulnerabilities,
        scanning=ScanningConfig(timedelta(hours=settings.scan_on_demand_interval_hours)),
    )
    api.lifecycle.in_use = EcsStore(services.engine, services.clock).images_in_use  # running tasks' images
    return api


def lifecycle_config(settings: Settings) -> LifecycleConfig:
    return LifecycleConfig(
        allow_keep_rules=settings.lifecycle_keep_rules,
        orphan_grace=timedelta(hours=settings.lifecycle_orphan_grace_hours),
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
        # Blob file I/O runs in the loop's default executor (``asyncio.to_thread``); its default size
        # (CPUs + 4) would queue concurrent uploads and ranged reads behind each other on a small machine.
        asyncio.get_running_loop().set_default_executor(
            ThreadPoolExecutor(IO_THREADS, thread_name_prefix="dockyard-io")
        )
        if run_migrations:
            await upgrade(services.engine)
        await services.keys.start()
        await services.identity.seed()  # the AWS managed policies (idempotent, any process may)
        jobs = scheduler(settings, services, ecr, logs.logs)
        await jobs.start()
        scans = scan_worker(settings, services, ecr)
        _app.state.scan_worker = scans  # an ECR API built beside this one (the tests') rings it too
        if settings.scan_concurrency:
            await scans.start()
        settle_heap()
        try:
            yield
        finally:
            await scans.stop()
            scans.runner.close()
            await jobs.stop()
            await services.keys.stop()
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

    public = public_api(settings, services, hosts)
    router = public.switch(ecr.throttle_oci(OciRouter(oci, gate), throttled_account))
    registry_api = [Mount("/v2", app=router), Route("/v2", router)]
    ecs = ecs_api(settings, services)
    logs = logs_api(settings, services)
    aws = aws_router(settings, services, ecr, public, ecs, logs)
    sboms = SbomEndpoint(SbomExport(ecr.scanning, services.manifests), gate)
    app = Starlette(
        routes=[
            *ops,
            *registry_api,
            *sboms.routes(),
            Route(DOWNLOAD_PATH, ecr.downloads, methods=["GET", "HEAD"]),
            Route("/token", public.token.handle, methods=["GET"]),
            *ecs.routes(),
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


def app_from_environment() -> Starlette:
    """Factory for server worker processes: settings arrive as JSON from ``dockyard serve``."""
    settings = handed_settings()
    from dockyard.logs import configure

    configure(settings.log_level)
    return create_app(settings, run_migrations=False)
