"""Run the ASGI app under the configured server (granian or uvicorn), in one or several workers.

Worker processes build the app from ``app_from_environment``; the parent hands them its settings as JSON
so every worker sees exactly what the parent resolved from flags, file and environment. ``dockyard serve``
has the whole CLI (and with it the app) imported; :func:`exec_run` replaces it by a fresh interpreter
running :func:`main`, so the process that only supervises the workers does not keep the app's ~90 MiB.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from dockyard.config import SETTINGS_ENV, Settings, handed_settings

TARGET = "dockyard.app:app_from_environment"


def exec_run(settings: Settings) -> None:
    """:func:`run` in this process's place (same pid, signals and output): a fresh ``python -m
    dockyard.server`` that reads the settings back from the environment; in this process when there is no
    interpreter to start."""
    if not sys.executable:
        run(settings)
        return
    os.environ[SETTINGS_ENV] = settings.model_dump_json()
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, "-m", "dockyard.server"])  # noqa: S606 (our own module, no input)


def main() -> None:
    from dockyard import logs

    settings = handed_settings()
    logs.configure(settings.log_level)
    run(settings)


def run(settings: Settings) -> None:
    os.environ[SETTINGS_ENV] = settings.model_dump_json()
    if settings.workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        metrics_dir = Path(tempfile.mkdtemp(prefix="dockyard-metrics-"))
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    if settings.server == "granian":
        _run_granian(settings)
    else:
        _run_uvicorn(settings)


def _run_granian(settings: Settings) -> None:
    from granian import Granian
    from granian.constants import Interfaces, Loops

    Granian(
        TARGET,
        factory=True,
        address=settings.host,
        port=settings.port,
        interface=Interfaces.ASGI,
        workers=settings.workers,
        loop=Loops.uvloop,
        log_enabled=True,
        log_access=False,
        ssl_cert=settings.tls_cert,
        ssl_key=settings.tls_key,
        workers_kill_timeout=int(settings.shutdown_timeout) or None,
        backlog=2048,
    ).serve()


def _run_uvicorn(settings: Settings) -> None:
    import uvicorn

    uvicorn.run(
        TARGET,
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level=settings.log_level,
        ssl_certfile=str(settings.tls_cert) if settings.tls_cert else None,
        ssl_keyfile=str(settings.tls_key) if settings.tls_key else None,
        timeout_graceful_shutdown=int(settings.shutdown_timeout) or None,
        backlog=2048,
    )


if __name__ == "__main__":
    main()
