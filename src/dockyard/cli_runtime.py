"""What the ``dockyard`` sub-commands that work on the data share: settings from the usual sources (a bad
config is a usage error), then the services on a migrated database for one action, closed afterwards, with
registry errors printed as ``error: ...`` and exit status 1."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import typer

from dockyard.app import Services, build_services, migrate
from dockyard.cli_options import err_console
from dockyard.config import Settings, load_settings
from dockyard.domain.errors import RegistryError

T = TypeVar("T")


def settings_or_exit(config: Path | None, **overrides: Any) -> Settings:
    try:
        return load_settings(config, **overrides)
    except (FileNotFoundError, ValueError) as exc:
        raise typer.BadParameter(str(exc)) from None


def with_services(settings: Settings, action: Callable[[Services], Awaitable[T]]) -> T:
    """``action(services)`` on a migrated database; a :class:`RegistryError` ends it with status 1."""

    async def run() -> T:
        await migrate(settings)
        services = build_services(settings)
        try:
            return await action(services)
        finally:
            await services.close()

    try:
        return asyncio.run(run())
    except RegistryError as exc:
        err_console.print(f"error: {exc.text}", style="red")
        raise typer.Exit(1) from None
