"""What a finding shows of an advisory: the CVE name, description, link, severity and CVSS scores."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dockyard.domain.scanning.findings import CRITICAL, HIGH, INFORMATIONAL, LOW, MEDIUM, UNDEFINED
from dockyard.domain.vulns.info import AdvisoryInfo, describe
from dockyard.domain.vulns.osv import parse_advisory
from dockyard.domain.vulns.sources import Parsed, read_records

from .conftest import DSA, GHSA, GO, PYPA, UBUNTU_CVE, USN


def info_of(path: Path) -> AdvisoryInfo:
    (item,) = list(read_records(path))
    assert isinstance(item, Parsed)
    return describe(item.advisory)


def test_ghsa_cvss3_vector_gives_score_and_severity() -> None:
    info = info_of(GHSA)
    assert info.name == "CVE-2021-38555"
    assert info.description == "XML Injection in Any23"
    assert info.uri == "https://nvd.nist.gov/vuln/detail/CVE-2021-38555"
    assert info.severity == CRITICAL
    assert info.cvss3_score == 9.1
    assert info.cvss3_vector == "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:N"
    assert (info.cvss2_score, info.cvss2_vector) == (None, None)


def test_usn_name_comes_from_its_upstream_cve() -> None:
    info = info_of(USN)
    assert info.name == "CVE-2019-3462"
    assert info.uri == "https://ubuntu.com/security/notices/USN-3863-1"
    assert info.severity == UNDEFINED


def test_ubuntu_priority_word_gives_the_severity() -> None:
    info = info_of(UBUNTU_CVE)
    assert info.name == "CVE-2025-38094"
    assert info.severity == MEDIUM
    assert info.description.startswith("In the Linux kernel")  # no summary: the details
    assert info.uri == "https://osv.dev/vulnerability/UBUNTU-CVE-2025-38094"  # REPORT links only


def test_pysec_alias_and_go_database_page() -> None:
    pysec = info_of(PYPA / "jinja2" / "PYSEC-2014-8.yaml")
    assert pysec.name == "CVE-2014-1402"
    assert pysec.uri == "http://advisories.mageia.org/MGASA-2014-0028.html"  # its first ADVISORY link
    go = info_of(GO / "GO-2021-0067.json")
    assert go.uri == "https://pkg.go.dev/vuln/GO-2021-0067"
    assert go.name == "CVE-2021-27919"
    dsa = info_of(DSA)
    assert (dsa.name, dsa.uri) == ("CVE-2014-3616", "https://www.debian.org/security/2014/dsa-3029")


def record(**fields: Any) -> dict[str, Any]:
    return {"id": "TEST-1", "modified": "2024-01-01T00:00:00Z", **fields}


@pytest.mark.parametrize(
    ("fields", "severity"),
    [
        (
            {"severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:L/I:N/A:N"}]},
            MEDIUM,
        ),
        (
            {
                "severity": [
                    {
                        "type": "CVSS_V4",
                        "score": "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N",
                    }
                ]
            },
            CRITICAL,
        ),
        ({"severity": [{"type": "CVSS_V2", "score": "AV:N/AC:L/Au:N/C:P/I:P/A:P"}]}, HIGH),
        ({"database_specific": {"severity": "MODERATE"}}, MEDIUM),
        ({"database_specific": {"severity": "Important"}}, HIGH),
        ({"severity": [{"type": "Ubuntu", "score": "negligible"}]}, INFORMATIONAL),
        ({"severity": [{"type": "Ubuntu", "score": "low"}]}, LOW),
        ({"severity": [{"type": "Ubuntu", "score": "untriaged"}]}, UNDEFINED),
        ({"severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/garbage"}]}, UNDEFINED),
        (
            {
                "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
                "database_specific": {"severity": "LOW"},
            },
            CRITICAL,  # a vector wins over a word
        ),
        ({}, UNDEFINED),
    ],
)
def test_severity_sources_in_order(fields: dict[str, Any], severity: str) -> None:
    assert describe(parse_advisory(record(**fields))).severity == severity


def test_cvss2_score_and_vector_are_reported() -> None:
    info = describe(
        parse_advisory(record(severity=[{"type": "CVSS_V2", "score": "(AV:N/AC:L/Au:N/C:P/I:P/A:P)"}]))
    )
    assert (info.cvss2_score, info.cvss2_vector) == (7.5, "AV:N/AC:L/Au:N/C:P/I:P/A:P")
    assert info.cvss3_score is None


def test_names_and_descriptions() -> None:
    assert describe(parse_advisory(record(id="CVE-2024-1234", aliases=["GHSA-x"]))).name == "CVE-2024-1234"
    assert describe(parse_advisory(record(aliases=["GHSA-abcd"]))).name == "TEST-1"
    long = describe(parse_advisory(record(details="  word " * 2000)))
    assert len(long.description) == 4000
    assert long.description.startswith("word")
    assert long.description.endswith("\u2026")
