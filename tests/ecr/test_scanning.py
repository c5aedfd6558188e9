"""Image scanning over ECR's API with boto3: scan on push (repository setting and registry rules), the
scan-complete waiter, findings from a real Ubuntu 18.04 dpkg database and real Python metadata matched
against real OSV advisories (imported with ``dockyard vulndb import``), the summary in DescribeImages,
pagination, the on-demand quota, indexes, artifacts and hostile layers, and findings that follow the
database when a newer advisory is imported."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from typer.testing import CliRunner

from dockyard.cli import app as cli
from dockyard.config import Settings
from shared_fixtures import FIXTURES

from .support import (
    ACCOUNT,
    OCI_CONFIG,
    OCI_INDEX,
    OCI_LAYER,
    OCI_MANIFEST,
    Server,
    descriptor,
    digest_of,
    serve,
)

UBUNTU_STATUS = FIXTURES / "trivy/dpkg/valid/var/lib/dpkg/status"
FLASK_METADATA = (
    FIXTURES
    / "trivy/lang/python/pip/libs/python-dir/lib/python3.10/site-packages/Flask-2.0.0.dist-info/METADATA"
)
UBUNTU_OS_RELEASE = (
    'NAME="Ubuntu"\nVERSION="18.04.1 LTS (Bionic Beaver)"\nID=ubuntu\nID_LIKE=debian\n'
    'PRETTY_NAME="Ubuntu 18.04.1 LTS"\nVERSION_ID="18.04"\nVERSION_CODENAME=bionic\n'
)
ADVISORIES = [
    FIXTURES / "ubuntu-security-notices/osv/usn/USN-3863-1.json",
    FIXTURES / "pypa-advisory-database/vulns/flask",
]


def layer(files: dict[str, bytes], extra: list[tarfile.TarInfo] | None = None) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for info in extra or []:
            tar.addfile(info)
    return gzip.compress(raw.getvalue(), mtime=0)


def push(
    server: Server, repo: str, tag: str, layers: list[bytes], config: dict[str, Any] | None = None
) -> str:
    config_bytes = json.dumps(config or {"architecture": "amd64", "os": "linux", "rootfs": {}}).encode()
    for data in [config_bytes, *layers]:
        server.push_blob(repo, data)
    body = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": descriptor(OCI_CONFIG, config_bytes),
            "layers": [descriptor(OCI_LAYER, data) for data in layers],
        }
    ).encode()
    response = server.put_manifest(repo, tag, body)
    assert response.status_code == 201, response.text
    return digest_of(body)


def ubuntu_layers() -> list[bytes]:
    return [
        layer(
            {"etc/os-release": UBUNTU_OS_RELEASE.encode(), "var/lib/dpkg/status": UBUNTU_STATUS.read_bytes()}
        ),
        layer({"usr/lib/python3/dist-packages/Flask-2.0.0.dist-info/METADATA": FLASK_METADATA.read_bytes()}),
    ]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp("scan-data")
    (data_dir / "dockyard.db").write_bytes(sqlite_template.read_bytes())
    result = CliRunner().invoke(cli, ["vulndb", "import", "--data-dir", str(data_dir), *map(str, ADVISORIES)])
    assert result.exit_code == 0, result.output
    settings = Settings(
        data_dir=data_dir, access_log=False, scan_concurrency=1, scan_reevaluate_interval_seconds=0.5
    )
    with serve(settings) as running:
        yield running


def wait_scanned(ecr: Any, repo: str, digest: str) -> dict[str, Any]:
    waiter = ecr.get_waiter("image_scan_complete")
    waiter.wait(
        repositoryName=repo, imageId={"imageDigest": digest}, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
    )
    found: dict[str, Any] = ecr.describe_image_scan_findings(
        repositoryName=repo, imageId={"imageDigest": digest}
    )
    return found


def error_code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def attributes(finding: dict[str, Any]) -> dict[str, str]:
    return {a["key"]: a["value"] for a in finding["attributes"]}


def test_scan_on_push_finds_the_apt_and_flask_advisories(server: Server, ecr: Any, repo: str) -> None:
    ecr.put_image_scanning_configuration(repositoryName=repo, imageScanningConfiguration={"scanOnPush": True})
    digest = push(server, repo, "bionic", ubuntu_layers())
    found = wait_scanned(ecr, repo, digest)
    assert found["imageScanStatus"]["status"] == "COMPLETE"
    findings = found["imageScanFindings"]["findings"]
    by_advisory = {(attributes(f)["advisory_id"], attributes(f)["package_name"]) for f in findings}
    # apt 1.6.3ubuntu0.1 < fixed 1.6.6ubuntu0.1 (the fixture README's check); every binary of source apt
    apt = {pkg for advisory, pkg in by_advisory if advisory == "USN-3863-1"}
    assert "apt" in apt
    assert apt <= {"apt", "libapt-pkg5.0", "libapt-inst2.0", "apt-utils"}
    assert ("PYSEC-2023-62", "Flask") in by_advisory  # Flask 2.0.0 < 2.2.5
    assert ("PYSEC-2018-66", "Flask") not in by_advisory  # fixed in 0.12.3
    flask = next(f for f in findings if attributes(f)["advisory_id"] == "PYSEC-2023-62")
    assert flask["name"] == "CVE-2023-30861"
    assert attributes(flask)["fixed_in_version"] == "2.2.5"
    assert attributes(flask)["package_version"] == "2.0.0"
    counts = found["imageScanFindings"]["findingSeverityCounts"]
    assert sum(counts.values()) == len(findings)
    assert found["imageScanFindings"]["vulnerabilitySourceUpdatedAt"] is not None


def test_describe_images_carries_the_summary(server: Server, ecr: Any, repo: str) -> None:
    ecr.put_image_scanning_configuration(repositoryName=repo, imageScanningConfiguration={"scanOnPush": True})
    digest = push(server, repo, "bionic", ubuntu_layers())
    found = wait_scanned(ecr, repo, digest)
    detail = ecr.describe_images(repositoryName=repo)["imageDetails"][0]
    assert detail["imageScanStatus"]["status"] == "COMPLETE"
    summary = detail["imageScanFindingsSummary"]
    assert summary["findingSeverityCounts"] == found["imageScanFindings"]["findingSeverityCounts"]


def test_findings_page(server: Server, ecr: Any, repo: str) -> None:
    ecr.put_image_scanning_configuration(repositoryName=repo, imageScanningConfiguration={"scanOnPush": True})
    digest = push(server, repo, "bionic", ubuntu_layers())
    everything = wait_scanned(ecr, repo, digest)["imageScanFindings"]["findings"]
    assert len(everything) >= 3
    pages = ecr.get_paginator("describe_image_scan_findings").paginate(
        repositoryName=repo, imageId={"imageDigest": digest}, PaginationConfig={"PageSize": 2}
    )
    seen = [f for page in pages for f in page["imageScanFindings"]["findings"]]
    assert seen == everything


def test_no_scan_without_scan_on_push_then_on_demand_once_a_day(server: Server, ecr: Any, repo: str) -> None:
    digest = push(server, repo, "bionic", ubuntu_layers())
    with pytest.raises(ClientError) as missing:
        ecr.describe_image_scan_findings(repositoryName=repo, imageId={"imageDigest": digest})
    assert error_code(missing) == "ScanNotFoundException"
    started = ecr.start_image_scan(repositoryName=repo, imageId={"imageTag": "bionic"})
    assert started["imageScanStatus"]["status"] == "IN_PROGRESS"
    assert started["imageId"] == {"imageDigest": digest, "imageTag": "bionic"}
    assert wait_scanned(ecr, repo, digest)["imageScanStatus"]["status"] == "COMPLETE"
    with pytest.raises(ClientError) as quota:
        ecr.start_image_scan(repositoryName=repo, imageId={"imageDigest": digest})
    assert error_code(quota) == "LimitExceededException"


def test_registry_rules_take_precedence(server: Server, ecr: Any) -> None:
    for name in ("rules/scanned", "rules/other"):
        ecr.create_repository(repositoryName=name)
    ecr.put_image_scanning_configuration(
        repositoryName="rules/other", imageScanningConfiguration={"scanOnPush": True}
    )
    rules = [
        {
            "scanFrequency": "SCAN_ON_PUSH",
            "repositoryFilters": [{"filter": "rules/scan*", "filterType": "WILDCARD"}],
        }
    ]
    put = ecr.put_registry_scanning_configuration(scanType="BASIC", rules=rules)
    assert put["registryScanningConfiguration"] == {"scanType": "BASIC", "rules": rules}
    try:
        got = ecr.get_registry_scanning_configuration()["scanningConfiguration"]
        assert got == {"scanType": "BASIC", "rules": rules}
        configs = ecr.batch_get_repository_scanning_configuration(
            repositoryNames=["rules/scanned", "rules/other", "rules/missing"]
        )
        shown = {c["repositoryName"]: c for c in configs["scanningConfigurations"]}
        assert shown["rules/scanned"]["scanFrequency"] == "SCAN_ON_PUSH"
        assert shown["rules/scanned"]["appliedScanFilters"] == rules[0]["repositoryFilters"]
        assert shown["rules/other"]["scanFrequency"] == "MANUAL"
        assert shown["rules/other"]["scanOnPush"] is False
        assert configs["failures"][0]["repositoryName"] == "rules/missing"
        assert configs["failures"][0]["failureCode"] == "REPOSITORY_NOT_FOUND"
        scanned = push(server, "rules/scanned", "v1", ubuntu_layers())
        other = push(server, "rules/other", "v1", ubuntu_layers()[:1])
        assert wait_scanned(ecr, "rules/scanned", scanned)["imageScanStatus"]["status"] == "COMPLETE"
        with pytest.raises(ClientError) as missing:
            ecr.describe_image_scan_findings(repositoryName="rules/other", imageId={"imageDigest": other})
        assert error_code(missing) == "ScanNotFoundException"
    finally:
        ecr.put_registry_scanning_configuration(scanType="BASIC", rules=[])


def test_registry_configuration_refuses_what_basic_cannot_do(server: Server, ecr: Any) -> None:
    with pytest.raises(ClientError) as enhanced:
        ecr.put_registry_scanning_configuration(scanType="ENHANCED", rules=[])
    assert error_code(enhanced) == "InvalidParameterException"
    continuous = [
        {"scanFrequency": "CONTINUOUS_SCAN", "repositoryFilters": [{"filter": "*", "filterType": "WILDCARD"}]}
    ]
    with pytest.raises(ClientError) as frequency:
        ecr.put_registry_scanning_configuration(scanType="BASIC", rules=continuous)
    assert error_code(frequency) == "InvalidParameterException"


def test_an_index_points_at_its_platform_images(server: Server, ecr: Any, repo: str) -> None:
    amd64 = push(server, repo, "amd64", ubuntu_layers())
    manifest = server.http.get(f"/v2/{repo}/manifests/{amd64}").content
    index = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [
                descriptor(OCI_MANIFEST, manifest, platform={"os": "linux", "architecture": "amd64"})
            ],
        }
    ).encode()
    assert server.put_manifest(repo, "multi", index, OCI_INDEX).status_code == 201
    with pytest.raises(ClientError) as refused:
        ecr.start_image_scan(repositoryName=repo, imageId={"imageTag": "multi"})
    assert error_code(refused) == "UnsupportedImageTypeException"
    status = ecr.describe_image_scan_findings(repositoryName=repo, imageId={"imageTag": "multi"})[
        "imageScanStatus"
    ]
    assert status["status"] == "UNSUPPORTED_IMAGE"
    assert f"linux/amd64 {amd64}" in status["description"]


def test_an_artifact_is_not_an_image(server: Server, ecr: Any, repo: str) -> None:
    push(server, repo, "chart", [layer({"Chart.yaml": b"name: x\n"})], config=None)
    body = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": "application/vnd.example.thing",
            "config": descriptor("application/vnd.oci.empty.v1+json", b"{}"),
            "layers": [descriptor("application/vnd.example.thing.layer", b"thing")],
        }
    ).encode()
    server.push_blob(repo, b"{}")
    server.push_blob(repo, b"thing")
    assert server.put_manifest(repo, "thing", body).status_code == 201
    with pytest.raises(ClientError) as refused:
        ecr.start_image_scan(repositoryName=repo, imageId={"imageTag": "thing"})
    assert error_code(refused) == "UnsupportedImageTypeException"


def test_hostile_layers_fail_with_a_reason(server: Server, ecr: Any, repo: str) -> None:
    ecr.put_image_scanning_configuration(repositoryName=repo, imageScanningConfiguration={"scanOnPush": True})
    escape = tarfile.TarInfo("../../../../tmp/dockyard-escape")
    escape.size = 0
    digest = push(server, repo, "evil", [b"\x1f\x8b\x08\x00garbage, not a gzip stream"])
    found = wait_scanned_any(ecr, repo, digest)
    assert found["imageScanStatus"]["status"] == "FAILED"
    assert found["imageScanStatus"]["description"]
    assert "imageScanFindings" not in found
    traversal = push(server, repo, "traversal", [layer({}, [escape])])
    assert wait_scanned_any(ecr, repo, traversal)["imageScanStatus"]["status"] in {"COMPLETE", "FAILED"}
    assert not Path("/tmp/dockyard-escape").exists()


def wait_scanned_any(ecr: Any, repo: str, digest: str) -> dict[str, Any]:
    """The findings once the scan has ended, however it ended (the waiter treats FAILED as an error)."""
    for _ in range(120):
        found: dict[str, Any] = ecr.describe_image_scan_findings(
            repositoryName=repo, imageId={"imageDigest": digest}
        )
        if found["imageScanStatus"]["status"] != "IN_PROGRESS":
            return found
        time.sleep(0.5)
    raise AssertionError("the scan did not end")


def test_findings_follow_the_database(server: Server, ecr: Any, repo: str, tmp_path: Path) -> None:
    ecr.put_image_scanning_configuration(repositoryName=repo, imageScanningConfiguration={"scanOnPush": True})
    digest = push(server, repo, "bionic", ubuntu_layers())
    before = wait_scanned(ecr, repo, digest)["imageScanFindings"]
    assert not any(attributes(f)["package_name"] == "bsdutils" for f in before["findings"])
    # written for the test: a Ubuntu 18.04 advisory for util-linux (source of bsdutils 1:2.31.1-0.4ubuntu3.1)
    record = {
        "schema_version": "1.6.0",
        "id": "USN-9999-1",
        "summary": "util-linux vulnerability",
        "aliases": ["CVE-2099-0001"],
        "modified": "2026-11-01T00:00:00Z",
        "published": "2026-11-01T00:00:00Z",
        "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
        "affected": [
            {
                "package": {"ecosystem": "Ubuntu:18.04:LTS", "name": "util-linux"},
                "ranges": [
                    {"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2.31.1-0.4ubuntu3.7"}]}
                ],
            }
        ],
    }
    (tmp_path / "USN-9999-1.json").write_text(json.dumps(record))
    result = CliRunner().invoke(
        cli, ["vulndb", "import", "--data-dir", str(server.settings.data_dir), str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    for _ in range(120):
        after = ecr.describe_image_scan_findings(repositoryName=repo, imageId={"imageDigest": digest})
        findings = after["imageScanFindings"]["findings"]
        new = [f for f in findings if attributes(f)["advisory_id"] == "USN-9999-1"]
        if new:
            break
        time.sleep(0.5)
    assert {attributes(f)["package_name"] for f in new} >= {"bsdutils"}
    assert {f["severity"] for f in new} == {"CRITICAL"}
    assert new[0]["name"] == "CVE-2099-0001"
    counts = after["imageScanFindings"]["findingSeverityCounts"]
    assert counts.get("CRITICAL", 0) == len(new) + before["findingSeverityCounts"].get("CRITICAL", 0)


def test_cli_scan_lists_findings_and_exports_an_sbom(
    server: Server, ecr: Any, repo: str, tmp_path: Path
) -> None:
    digest = push(server, repo, "bionic", ubuntu_layers())
    data_dir = str(server.settings.data_dir)
    result = CliRunner().invoke(
        cli, ["scan", f"{repo}:bionic", "--data-dir", data_dir, "--account", ACCOUNT, "--json"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["imageDigest"] == digest
    assert report["status"] == "COMPLETE"
    assert {"PYSEC-2023-62", "USN-3863-1"} <= {f["advisory_id"] for f in report["findings"]}
    table = CliRunner().invoke(
        cli, ["scan", f"{repo}@{digest}", "--data-dir", data_dir, "--account", ACCOUNT]
    )
    assert table.exit_code == 0, table.output
    assert "CVE-2023-30861" in table.stdout
    spdx = tmp_path / "sbom.spdx.json"
    exported = CliRunner().invoke(
        cli,
        [
            "sbom",
            f"{repo}:bionic",
            "--format",
            "spdx",
            "-o",
            str(spdx),
            "--data-dir",
            data_dir,
            "--account",
            ACCOUNT,
        ],
    )
    assert exported.exit_code == 0, exported.output
    document = json.loads(spdx.read_text())
    assert document["spdxVersion"] == "SPDX-2.3"
    names = {p["name"] for p in document["packages"]}
    assert {"apt", "bsdutils", "Flask"} <= names


def test_sbom_over_http_and_attached_as_a_referrer(server: Server, ecr: Any, repo: str) -> None:
    digest = push(server, repo, "bionic", ubuntu_layers())
    unscanned = server.http.get(f"/dockyard/v1/sbom/{repo}/bionic")
    assert unscanned.status_code == 404
    assert unscanned.json()["errors"][0]["code"] == "SCAN_UNKNOWN"
    ecr.start_image_scan(repositoryName=repo, imageId={"imageDigest": digest})
    wait_scanned(ecr, repo, digest)
    response = server.http.get(f"/dockyard/v1/sbom/{repo}/bionic", params={"format": "cyclonedx"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/vnd.cyclonedx+json")
    bom = response.json()
    assert bom["specVersion"] == "1.6"
    assert any(c.get("purl", "").startswith("pkg:pypi/flask@2.0.0") for c in bom["components"])
    assert server.http.get(f"/dockyard/v1/sbom/{repo}/bionic", params={"format": "xml"}).status_code == 400
    assert server.http.get(f"/dockyard/v1/sbom/{repo}/nope").json()["errors"][0]["code"] == "MANIFEST_UNKNOWN"
    attached = server.http.post(f"/dockyard/v1/sbom/{repo}/{digest}", params={"format": "spdx"})
    assert attached.status_code == 201, attached.text
    referrers = server.http.get(f"/v2/{repo}/referrers/{digest}").json()["manifests"]
    assert [r["artifactType"] for r in referrers] == ["application/spdx+json"]
    assert referrers[0]["digest"] == attached.json()["digest"]
    again = server.http.post(f"/dockyard/v1/sbom/{repo}/{digest}", params={"format": "spdx"})
    assert again.json()["digest"] == attached.json()["digest"]  # deterministic: the same artifact
