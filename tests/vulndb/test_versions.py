"""Each ecosystem's own version order. dpkg order is checked against python-debian's ``Version`` (random
versions) and against ``dpkg --compare-versions`` itself (samples)."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from debian.debian_support import Version as DebianPythonVersion
from hypothesis import given
from hypothesis import strategies as st

from dockyard.domain.vulns.versions import (
    APK,
    DPKG,
    MAVEN,
    PEP440,
    RPM,
    SEMVER,
    compare,
    order_of,
    parse_version,
)

UPSTREAM_CHARS = "0123456789abcXYZ.+~"
REVISION_CHARS = "0123456789abuntu.+~"

dpkg_versions = st.builds(
    lambda epoch, head, upstream, revision: (
        (f"{epoch}:" if epoch is not None else "") + head + upstream + (f"-{revision}" if revision else "")
    ),
    st.none() | st.integers(0, 3),
    st.sampled_from("0123456789"),
    st.text(UPSTREAM_CHARS, max_size=8),
    st.text(REVISION_CHARS, max_size=6).filter(lambda r: r == "" or r[0].isalnum()),
)


@given(dpkg_versions, dpkg_versions)
def test_dpkg_order_agrees_with_python_debian(left: str, right: str) -> None:
    a, b = DebianPythonVersion(left), DebianPythonVersion(right)
    expected = -1 if a < b else (0 if a == b else 1)
    assert compare(DPKG, left, right) == expected


DPKG_SAMPLES = [
    ("1.6.3ubuntu0.1", "1.6.6ubuntu0.1"),
    ("1:2.31.1-0.4ubuntu3.1", "2.31.1-0.4ubuntu3.7"),
    ("1.0~rc1-1", "1.0-1"),
    ("1.2.1-2.2+wheezy2", "1.2.1-2.2+wheezy3"),
    ("5:20.10.7~3-0~debian-buster", "5:20.10.7-0~debian-buster"),
    ("2.0", "2.0-0"),
    ("1.0+dfsg1-1", "1.0-1"),
    ("0.9.9.1~ubuntu3", "0.9.13~exp1ubuntu1"),
]


@pytest.mark.skipif(shutil.which("dpkg") is None, reason="dpkg is not installed")
@pytest.mark.parametrize(("left", "right"), DPKG_SAMPLES)
def test_dpkg_order_agrees_with_dpkg(left: str, right: str) -> None:
    def dpkg_says(operator: str) -> bool:
        return (
            subprocess.run(["dpkg", "--compare-versions", left, operator, right], check=False).returncode == 0
        )

    expected = -1 if dpkg_says("lt") else (0 if dpkg_says("eq") else 1)
    assert compare(DPKG, left, right) == expected


@pytest.mark.parametrize(
    ("order", "lower", "higher"),
    [
        (APK, "1.2.3-r9", "1.2.3-r10"),
        (APK, "1.35.0_rc1-r0", "1.35.0-r0"),
        (APK, "1.1.1q-r0", "1.1.1t-r0"),
        (RPM, "3.11.2-2.el9_2.2", "3.11.2-2.el9_2.10"),
        (RPM, "9.0-1.el9", "1:1.0-1.el9"),  # the epoch wins
        (RPM, "1.0~rc1-1", "1.0-1"),
        (PEP440, "2.0rc1", "2.0"),
        (PEP440, "2.7.1", "2.7.2"),
        (PEP440, "1.0", "1.0.post1"),
        (PEP440, "1.0.dev1", "1.0a1"),
        (SEMVER, "1.16.0-0", "1.16.0"),
        (SEMVER, "1.21.0-rc.2", "1.21.0"),
        (SEMVER, "v0.0.0-20200101000000-abcdef123456", "v0.1.0"),
        (MAVEN, "2.4", "2.5"),
        (MAVEN, "2.5-SNAPSHOT", "2.5"),
        (MAVEN, "1.0-alpha-1", "1.0-beta-1"),
    ],
)
def test_each_ecosystem_orders_its_own_versions(order: str, lower: str, higher: str) -> None:
    assert compare(order, lower, higher) == -1
    assert compare(order, higher, lower) == 1


def test_equal_spellings_compare_equal() -> None:
    assert compare(PEP440, "2.0", "2.0.0") == 0
    assert compare(MAVEN, "2.5.0", "2.5") == 0
    assert compare(RPM, "0:1.0-1", "1.0-1") == 0
    assert compare(SEMVER, "v1.2.3", "1.2.3") == 0


@pytest.mark.parametrize(
    ("order", "text"), [(DPKG, "abc"), (DPKG, ""), (APK, "1.0-r"), (PEP440, "not-a-version")]
)
def test_strings_that_are_no_version_of_the_order_parse_to_none(order: str, text: str) -> None:
    assert parse_version(order, text) is None
    assert compare(order, text, "1.0") is None


def test_orders_of_ecosystems() -> None:
    assert order_of("Ubuntu:Pro:18.04:LTS") == DPKG
    assert order_of("Debian:12") == DPKG
    assert order_of("Alpine:v3.18") == APK
    assert order_of("Red Hat:enterprise_linux:9::appstream") == RPM
    assert order_of("SUSE:Linux Enterprise Server 15 SP5") == RPM
    assert order_of("PyPI") == PEP440
    assert order_of("npm") == SEMVER
    assert order_of("Go") == SEMVER
    assert order_of("Maven") == MAVEN
    assert order_of("OSS-Fuzz") is None
