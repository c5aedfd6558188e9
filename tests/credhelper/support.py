"""Running ``docker-credential-dockyard`` as Docker does: a subprocess, one action word, stdin, stdout."""

from __future__ import annotations

import base64
import io
import json
import os
import socket
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from unittest import mock

import botocore.session  # type: ignore[import-untyped]

from dockyard.credential_helper import (
    DEFAULT_REGION,
    Authorization,
    CachedToken,
    TokenCache,
    cache_key,
    credential_identity,
    main,
)

BIN = Path(sys.executable).parent
HELPER = str(BIN / "docker-credential-dockyard")
DOCKYARD = str(BIN / "dockyard")
ACCESS_KEY = "AKIAHELPERTEST000001"
SECRET_KEY = "helper-test-secret-key-that-must-never-be-printed"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def dead_endpoint() -> str:
    """A loopback URL on which nothing listens: every call to it is refused at once."""
    return f"http://127.0.0.1:{free_port()}"


def hermetic_environ(home: Path) -> dict[str, str]:
    """The test process's environment without AWS, Dockyard or XDG settings, with ``home`` as HOME, no
    AWS config files and no instance metadata lookups (no traffic leaves the loopback interface)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DOCKYARD_", "XDG_"))}
    env.update(
        HOME=str(home),
        AWS_CONFIG_FILE=str(home / "no-aws-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(home / "no-aws-credentials"),
        AWS_EC2_METADATA_DISABLED="true",
        AWS_MAX_ATTEMPTS="1",
    )
    return env


def login_token(password: str, username: str = "AWS") -> str:
    return base64.b64encode(f"{username}:{password}".encode()).decode()


def key_identity(access_key: str, secret_key: str = SECRET_KEY) -> str:
    """The helper's credential identity for static keys."""
    core = botocore.session.Session()
    core.set_credentials(access_key, secret_key)
    return credential_identity(core, core.get_credentials())


@dataclass
class Helper:
    """The console script with a private HOME; ``env`` applies to every run."""

    home: Path
    env: dict[str, str] = field(default_factory=dict)

    @property
    def cache_dir(self) -> Path:
        return self.home / ".cache" / "dockyard" / "credential-helper"

    def run(self, *args: str, stdin: str = "", **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [HELPER, *args],
            input=stdin,
            env={**hermetic_environ(self.home), **self.env, **env},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def call(self, *args: str, stdin: str = "", **env: str) -> subprocess.CompletedProcess[str]:
        """The same as :meth:`run`, but ``main()`` in this process: fast, for the many variants."""
        out, err = io.StringIO(), io.StringIO()
        fake_stdin = io.TextIOWrapper(io.BytesIO(stdin.encode()))
        environ = {**hermetic_environ(self.home), **self.env, **env}
        with (
            mock.patch.dict(os.environ, environ, clear=True),
            mock.patch.object(sys, "stdin", fake_stdin),
            redirect_stdout(out),
            redirect_stderr(err),
        ):
            code = main(list(args))
        return subprocess.CompletedProcess([HELPER, *args], code, out.getvalue(), err.getvalue())

    def with_keys(self, endpoint: str, access_key: str = ACCESS_KEY, secret_key: str = SECRET_KEY) -> Helper:
        self.env.update(
            AWS_ACCESS_KEY_ID=access_key, AWS_SECRET_ACCESS_KEY=secret_key, DOCKYARD_ENDPOINT=endpoint
        )
        return self

    def put_cached(
        self,
        host: str,
        endpoint: str,
        password: str,
        expires_in: timedelta,
        *,
        lifetime: timedelta = timedelta(hours=12),
        access_key: str = ACCESS_KEY,
        region: str = DEFAULT_REGION,
    ) -> Path:
        """Write the cache entry the helper would have written for ``host`` (as if fetched earlier)."""
        now = datetime.now(UTC)
        expires = now + expires_in
        entry = CachedToken(
            host, Authorization(login_token(password), expires, f"https://{host}"), expires - lifetime
        )
        key = cache_key(host, endpoint, region, key_identity(access_key))
        TokenCache(self.cache_dir).save(key, entry)
        return self.cache_dir / f"{key}.json"

    def cached(self) -> list[dict[str, object]]:
        if not self.cache_dir.is_dir():
            return []
        return [json.loads(path.read_text()) for path in sorted(self.cache_dir.glob("*.json"))]
