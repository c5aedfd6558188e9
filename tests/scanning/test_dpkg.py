"""The dpkg cataloguer against real status databases (trivy, syft, osv-scalibr fixtures and this machine)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from debian.deb822 import Deb822

from dockyard.domain.scanning.inventory import DEB, OsInfo, Package
from dockyard.scanner.dpkg import DpkgCataloguer, licenses_from_copyright, parse_stanzas, parse_status
from dockyard.scanner.rootfs import DirRootFs
from shared_fixtures import FIXTURES

SYFT = FIXTURES / "syft"
UBUNTU = OsInfo("ubuntu", "18.04")
DEBIAN = OsInfo("debian", "12")
Row = tuple[str, str, str | None, str | None, str | None]


def _load(path: Path) -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = json.loads(path.read_text())
    return data


def _rows(packages: list[Package]) -> list[Row]:
    return sorted((p.name, p.version, p.arch, p.source_name, p.source_version) for p in packages)


def _syft_rows(*names: str) -> list[Row]:
    """Rows of syft/expected/<name>.json files (name, version, arch, sourceName, sourceVersion)."""
    expected = [e for name in names for e in _load(SYFT / "expected" / f"{name}.json")]
    return sorted((e["name"], e["version"], e["arch"], e["sourceName"], e["sourceVersion"]) for e in expected)


def _evr(entry: dict[str, Any], prefix: str = "") -> str:
    """Trivy splits versions into epoch, version and release; put them back together."""
    key = (lambda field: prefix + field[0].upper() + field[1:]) if prefix else (lambda field: field)
    version = entry[key("version")]
    if entry.get(key("release")):
        version += "-" + entry[key("release")]
    if entry.get(key("epoch")):
        version = f"{entry[key('epoch')]}:{version}"
    return version


def _trivy_rows(path: Path) -> list[Row]:
    rows = [(e["name"], _evr(e), e.get("arch"), e["srcName"], _evr(e, "src")) for e in _load(path)]
    return sorted(rows)


@pytest.mark.parametrize("case", ["valid", "third-party"])
def test_trivy_status_matches_upstream_expectations(case: str) -> None:
    root = FIXTURES / "trivy" / "dpkg" / case
    packages = DpkgCataloguer().catalogue(DirRootFs(root), UBUNTU)
    assert _rows(packages) == _trivy_rows(root / "expected-packages.json")
    assert all(p.type == DEB and p.path == "/var/lib/dpkg/status" for p in packages)


def test_trivy_valid_has_90_packages_and_ubuntu_purls() -> None:
    packages = DpkgCataloguer().catalogue(DirRootFs(FIXTURES / "trivy" / "dpkg" / "valid"), UBUNTU)
    assert len(packages) == 90
    by_name = {p.name: p for p in packages}
    assert by_name["apt"].purl == "pkg:deb/ubuntu/apt@1.6.3ubuntu0.1?arch=amd64&distro=ubuntu-18.04"
    bsdutils = by_name["bsdutils"]  # "Source: util-linux (2.31.1-0.4ubuntu3.1)": the source has no epoch
    assert (bsdutils.version, bsdutils.source_name, bsdutils.source_version) == (
        "1:2.31.1-0.4ubuntu3.1",
        "util-linux",
        "2.31.1-0.4ubuntu3.1",
    )
    assert by_name["libattr1"].source_version == "1:2.4.47-2build1"  # no version given: the binary's
    assert bsdutils.purl == (
        "pkg:deb/ubuntu/bsdutils@1:2.31.1-0.4ubuntu3.1?arch=amd64&distro=ubuntu-18.04"
        "&upstream=util-linux%402.31.1-0.4ubuntu3.1"
    )


def test_distroless_status_d_files_match_syft_expectations() -> None:
    packages = DpkgCataloguer().catalogue(DirRootFs(SYFT / "debian"), DEBIAN)
    status_d = [p for p in packages if p.path.startswith("/var/lib/dpkg/status.d/")]
    assert _rows(status_d) == _syft_rows(
        "debian_status.d_single",
        "debian_status.d_multiple",
        "debian_status.d_coreutils-relationships",
        "debian_status.d_deinstall",
        "debian_status.d_installed-size-4KB",
        "debian_status.d_libpam-runtime",
    )
    assert {p.path for p in packages} == {p.path for p in status_d}  # image-*/ trees are not the root
    libc6 = next(p for p in packages if p.name == "libc6")
    assert libc6.purl == "pkg:deb/debian/libc6@2.36-9%2Bdeb12u1?arch=arm64&distro=debian-12&upstream=glibc"


def test_deinstalled_stanza_is_skipped() -> None:
    root = SYFT / "debian"
    data = (root / "var/lib/dpkg/status.d/deinstall").read_bytes()
    names = [p.name for p in parse_status(data, "/var/lib/dpkg/status.d/deinstall", DEBIAN)]
    assert names == ["linux-image-6.14.0-1012-aws"]
    assert "linux-image-6.8.0-1029-aws" in data.decode()  # the config-files entry is really there


def test_image_with_copyright_gets_licenses_and_tolerates_empty_stanza() -> None:
    packages = DpkgCataloguer().catalogue(DirRootFs(SYFT / "debian" / "image-dpkg"), DEBIAN)
    assert _rows(packages) == _syft_rows("debian_image-dpkg_status")
    assert packages[0].licenses == ("GPL-1", "GPL-2", "LGPL-2.1")
    assert (
        packages[0].purl == "pkg:deb/debian/libpam-runtime@1.1.8-3.6?arch=all&distro=debian-12&upstream=pam"
    )


def test_distroless_image_skips_md5sums_and_reads_copyright() -> None:
    packages = DpkgCataloguer().catalogue(DirRootFs(SYFT / "debian" / "image-distroless-deb"), DEBIAN)
    assert _rows(packages) == _syft_rows("debian_image-distroless-deb_status.d_libsqlite3-0")
    assert packages[0].path == "/var/lib/dpkg/status.d/libsqlite3-0"
    # two License: fields plus the GPL-2 text the GPL-2+ paragraph points to
    assert packages[0].licenses == ("GPL-2", "GPL-2+", "public-domain")


def test_osv_scalibr_status() -> None:
    data = (FIXTURES / "osv-scalibr" / "dpkg" / "valid").read_bytes()
    packages = parse_status(data, "/var/lib/dpkg/status", DEBIAN)
    expected = _load(FIXTURES / "osv-scalibr" / "dpkg" / "valid.expected-packages.json")
    rows = sorted((e["name"], e["version"], e["arch"], e["sourceName"], e["sourceVersion"]) for e in expected)
    assert _rows(packages) == rows


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        (
            "liblzma5",
            (
                *("Autoconf", "GPL-2", "GPL-2+", "GPL-3", "LGPL-2", "LGPL-2.1", "LGPL-2.1+", "PD"),
                *(
                    "PD-debian",
                    "config-h",
                    "noderivs",
                    "permissive-fsf",
                    "permissive-nowarranty",
                    "probably-PD",
                ),
            ),
        ),
        ("libaudit-common", ("GPL-1", "GPL-2", "LGPL-2.1")),
        ("libc6", ()),  # free-form, not machine-readable
        ("trilicense", ()),  # no Format header
    ],
)
def test_copyright_licenses_as_syft_reads_them(fixture: str, expected: tuple[str, ...]) -> None:
    text = (SYFT / "debian" / "copyright" / fixture).read_text()
    assert licenses_from_copyright(text) == expected


def test_whitespace_line_then_junk_keeps_later_stanzas() -> None:
    """python-debian's deb822 loses ``y`` here (why the module parses by hand); we must not."""
    text = "Package: x\nVersion: 1\n  \nVersion 3\n\nPackage: y\nVersion: 2\n"
    library = [dict(p) for p in Deb822.iter_paragraphs(text.splitlines(keepends=True), use_apt_pkg=False)]
    assert "y" not in [p.get("Package") for p in library]
    assert [s.get("Package") for s in parse_stanzas(text)] == ["x", "y"]


def test_junk_bytes_and_broken_stanzas_are_skipped() -> None:
    data = (
        b"\x00\xff\xfe garbage line\n continuation without field\n\n"
        b"Package: good\nStatus: install ok installed\nVersion: 1.0-1\nArchitecture: amd64\n"
        b"Description: caf\xe9\n more\n\n"
        b"Package: no-version\nStatus: install ok installed\n\n"
        b"Version: 2.0\n\n"
        b"Package: half-installed\nStatus: install ok half-installed\nVersion: 1\n\n"
        b"Package: \nVersion: 3\n"
    )
    packages = parse_status(data, "/var/lib/dpkg/status", None)
    assert [(p.name, p.version, p.source_name) for p in packages] == [("good", "1.0-1", "good")]
    assert packages[0].purl == "pkg:deb/debian/good@1.0-1?arch=amd64"


def test_empty_root_has_no_packages(tmp_path: Path) -> None:
    assert DpkgCataloguer().catalogue(DirRootFs(tmp_path), None) == []


def test_wants_databases_and_copyright_files_only() -> None:
    wants = DpkgCataloguer().wants
    assert wants("/var/lib/dpkg/status", b"")
    assert wants("/var/lib/dpkg/status.d/libc6", b"")
    assert wants("/usr/share/doc/libc6/copyright", b"")
    assert not wants("/var/lib/dpkg/status.d/libc6.md5sums", b"")
    assert not wants("/var/lib/dpkg/status-old", b"")
    assert not wants("/var/lib/dpkg/info/libc6.list", b"")
    assert not wants("/usr/share/doc/libc6/changelog.Debian.gz", b"")


@pytest.mark.skipif(shutil.which("dpkg-query") is None, reason="this machine has no dpkg-query")
def test_this_machines_status_matches_dpkg_query(tmp_path: Path) -> None:
    status = Path("/var/lib/dpkg/status")
    if not status.is_file():
        pytest.skip("this machine has no dpkg status database")
    (tmp_path / "var/lib/dpkg").mkdir(parents=True)
    shutil.copyfile(status, tmp_path / "var/lib/dpkg/status")
    query = ["dpkg-query", "-W", "-f", "${db:Status-Status} ${Package} ${Version}\\n"]
    output = subprocess.run(query, check=True, capture_output=True, text=True).stdout
    lines = (line.split(" ") for line in output.splitlines())
    expected = sorted((name, version) for status_, name, version in lines if status_ == "installed")
    packages = DpkgCataloguer().catalogue(DirRootFs(tmp_path), None)
    assert sorted((p.name, p.version) for p in packages) == expected
    assert expected  # a machine with dpkg-query has installed packages
