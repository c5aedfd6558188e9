"""Fixtures the scanner tests share."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    """An empty directory for a scan's kept files."""
    path = tmp_path / "scratch"
    path.mkdir()
    return path
