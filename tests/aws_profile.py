"""An aws CLI profile for a Dockyard server under test, in a home directory of the test's own: the
environment the CLI runs with (nothing from the developer's ~/.aws, no instance metadata, one attempt)."""

from __future__ import annotations

import os
from pathlib import Path


def aws_cli_env(home: Path, url: str, key: str, secret: str, region: str = "us-east-1") -> dict[str, str]:
    """Write ``home``'s config and credentials for profile ``dockyard`` (endpoint ``url``); the env."""
    home.mkdir(parents=True, exist_ok=True)
    (home / "config").write_text(
        f"[profile dockyard]\nregion = {region}\noutput = json\nendpoint_url = {url}\nmax_attempts = 1\n"
    )
    (home / "credentials").write_text(
        f"[dockyard]\naws_access_key_id = {key}\naws_secret_access_key = {secret}\n"
    )
    return {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(home),
        "AWS_PROFILE": "dockyard",
        "AWS_CONFIG_FILE": str(home / "config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }
