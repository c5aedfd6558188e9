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

from dockyard.blobstore.content import BlobStore
from dockyard.blobstore.filesystem import FilesystemDriver
from dockyard.clock import SystemClock
from dockyard.config import SETTINGS_ENV, Settings, settings_from_json
from dockyard.http.observability import Metrics, ObservabilityMiddleware
from dockyard.http.oci.router import OciRouter
from dockyard.http.oci.routes import OciApi
from dockyard.metadata.cache import CachedMetadataStore
from dockyard.metadata.engine import create_engine, database_url
from dockyard.metadata.migrate import upgrade
from dockyard.metadata.signal import FileChangeSignal
from dockyard.metadata.store import SqlMetadataStore
from dockyard.ports import Clock
from dockyard.services.manifests import ManifestService
from dockyard.services.registry import RegistryPolicy, RegistryService

log = logging.getLogger("dockyard")
EXPIRY_INTERVAL_SECONDS = 600.0


@dataclass
class Services:
    engine: AsyncEngine
    registry: RegistryService
    manifests: ManifestService

    async def close(self) -> None:
        await self.engine.dispose()


def build_services(settings: Settings, clock: Clock | None = None) -> Services:
    """Adapters and use cases for ``settings`` (no I/O yet beyond creating the data directory)."""
    clock = clock or SystemClock()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = create_engine(database_url(settings.database_url, settings.data_dir))
    signal = FileChangeSignal(settings.data_dir / "change-signal")
    store = CachedMetadataStore(SqlMetadataStore(engine, clock), signal)
    blobs = BlobStore(FilesystemDriver(settings.blob_root))
    policy = RegistryPolicy(
        create_on_push=settings.create_on_push,
        upload_expiry=timedelta(hours=settings.upload_expiry_hours),
    )
    registry = RegistryService(store, blobs, clock, policy)
    return Services(engine, registry, ManifestService(registry))


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
    router = OciRouter(oci)
    registry_api = [Mount("/v2", app=router), Route("/v2", router)]
    app = Starlette(
        routes=[*ops, *registry_api], lifespan=lifespan, exception_handlers={HTTPException: _http_error}
    )
    app.state.services = services
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


def app_from_environment() -> Starlette:
    """Factory for server worker processes: settings arrive as JSON from ``dockyard serve``."""
    raw = os.environ.get(SETTINGS_ENV)
    settings = settings_from_json(raw) if raw else Settings()
    from dockyard.logs import configure

    configure(settings.log_level)
    return create_app(settings, run_migrations=False)
