from __future__ import annotations

from pathlib import Path

import pytest

from .support import Helper


@pytest.fixture
def helper(tmp_path: Path) -> Helper:
    home = tmp_path / "home"
    home.mkdir()
    return Helper(home)
