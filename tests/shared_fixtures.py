"""Where the real-data fixtures are: ``../shared/fixtures`` beside the checkout (the workplace's layout), or
``DOCKYARD_FIXTURES``. A checkout elsewhere (a clone in /tmp) finds them through the environment variable or
by looking up its parent directories; if they are nowhere, the tests that need them fail saying so."""

from __future__ import annotations

import os
from pathlib import Path

ENV = "DOCKYARD_FIXTURES"


def _locate() -> Path:
    given = os.environ.get(ENV)
    if given:
        return Path(given)
    repo = Path(__file__).resolve().parents[1]
    for parent in repo.parents:
        candidate = parent / "shared" / "fixtures"
        if (candidate / "README.md").is_file():
            return candidate
    raise RuntimeError(f"the shared fixtures are not beside this checkout ({repo}); set {ENV}")


FIXTURES = _locate()
