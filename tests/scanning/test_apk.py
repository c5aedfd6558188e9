"""The apk cataloguer against real ``installed`` databases (trivy, syft, osv-scalibr fixtures)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dockyard.domain.scanning.inventory import APK, OsInfo, Package
from dockyard.scanner.apk import INSTALLED, ApkCataloguer, parse_installed
from dockyard.scanner.rootfs import DirRootFs
from shared_fixtures import FIXTURES

ALPINE = OsInfo("alpine", "3.16.0")
Row = tuple[str, str, str | None, str | None, tuple[str, ...]]


def _rows(packages: list[Package]) -> list[Row]:
    return [(p.name, p.version, p.arch, p.source_name, p.licenses) for p in packages]


def _expected(path: Path) -> list[Row]:
    entries = json.loads(path.read_text())
    return [(e["name"], e["version"], e["arch"], e["origin"], (e["license"],)) for e in entries]


def test_trivy_database_matches_expectations() -> None:
    root = FIXTURES / "trivy" / "apk"
    packages = ApkCataloguer().catalogue(DirRootFs(root), OsInfo("alpine", "3.4.6"))
    assert _rows(packages) == _expected(root / "expected-packages.json")
    assert len(packages) == 15
    assert "invalidPackageWithoutAVersion" in (root / "lib/apk/db/installed").read_text()
    test = next(p for p in packages if p.name == "test")
    assert test.source_name == "test-parent"
    assert all(p.type == APK and p.path == INSTALLED for p in packages)


def test_syft_multiple_matches_expectations_with_purls() -> None:
    root = FIXTURES / "syft" / "alpine" / "multiple-2"
    packages = ApkCataloguer().catalogue(DirRootFs(root), ALPINE)
    assert _rows(packages) == _expected(
        FIXTURES / "syft" / "expected" / "alpine_multiple-2_lib_apk_db_installed.json"
    )
    assert len(packages) == 14
    by_name = {p.name: p for p in packages}
    assert by_name["musl"].purl == "pkg:apk/alpine/musl@1.2.3-r0?arch=x86_64&distro=alpine-3.16.0"
    assert by_name["libcrypto1.1"].purl == (
        "pkg:apk/alpine/libcrypto1.1@1.1.1q-r0?arch=x86_64&distro=alpine-3.16.0&upstream=openssl"
    )
    assert by_name["busybox"].version == "1.35.0-r17"


@pytest.mark.parametrize("name", ["base", "single", "empty-deps-and-provides", "extra-file-attributes"])
def test_syft_single_record_databases(name: str) -> None:
    data = (FIXTURES / "syft" / "alpine" / name).read_bytes()
    packages = parse_installed(data, INSTALLED, ALPINE)
    assert _rows(packages) == _expected(FIXTURES / "syft" / "expected" / f"alpine_{name}.json")


def test_osv_scalibr_database() -> None:
    data = (FIXTURES / "osv-scalibr" / "apk" / "installed").read_bytes()
    packages = parse_installed(data, INSTALLED, ALPINE)
    assert _rows(packages) == _expected(FIXTURES / "osv-scalibr" / "apk" / "installed.expected-packages.json")


def test_without_os_the_namespace_is_alpine_and_there_is_no_distro() -> None:
    packages = parse_installed(b"P:zlib\nV:1.2.13-r0\nA:aarch64\nL:Zlib\n", INSTALLED, None)
    assert [p.purl for p in packages] == ["pkg:apk/alpine/zlib@1.2.13-r0?arch=aarch64"]
    assert packages[0].source_name == "zlib"  # no o: field - the package is its own origin


def test_junk_records_are_skipped() -> None:
    data = (
        b"\xff\xfe\x00garbage\nP\nV:\n:\n\n"
        b"P:no-version\nA:x86_64\n\n"
        b"V:1.0-r0\n\n"
        b"P:ok\nV:2.0-r1\nP:second-name-ignored\n\n\n\n"
    )
    assert [(p.name, p.version) for p in parse_installed(data, INSTALLED, ALPINE)] == [("ok", "2.0-r1")]


def test_wants_only_the_database(tmp_path: Path) -> None:
    cataloguer = ApkCataloguer()
    assert cataloguer.wants(INSTALLED, b"")
    assert not cataloguer.wants("/lib/apk/db/scripts.tar", b"")
    assert cataloguer.catalogue(DirRootFs(tmp_path), ALPINE) == []
