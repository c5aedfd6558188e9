"""The credential-helper protocol's fixed words and messages, the settings' names, the errors."""

from __future__ import annotations

import logging
from datetime import timedelta

PROGRAM = "docker-credential-dockyard"
PACKAGE = "dockyard"

# The protocol's fixed messages (docker-credential-helpers, credentials/error.go): Docker matches the first
# one to tell "no credentials" (pull anonymously) from a failing helper.
NOT_FOUND = "credentials not found in native keychain"
MISSING_SERVER_URL = "no credentials server URL"
MISSING_USERNAME = "no credentials username"
USAGE = f"Usage: {PROGRAM} <store|get|erase|list|version>"

ENV_ENDPOINT = "DOCKYARD_ENDPOINT"
ENV_CONFIG = "DOCKYARD_CREDENTIAL_HELPER_CONFIG"
ENV_CACHE_DIR = "DOCKYARD_CREDENTIAL_HELPER_CACHE_DIR"
ENV_DISABLE_CACHE = "DOCKYARD_CREDENTIAL_HELPER_DISABLE_CACHE"
ENV_DEBUG = "DOCKYARD_CREDENTIAL_HELPER_DEBUG"

DEFAULT_REGION = "us-east-1"  # Dockyard's default region
REFRESH_MARGIN = timedelta(minutes=15)
CACHE_VERSION = 1

log = logging.getLogger("dockyard.credential_helper")


class HelperError(Exception):
    """Ends the action: its message goes to stdout and the exit status is 1, as the protocol has it."""


class CredentialsNotFound(HelperError):
    """No credentials for this server; ``reason`` is for the debug log only."""

    def __init__(self, reason: str) -> None:
        super().__init__(NOT_FOUND)
        self.reason = reason


# ------------------------------------------------------------------------------------------ host names
