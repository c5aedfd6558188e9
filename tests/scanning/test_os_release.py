"""OS detection against real release files (trivy, osv-scanner and syft fixtures)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from dockyard.domain.scanning.inventory import OsInfo
from dockyard.scanner.os_release import OS_FILES, detect_os, parse_assignments
from dockyard.scanner.rootfs import DirRootFs

from . import FIXTURES, FakeRootFs

RELEASES = FIXTURES / "trivy" / "os-release"

# Trivy reports OS *families*; OsInfo.id is os-release's ID as written. Where they differ, the ID from
# the fixture file is expected (the version always matches Trivy's).
ID_WHERE_TRIVY_NAMES_A_FAMILY = {
    "rhel": "rhel",
    "centos-stream": "centos",
    "alma": "almalinux",
    "oracle": "ol",
    "opensuseleap-42.3": "opensuse",
    "slemicro": "sle-micro",
    "slemicro6.0": "sl-micro",
    "slemicro-rancher": "sle-micro-rancher",
    "mariner-1.0": "mariner",
    "mariner-2.0": "mariner",
}


def _release_cases() -> list[Any]:
    cases = json.loads((RELEASES / "release" / "expected.json").read_text())
    return [pytest.param(case, id=case["file"]) for case in cases]


@pytest.mark.parametrize("case", _release_cases())
def test_os_release_files_match_trivys_expectations(case: dict[str, Any]) -> None:
    fs = FakeRootFs({"/etc/os-release": (RELEASES / "release" / case["file"]).read_bytes()})
    found = detect_os(fs)
    if case["family"] is None:
        assert found is None
        return
    assert found is not None
    assert found.id == ID_WHERE_TRIVY_NAMES_A_FAMILY.get(case["file"], case["family"])
    assert found.version_id == case["version"]


def test_alpine_with_a_stray_shell_prompt_line() -> None:
    found = detect_os(DirRootFs(FIXTURES / "osv-scanner" / "alpine-3.18"))
    assert found == OsInfo("alpine", "3.18.1", "Alpine Linux v3.18")


def test_debian_os_release_from_syft() -> None:
    found = detect_os(DirRootFs(FIXTURES / "syft" / "debian" / "image-dpkg"))
    assert found == OsInfo("debian", "12", "Debian GNU/Linux 12 (bookworm)", "bookworm")


@pytest.mark.parametrize(("folder", "version"), [("debian_9", "9.8"), ("debian_sid", "buster/sid")])
def test_debian_version(folder: str, version: str) -> None:
    assert detect_os(DirRootFs(RELEASES / "debian" / folder)) == OsInfo("debian", version)


def test_empty_debian_folder_gives_no_os() -> None:
    assert detect_os(DirRootFs(RELEASES / "debian" / "empty")) is None


def test_empty_debian_version_gives_no_os() -> None:
    assert detect_os(FakeRootFs({"/etc/debian_version": b"\n\n"})) is None


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("alma/almalinux-release", OsInfo("almalinux", "8.4")),
        ("centos/centos-release", OsInfo("centos", "7.6.1810")),
        ("fedora_29/fedora-release", OsInfo("fedora", "29")),
        ("oracle_7/oracle-release", OsInfo("ol", "7.6")),
        ("redhat_6/redhat-release", OsInfo("rhel", "6.2")),
        ("rocky/rocky-release", OsInfo("rocky", "8.4")),
    ],
)
def test_redhat_family_release_files(source: str, expected: OsInfo) -> None:
    path = RELEASES / "redhatbase" / source
    found = detect_os(FakeRootFs({f"/etc/{path.name}": path.read_bytes()}))
    assert found is not None
    assert (found.id, found.version_id) == (expected.id, expected.version_id)
    assert found.pretty_name == path.read_text().strip()


def test_centos_wins_over_its_redhat_release_copy() -> None:
    centos = (RELEASES / "redhatbase" / "centos" / "centos-release").read_bytes()
    fs = FakeRootFs(
        {"/etc/centos-release": centos, "/etc/redhat-release": centos, "/etc/system-release": centos}
    )
    found = detect_os(fs)
    assert found is not None
    assert found.id == "centos"


def test_not_a_redhat_release_gives_no_os() -> None:
    assert detect_os(FakeRootFs({"/etc/redhat-release": b""})) is None
    assert detect_os(FakeRootFs({"/etc/system-release": b"Amazing Linux 2\n"})) is None


def test_ubuntu_lsb_release() -> None:
    fs = FakeRootFs(
        {
            "/etc/lsb-release": (RELEASES / "ubuntu" / "lsb-release").read_bytes(),
            "/etc/debian_version": b"buster/sid\n",
        }
    )
    assert detect_os(fs) == OsInfo("ubuntu", "18.04", "Ubuntu 18.04.2 LTS", "bionic")


def test_usr_lib_os_release_is_the_fallback() -> None:
    fs = FakeRootFs({"/usr/lib/os-release": b"ID=debian\nVERSION_ID=12\n"})
    assert detect_os(fs) == OsInfo("debian", "12")


def test_etc_os_release_wins_over_usr_lib() -> None:
    fs = FakeRootFs(
        {
            "/etc/os-release": b"ID=alpine\nVERSION_ID=3.19.0\n",
            "/usr/lib/os-release": b"ID=debian\nVERSION_ID=12\n",
        }
    )
    assert detect_os(fs) == OsInfo("alpine", "3.19.0")


def test_os_release_without_a_version_falls_back_to_the_distribution_file() -> None:
    fs = FakeRootFs(
        {
            "/etc/os-release": b'PRETTY_NAME="Debian GNU/Linux trixie/sid"\nID=debian\n',
            "/etc/debian_version": b"trixie/sid\n",
        }
    )
    assert detect_os(fs) == OsInfo("debian", "trixie/sid")


def test_no_release_files_gives_no_os() -> None:
    assert detect_os(FakeRootFs({})) is None


def test_junk_is_tolerated() -> None:
    text = (
        "/ # cat /etc/os-release\n"
        "# a comment\n"
        "\n"
        "not an assignment\n"
        "export ID='alpine'\n"
        'VERSION_ID="3.20.1" # trailing comment\n'
        'PRETTY_NAME="unbalanced\n'
        "ID=ignored-second-value\n"
        "\x00\xff binary\n"
    )
    assert parse_assignments(text) == {"ID": "alpine", "VERSION_ID": "3.20.1", "PRETTY_NAME": "unbalanced"}
    found = detect_os(FakeRootFs({"/etc/os-release": text.encode("utf-8", "surrogateescape")}))
    assert found == OsInfo("alpine", "3.20.1", "unbalanced")


def test_a_huge_release_file_is_not_read() -> None:
    assert detect_os(FakeRootFs({"/etc/os-release": b"ID=debian\nVERSION_ID=12\n" + b"#" * 200_000})) is None


def test_os_files_name_every_file_detection_reads() -> None:
    assert "/etc/os-release" in OS_FILES
    assert "/usr/lib/os-release" in OS_FILES
    assert {"/etc/alpine-release", "/etc/lsb-release", "/etc/debian_version", "/etc/redhat-release"} <= set(
        OS_FILES
    )
    assert all(path.startswith("/") and Path(path).name for path in OS_FILES)
