"""How an image's packages are named in OSV terms, and how advisories' ecosystems are normalised to meet
them."""

from __future__ import annotations

from typing import Any

import pytest

from dockyard.domain.scanning.inventory import APK, DEB, GOLANG, MAVEN, NPM, PYPI, RPM, OsInfo, Package
from dockyard.domain.vulns.ecosystems import (
    MatchQuery,
    go_release_semver,
    match_ecosystem,
    match_name,
    query_for,
)

UBUNTU_1804 = OsInfo("ubuntu", "18.04", codename="bionic")
DEBIAN_12 = OsInfo("debian", "12", codename="bookworm")
ALPINE_318 = OsInfo("alpine", "3.18.1")


def package(kind: str, name: str, version: str, **extra: Any) -> Package:
    return Package(kind, name, version, purl=f"pkg:{kind}/{name}@{version}", path="/x", **extra)


def ecosystem(package: Package, os: OsInfo) -> str | None:
    query = query_for(package, os)
    return None if query is None else query.ecosystem


def test_deb_on_ubuntu_uses_the_source_package_and_the_release() -> None:
    bsdutils = package(DEB, "bsdutils", "1:2.31.1-0.4ubuntu3.1", source_name="util-linux")
    assert query_for(bsdutils, UBUNTU_1804) == MatchQuery(
        "Ubuntu:18.04", "util-linux", "1:2.31.1-0.4ubuntu3.1"
    )
    apt = package(DEB, "apt", "1.6.3ubuntu0.1")
    assert query_for(apt, UBUNTU_1804) == MatchQuery("Ubuntu:18.04", "apt", "1.6.3ubuntu0.1")


def test_deb_on_debian_uses_the_major_release_or_the_codename() -> None:
    libssl = package(
        DEB, "libssl3", "3.0.11-1~deb12u2", source_name="openssl", source_version="3.0.11-1~deb12u2"
    )
    assert query_for(libssl, DEBIAN_12) == MatchQuery("Debian:12", "openssl", "3.0.11-1~deb12u2")
    assert query_for(libssl, OsInfo("debian", "9.8")) == MatchQuery("Debian:9", "openssl", "3.0.11-1~deb12u2")
    assert ecosystem(libssl, OsInfo("debian", "buster/sid")) == "Debian:10"
    assert ecosystem(libssl, OsInfo("debian", "", codename="trixie")) == "Debian:13"
    assert query_for(libssl, OsInfo("debian", "", codename="sid")) is None
    assert query_for(libssl, None) is None
    assert query_for(libssl, OsInfo("linuxmint", "21")) is None


def test_apk_uses_the_origin_and_the_release_branch() -> None:
    libcrypto = package(APK, "libcrypto3", "3.1.1-r1", source_name="openssl")
    assert query_for(libcrypto, ALPINE_318) == MatchQuery("Alpine:v3.18", "openssl", "3.1.1-r1")
    assert query_for(libcrypto, OsInfo("debian", "12")) is None


def test_rpm_distributions() -> None:
    sudo = package(RPM, "sudo", "1.9.5p2-9.el9", source_name="sudo")
    libuuid = package(RPM, "libuuid", "2.32.1-42.el8_8", source_name="util-linux")
    assert query_for(sudo, OsInfo("rhel", "9.4")) == MatchQuery("Red Hat:9", "sudo", "1.9.5p2-9.el9")
    assert query_for(libuuid, OsInfo("rocky", "8.4")) == MatchQuery(
        "Rocky Linux:8", "libuuid", "2.32.1-42.el8_8"
    )
    assert ecosystem(libuuid, OsInfo("almalinux", "8.4")) == "AlmaLinux:8"
    glibc = package(RPM, "glibc", "2.31-9.3.2", source_name="glibc")
    assert query_for(glibc, OsInfo("sles", "15.3")) == MatchQuery("SUSE:15.3", "glibc", "2.31-9.3.2")
    assert ecosystem(glibc, OsInfo("sles", "15")) == "SUSE:15.0"
    assert ecosystem(glibc, OsInfo("opensuse-leap", "15.5")) == "openSUSE:Leap 15.5"
    assert query_for(glibc, OsInfo("cbl-mariner", "2.0")) is None


def test_language_packages() -> None:
    assert query_for(package(PYPI, "Typing_Extensions", "4.4.0"), None) == MatchQuery(
        "PyPI", "typing-extensions", "4.4.0"
    )
    assert query_for(package(NPM, "parser", "7.23.6", namespace="babel"), None) == MatchQuery(
        "npm", "@babel/parser", "7.23.6"
    )
    assert query_for(package(NPM, "@babel/parser", "7.23.6"), None) == MatchQuery(
        "npm", "@babel/parser", "7.23.6"
    )
    assert query_for(package(MAVEN, "apache-any23", "2.4", namespace="org.apache.any23"), None) == MatchQuery(
        "Maven", "org.apache.any23:apache-any23", "2.4"
    )
    assert query_for(package(MAVEN, "no-group", "1.0"), None) is None
    assert query_for(package(GOLANG, "golang.org/x/net", "v0.7.0"), None) == MatchQuery(
        "Go", "golang.org/x/net", "0.7.0"
    )
    assert query_for(package(GOLANG, "stdlib", "go1.19.8"), None) == MatchQuery("Go", "stdlib", "1.19.8")
    assert query_for(package(GOLANG, "example.com/m", "(devel)"), None) is None
    assert query_for(package("gem", "rails", "7.0.0"), None) is None


@pytest.mark.parametrize(
    ("version", "semver"),
    [
        ("go1.19.8", "1.19.8"),
        ("go1.21", "1.21.0"),
        ("go1.21rc2", "1.21.0-rc.2"),
        ("go1", "1.0.0"),
        ("devel", None),
    ],
)
def test_go_toolchain_versions(version: str, semver: str | None) -> None:
    assert go_release_semver(version) == semver


@pytest.mark.parametrize(
    ("ecosystem", "normalised"),
    [
        ("Ubuntu:18.04:LTS", "Ubuntu:18.04"),
        ("Ubuntu:Pro:14.04:LTS", "Ubuntu:14.04"),
        ("Ubuntu:Pro:18.04", "Ubuntu:18.04"),
        ("Ubuntu:Pro:FIPS-updates:18.04:LTS", "Ubuntu:Pro:FIPS-updates:18.04:LTS"),
        ("Ubuntu:23.10", "Ubuntu:23.10"),
        ("Ubuntu:Pro", "Ubuntu:Pro"),
        ("Ubuntu", "Ubuntu"),
        ("Red Hat:enterprise_linux:9::appstream", "Red Hat:9"),
        ("Red Hat:enterprise_linux:8::baseos", "Red Hat:8"),
        ("Red Hat:rhel_eus:9.2::appstream", "Red Hat:rhel_eus:9.2::appstream"),
        ("Rocky Linux:9", "Rocky Linux:9"),
        ("AlmaLinux:8", "AlmaLinux:8"),
        ("Debian:7", "Debian:7"),
        ("Debian:11.5", "Debian:11"),
        ("SUSE:Linux Enterprise Server 15 SP5", "SUSE:15.5"),
        ("SUSE:Linux Enterprise Module for Basesystem 15 SP6", "SUSE:15.6"),
        ("SUSE:Linux Enterprise Server 15", "SUSE:15.0"),
        ("SUSE:Linux Enterprise Server LTSS Extended Security 12 SP5", "SUSE:12.5"),
        ("SUSE:Linux Enterprise Micro 5.5", "SUSE:Linux Enterprise Micro 5.5"),
        ("openSUSE:Leap 15.5", "openSUSE:Leap 15.5"),
        ("Maven:https://maven.google.com", "Maven"),
        ("Alpine:v3.18", "Alpine:v3.18"),
        ("PyPI", "PyPI"),
    ],
)
def test_advisory_ecosystems_are_normalised_to_match_ecosystems(ecosystem: str, normalised: str) -> None:
    assert match_ecosystem(ecosystem) == normalised


def test_pypi_names_are_pep503_normalised() -> None:
    assert match_name("PyPI", "Zope.Interface__x") == "zope-interface-x"
    assert match_name("npm", "Left_Pad") == "Left_Pad"
