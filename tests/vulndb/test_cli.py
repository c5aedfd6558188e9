"""``dockyard vulndb import`` and ``dockyard vulndb status`` on a data directory."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner, Result

from dockyard.cli import app as cli

from .conftest import DSA, GHSA, USN


def dockyard_vulndb(data_dir: Path, *args: str, expect: int = 0) -> Result:
    result = CliRunner().invoke(cli, ["vulndb", *args, "--data-dir", str(data_dir)])
    assert result.exit_code == expect, result.output
    return result


def test_import_then_status(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    broken = tmp_path / "broken.json"
    broken.write_text('{"id": "X-1"}')
    done = dockyard_vulndb(data_dir, "import", str(USN), str(DSA), str(broken))
    assert "imported" in done.stdout
    assert "rejected records" in done.stdout
    assert "no modified time" in done.stdout
    assert "generation 2" in done.stdout
    rows = json.loads(dockyard_vulndb(data_dir, "import", "--json", str(USN), str(GHSA), str(broken)).stdout)
    assert [(r["imported"], r["unchanged"], r["rejected"]) for r in rows] == [(0, 1, 0), (1, 0, 0), (0, 0, 1)]
    assert rows[-1]["rejections"] == [{"source": str(broken), "reason": "no modified time"}]
    assert rows[-1]["generation"] == 3
    assert rows[-1]["updated_at"] == "2025-07-16T04:42:25+00:00"
    status = json.loads(dockyard_vulndb(data_dir, "status", "--json").stdout)
    assert status["total"] == 3
    assert status["generation"] == 3
    assert status["ecosystems"] == {
        "Debian:7": 1,
        "Maven": 1,
        "Ubuntu:14.04": 1,
        "Ubuntu:16.04": 1,
        "Ubuntu:18.04": 1,
    }
    assert (status["last_import"]["path"], status["last_import"]["rejected"]) == (str(broken), 1)
    table = dockyard_vulndb(data_dir, "status").stdout
    assert "Ubuntu:18.04" in table
    assert "generation 3" in table


def test_import_of_a_missing_path_is_refused(tmp_path: Path) -> None:
    result = dockyard_vulndb(tmp_path / "data", "import", str(tmp_path / "missing.json"), expect=2)
    assert "does not exist" in result.output
