"""What every ``dockyard`` sub-command shares: its consoles and the options that mean the same everywhere."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

console = Console()
err_console = Console(stderr=True)

ConfigOption = Annotated[
    Path | None, typer.Option("--config", "-c", help="TOML config file (keys as in `Settings`).")
]
DataDirOption = Annotated[Path | None, typer.Option("--data-dir", help="Where SQLite and blobs live.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
AccountOption = Annotated[
    str | None,
    typer.Option("--account", help="The account the repository is in [default: the default account]."),
]
