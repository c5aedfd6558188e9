"""Scanning end to end: ``dockyard serve``, an image built by docker from this machine's own Debian package
database and a real Flask wheel's metadata, pushed with ``docker push`` to a scan-on-push repository set up
with the aws CLI; ``aws ecr wait image-scan-complete`` and ``aws ecr describe-image-scan-findings`` show the
findings with their severities and counts; importing a newer advisory with ``dockyard vulndb import``
changes them (no rescan: the stored inventory is re-matched).

The Debian advisories are written for the test (there is no real Debian OSV record for bookworm among the
fixtures): they name the source packages and versions installed on this machine, so the expectations hold on
any machine of this kind; the Flask advisories are the PyPA database's own.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aws_profile import aws_cli_env
from shared_fixtures import FIXTURES

from .support import BIN_DIR, ServerProcess, Tool, hermetic_environ, run, start_registry, stop

pytestmark = pytest.mark.e2e
FLASK = FIXTURES / "trivy/lang/python/pip/libs/python-dir/lib/python3.10/site-packages/Flask-2.0.0.dist-info"
REPO = "e2e/scanned"
CRITICAL = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"  # 9.8
HIGH = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H"  # 7.5


def installed(source: str) -> tuple[str, list[str]]:
    """This machine's version of a source package, and the binary packages built from it."""
    listing = subprocess.run(
        ["dpkg-query", "-W", "-f", "${source:Package} ${source:Version} ${Package}\n"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rows = [line.split() for line in listing.splitlines() if line.startswith(f"{source} ")]
    assert rows, f"{source} is not installed here"
    return rows[0][1], sorted(row[2] for row in rows)


def advisory(ident: str, source: str, fixed: str, vector: str, modified: str) -> dict[str, Any]:
    return {
        "schema_version": "1.6.0",
        "id": ident,
        "aliases": [ident.removeprefix("DEBIAN-")],
        "summary": f"{source}: a test vulnerability",
        "modified": modified,
        "published": "2026-01-01T00:00:00Z",
        "severity": [{"type": "CVSS_V3", "score": vector}],
        "affected": [
            {
                "package": {"ecosystem": "Debian:12", "name": source},
                "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fixed}]}],
            }
        ],
    }


@pytest.fixture
def server(tmp_path: Path, sqlite_template: Path) -> Iterator[ServerProcess]:
    root = tmp_path / "scanning"
    (root / "data").mkdir(parents=True)
    (root / "data" / "dockyard.db").write_bytes(sqlite_template.read_bytes())
    init = [BIN_DIR / "dockyard", "admin", "init", "--account-id", "777788889999", "--json"]
    created = json.loads(run([*init, "--data-dir", root / "data"], env=hermetic_environ()).stdout)
    (root / "keys.json").write_text(json.dumps(created))
    server = start_registry(root, environ={"DOCKYARD_SCAN_REEVALUATE_INTERVAL_SECONDS": "1"})
    try:
        yield server
    finally:
        server.registry.client.close()
        stop(server.process)


def aws(server: ServerProcess, home: Path, *args: str) -> Any:
    keys = json.loads((home.parent / "scanning" / "keys.json").read_text())
    env = aws_cli_env(home, server.registry.url, keys["access_key_id"], keys["secret_access_key"])
    return json.loads(run([BIN_DIR / "aws", "ecr", *args], env=env, timeout=180).stdout or "null")


def vulndb_import(server: ServerProcess, path: Path) -> None:
    run(
        [BIN_DIR / "dockyard", "vulndb", "import", path, "--data-dir", server.registry.data_dir],
        env=hermetic_environ(),
    )


def build_and_push(server: ServerProcess, docker: Tool, context: Path) -> str:
    rootfs = context / "rootfs"
    (rootfs / "etc").mkdir(parents=True)
    shutil.copy("/etc/os-release", rootfs / "etc" / "os-release")
    (rootfs / "var/lib/dpkg").mkdir(parents=True)
    shutil.copy("/var/lib/dpkg/status", rootfs / "var/lib/dpkg/status")
    shutil.copytree(FLASK, rootfs / "usr/local/lib/python3.11/site-packages" / FLASK.name)
    (context / "Dockerfile").write_text("FROM scratch\nCOPY rootfs/ /\n")
    ref = server.registry.ref(REPO, "bookworm")
    Tool(docker.argv, {**docker.env, "DOCKER_BUILDKIT": "0"})(
        "build", "--network", "none", "-t", ref, context
    )
    match = re.search(r"digest: (sha256:[0-9a-f]{64}) size: \d+", docker("push", ref).stdout)
    assert match
    return match.group(1)


def by_advisory(findings: list[dict[str, Any]]) -> dict[str, set[tuple[str, str]]]:
    found: dict[str, set[tuple[str, str]]] = {}
    for finding in findings:
        attributes = {a["key"]: a["value"] for a in finding["attributes"]}
        found.setdefault(attributes["advisory_id"], set()).add(
            (attributes["package_name"], finding["severity"])
        )
    return found


def test_docker_push_scan_on_push_findings_follow_the_database(
    server: ServerProcess, docker: Tool, tmp_path: Path
) -> None:
    bash_version, bash_binaries = installed("bash")
    zlib_version, zlib_binaries = installed("zlib")
    advisories = tmp_path / "advisories"
    advisories.mkdir()
    for record in (
        advisory(
            "DEBIAN-CVE-2099-1000", "bash", bash_version + "+deb12u99", CRITICAL, "2026-02-01T00:00:00Z"
        ),
        advisory("DEBIAN-CVE-2099-2000", "zlib", zlib_version + "+deb12u99", HIGH, "2026-02-01T00:00:00Z"),
    ):
        (advisories / f"{record['id']}.json").write_text(json.dumps(record))
    vulndb_import(server, advisories)
    vulndb_import(server, FIXTURES / "pypa-advisory-database/vulns/flask")

    home = tmp_path / "aws"
    home.mkdir()
    aws(server, home, "create-repository", "--repository-name", REPO)
    aws(
        server,
        home,
        "put-image-scanning-configuration",
        "--repository-name",
        REPO,
        "--image-scanning-configuration",
        "scanOnPush=true",
    )
    digest = build_and_push(server, docker, tmp_path / "context")
    image = ["--repository-name", REPO, "--image-id", f"imageDigest={digest}"]
    aws(server, home, "wait", "image-scan-complete", *image)
    found = aws(server, home, "describe-image-scan-findings", *image)
    assert found["imageScanStatus"]["status"] == "COMPLETE"
    findings = found["imageScanFindings"]["findings"]
    shown = by_advisory(findings)
    assert shown["DEBIAN-CVE-2099-1000"] == {(name, "CRITICAL") for name in bash_binaries}
    assert shown["DEBIAN-CVE-2099-2000"] == {(name, "HIGH") for name in zlib_binaries}
    assert ("Flask", "UNDEFINED") in shown["PYSEC-2023-62"]
    counts = found["imageScanFindings"]["findingSeverityCounts"]
    assert counts["CRITICAL"] == len(bash_binaries)
    assert counts["HIGH"] == len(zlib_binaries)
    assert sum(counts.values()) == len(findings)
    summary = aws(server, home, "describe-images", "--repository-name", REPO)["imageDetails"][0]
    assert summary["imageScanFindingsSummary"]["findingSeverityCounts"] == counts

    # Debian fixes bash in the installed version after all: a newer record narrows the range.
    fixed = advisory("DEBIAN-CVE-2099-1000", "bash", bash_version, CRITICAL, "2026-03-01T00:00:00Z")
    (advisories / "DEBIAN-CVE-2099-1000.json").write_text(json.dumps(fixed))
    vulndb_import(server, advisories / "DEBIAN-CVE-2099-1000.json")
    for _ in range(60):
        after = aws(server, home, "describe-image-scan-findings", *image)["imageScanFindings"]
        if "CRITICAL" not in after["findingSeverityCounts"]:
            break
        time.sleep(1)
    assert "DEBIAN-CVE-2099-1000" not in by_advisory(after["findings"])
    assert after["findingSeverityCounts"]["HIGH"] == len(zlib_binaries)
