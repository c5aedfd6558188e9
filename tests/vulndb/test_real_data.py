"""Matching against the real advisories (all of PyPA's and the Go vulndb selection, USN-3863-1, DSA-3029-1,
GHSA-838r-hvwh-24h8), with packages named as an image's inventory names them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dockyard.domain.scanning.inventory import APK, DEB, GOLANG, MAVEN, PYPI, OsInfo, Package
from dockyard.domain.vulns.ecosystems import MatchQuery, query_for
from dockyard.domain.vulns.matching import Match
from dockyard.services.vulndb import VulnDb

from .conftest import FIXTURES

TRIVY_DPKG = FIXTURES / "trivy" / "dpkg" / "valid" / "expected-packages.json"
UBUNTU_1804 = OsInfo("ubuntu", "18.04", codename="bionic")


def package(kind: str, name: str, version: str, **extra: Any) -> Package:
    return Package(kind, name, version, purl=f"pkg:{kind}/{name}@{version}", path="/x", **extra)


def trivy_ubuntu_packages() -> list[Package]:
    """The 90 packages of trivy's Ubuntu 18.04 dpkg fixture, as a dpkg cataloguer reports them."""
    packages = []
    for entry in json.loads(TRIVY_DPKG.read_text()):
        version = _full(entry.get("epoch"), entry["version"], entry.get("release"))
        source = _full(entry.get("srcEpoch"), entry["srcVersion"], entry.get("srcRelease"))
        packages.append(
            package(DEB, entry["name"], version, source_name=entry["srcName"], source_version=source)
        )
    return packages


def _full(epoch: int | None, version: str, release: str | None) -> str:
    return (f"{epoch}:" if epoch else "") + version + (f"-{release}" if release else "")


async def findings(db: VulnDb, packages: list[Package], os: OsInfo | None) -> dict[str, list[Match]]:
    """Package name -> matches, for the packages with any."""
    queries = {p.name: query_for(p, os) for p in packages}
    found = await db.match([q for q in queries.values() if q is not None])
    return {name: found[q] for name, q in queries.items() if q is not None and found[q]}


async def test_ubuntu_1804_end_to_end(real_db: VulnDb) -> None:
    packages = trivy_ubuntu_packages()
    assert len(packages) == 90
    assert await findings(real_db, packages, UBUNTU_1804) == {
        "apt": [Match("USN-3863-1", "1.6.6ubuntu0.1")],
        "libapt-pkg5.0": [Match("USN-3863-1", "1.6.6ubuntu0.1")],  # a binary of the apt source
    }
    fixed = package(DEB, "apt", "1.6.6ubuntu0.1", source_name="apt", source_version="1.6.6ubuntu0.1")
    assert await findings(real_db, [fixed], UBUNTU_1804) == {}
    info = (await real_db.advisories(["USN-3863-1"]))["USN-3863-1"]
    assert (info.name, info.description) == ("CVE-2019-3462", "apt vulnerability")


async def test_pypi_boundaries(real_db: VulnDb) -> None:
    cases = {
        # PYSEC-2014-8: introduced 0, fixed 2.7.2
        ("Jinja2", "2.7.1"): ("PYSEC-2014-8", "2.7.2"),
        ("Jinja2", "2.7.2"): ("PYSEC-2014-8", False),
        # PYSEC-2023-221: [0, 2.3.8) and [3.0.0, 3.0.1)
        ("Werkzeug", "2.3.7"): ("PYSEC-2023-221", "2.3.8"),
        ("Werkzeug", "2.3.8"): ("PYSEC-2023-221", False),
        ("Werkzeug", "3.0.0"): ("PYSEC-2023-221", "3.0.1"),
        ("Werkzeug", "3.0.1"): ("PYSEC-2023-221", False),
        # PYSEC-2022-42969: last_affected 1.11.0, inclusive
        ("py", "1.11.0"): ("PYSEC-2022-42969", None),
        ("py", "1.11.1"): ("PYSEC-2022-42969", False),
        # PYSEC-2023-62: fixed 2.2.5, and [2.3.0, 2.3.2)
        ("Flask", "2.0.0"): ("PYSEC-2023-62", "2.2.5"),
        ("Flask", "2.2.5"): ("PYSEC-2023-62", False),
        ("Flask", "2.3.1"): ("PYSEC-2023-62", "2.3.2"),
        # PYSEC-2023-73 is withdrawn
        ("redis", "2.10.0"): ("PYSEC-2023-73", False),
    }
    queries = {key: query_for(package(PYPI, *key), None) for key in cases}
    found = await real_db.match([q for q in queries.values() if q is not None])
    for key, (advisory, fixed_in) in cases.items():
        query = queries[key]
        assert query is not None
        by_id = {m.advisory_id: m.fixed_in for m in found[query]}
        if fixed_in is False:
            assert advisory not in by_id, key
        else:
            assert by_id.get(advisory, "absent") == fixed_in, key


async def test_go_stdlib(real_db: VulnDb) -> None:
    queries = [query_for(package(GOLANG, "stdlib", v), None) for v in ("go1.16", "go1.16.1", "go1.15.9")]
    assert queries[0] == MatchQuery("Go", "stdlib", "1.16.0")
    go116, go1161, go115 = [q for q in queries if q is not None]
    found = await real_db.match([go116, go1161, go115])
    assert Match("GO-2021-0067", "1.16.1") in found[go116]
    assert all(m.advisory_id != "GO-2021-0067" for m in found[go1161])
    assert all(m.advisory_id != "GO-2021-0067" for m in found[go115])
    assert len(found[go115]) > 50  # an old toolchain: many stdlib advisories


async def test_go_module_pseudo_versions(real_db: VulnDb) -> None:
    # GO-2022-0969: golang.org/x/net before 0.0.0-20220906165146-f3363e06e74c; stdlib [1.19.0-0, 1.19.1)
    old = package(GOLANG, "golang.org/x/net", "v0.0.0-20220722155237-a158d28d115b")
    new = package(GOLANG, "golang.org/x/net", "v0.1.0")
    go119 = package(GOLANG, "stdlib", "go1.19")
    found = await findings(real_db, [old], None)
    assert Match("GO-2022-0969", "0.0.0-20220906165146-f3363e06e74c") in found["golang.org/x/net"]
    assert all(
        m.advisory_id != "GO-2022-0969" for m in (await findings(real_db, [new], None)).get(new.name, [])
    )
    assert Match("GO-2022-0969", "1.19.1") in (await findings(real_db, [go119], None))["stdlib"]


async def test_maven_any23(real_db: VulnDb) -> None:
    old = package(MAVEN, "apache-any23", "2.4", namespace="org.apache.any23")
    new = package(MAVEN, "apache-any23", "2.5", namespace="org.apache.any23")
    assert await findings(real_db, [old], None) == {"apache-any23": [Match("GHSA-838r-hvwh-24h8", "2.5")]}
    assert await findings(real_db, [new], None) == {}
    info = (await real_db.advisories(["GHSA-838r-hvwh-24h8"]))["GHSA-838r-hvwh-24h8"]
    assert (info.severity, info.cvss3_score) == ("CRITICAL", 9.1)


async def test_debian_7_nginx(real_db: VulnDb) -> None:
    wheezy = OsInfo("debian", "7.11", codename="wheezy")
    common = package(
        DEB, "nginx-common", "1.2.1-2.2+wheezy2", source_name="nginx", source_version="1.2.1-2.2+wheezy2"
    )
    fixed = package(
        DEB, "nginx-full", "1.2.1-2.2+wheezy3", source_name="nginx", source_version="1.2.1-2.2+wheezy3"
    )
    assert await findings(real_db, [common, fixed], wheezy) == {
        "nginx-common": [Match("DSA-3029-1", "1.2.1-2.2+wheezy3")]
    }
    assert await findings(real_db, [common], OsInfo("debian", "12")) == {}  # another release's advisory


def write(directory: Path, record: dict[str, Any]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{record['id']}.json"
    path.write_text(json.dumps(record))
    return path


def os_record(record_id: str, ecosystem: str, name: str, fixed: str, **extra: Any) -> dict[str, Any]:
    return {
        "schema_version": "1.6.0",
        "id": record_id,
        "modified": "2024-02-01T00:00:00Z",
        "published": "2023-11-06T16:15:00Z",
        "upstream": [record_id.split("-", 1)[1]],
        "affected": [
            {
                "package": {"ecosystem": ecosystem, "name": name},
                "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fixed}]}],
            }
        ],
        **extra,
    }


async def test_alpine_by_origin(real_db: VulnDb, tmp_path: Path) -> None:
    # No real Alpine OSV record is among the fixtures: this one is written in the shape osv.dev serves
    # (ALPINE-CVE-*, ecosystem "Alpine:v<branch>", the origin package, apk versions).
    await real_db.import_path(
        write(tmp_path, os_record("ALPINE-CVE-2023-5678", "Alpine:v3.18", "openssl", "3.1.4-r1"))
    )
    alpine = OsInfo("alpine", "3.18.1")
    vulnerable = package(APK, "libcrypto3", "3.1.1-r1", source_name="openssl")
    fixed = package(APK, "libssl3", "3.1.4-r1", source_name="openssl")
    assert await findings(real_db, [vulnerable, fixed], alpine) == {
        "libcrypto3": [Match("ALPINE-CVE-2023-5678", "3.1.4-r1")]
    }
    assert await findings(real_db, [vulnerable], OsInfo("alpine", "3.19.0")) == {}
    info = (await real_db.advisories(["ALPINE-CVE-2023-5678"]))["ALPINE-CVE-2023-5678"]
    assert (info.name, info.uri) == ("CVE-2023-5678", "https://osv.dev/vulnerability/ALPINE-CVE-2023-5678")


async def test_debian_cve_with_modern_release_ranges(real_db: VulnDb, tmp_path: Path) -> None:
    # The only real Debian record (DSA-3029-1) is for Debian 7; this DEBIAN-CVE-* record is written in the
    # shape of osv.dev's current Debian data: one affected entry per release, source package names.
    record = os_record("DEBIAN-CVE-2023-5678", "Debian:12", "openssl", "3.0.11-1~deb12u2")
    record["affected"].append(
        {
            "package": {"ecosystem": "Debian:11", "name": "openssl"},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.1.1w-0+deb11u1"}]}],
        }
    )
    await real_db.import_path(write(tmp_path, record))
    bookworm = OsInfo("debian", "12", codename="bookworm")
    old = package(
        DEB, "libssl3", "3.0.11-1~deb12u1", source_name="openssl", source_version="3.0.11-1~deb12u1"
    )
    new = package(
        DEB, "openssl", "3.0.11-1~deb12u2", source_name="openssl", source_version="3.0.11-1~deb12u2"
    )
    assert await findings(real_db, [old, new], bookworm) == {
        "libssl3": [Match("DEBIAN-CVE-2023-5678", "3.0.11-1~deb12u2")]
    }
    bullseye = package(
        DEB, "libssl1.1", "1.1.1n-0+deb11u5", source_name="openssl", source_version="1.1.1n-0+deb11u5"
    )
    assert await findings(real_db, [bullseye], OsInfo("debian", "11.9")) == {
        "libssl1.1": [Match("DEBIAN-CVE-2023-5678", "1.1.1w-0+deb11u1")]
    }


async def test_status_of_the_real_database(real_db: VulnDb) -> None:
    status = await real_db.status()
    assert (
        status.total == 2651 + 349 + 4
    )  # PyPA and Go less their withdrawn records, USN, DSA, GHSA, UBUNTU-CVE
    assert status.ecosystems["PyPI"] == 2651
    assert status.ecosystems["Go"] == 349
    assert status.ecosystems["Ubuntu:14.04"] == 2  # USN-3863-1's LTS entry and UBUNTU-CVE's Pro entry
    assert status.generation == 6
