"""Parsing OSV records: real records in, frozen values out; broken records rejected with a reason."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from dockyard.domain.vulns.osv import Event, InvalidAdvisory, Range, parse_advisory, parse_time
from dockyard.domain.vulns.sources import Parsed, Rejected, decode, read_records

from .conftest import GHSA, GO, PYPA, USN


def only(path: Any) -> Parsed:
    (item,) = list(read_records(path))
    assert isinstance(item, Parsed), item
    return item


def test_a_pypa_yaml_record() -> None:
    advisory = only(PYPA / "jinja2" / "PYSEC-2014-8.yaml").advisory
    assert advisory.id == "PYSEC-2014-8"
    assert advisory.modified == datetime(2021, 7, 5, 0, 1, 22, 43149, tzinfo=UTC)
    assert advisory.published == datetime(2014, 5, 19, 14, 55, tzinfo=UTC)
    assert advisory.withdrawn is None
    assert advisory.aliases == ("CVE-2014-1402", "GHSA-8r7q-cvjq-x353")
    (affected,) = advisory.affected
    assert (affected.ecosystem, affected.name) == ("PyPI", "jinja2")
    assert affected.ranges == (Range("ECOSYSTEM", (Event("introduced", "0"), Event("fixed", "2.7.2"))),)
    assert "2.0" in affected.versions  # quoted in the file; 2.0rc1 unquoted: both stay strings
    assert "2.0rc1" in affected.versions
    assert advisory.raw["id"] == "PYSEC-2014-8"


def test_git_ranges_are_dropped_and_the_rest_kept() -> None:
    advisory = only(PYPA / "werkzeug" / "PYSEC-2023-221.yaml").advisory
    (affected,) = advisory.affected
    assert [r.type for r in affected.ranges] == ["ECOSYSTEM"]
    assert [e.kind for e in affected.ranges[0].events] == ["introduced", "fixed", "introduced", "fixed"]


def test_a_usn_json_record() -> None:
    advisory = only(USN).advisory
    assert [a.ecosystem for a in advisory.affected] == [
        "Ubuntu:14.04:LTS",
        "Ubuntu:16.04:LTS",
        "Ubuntu:18.04:LTS",
    ]
    assert advisory.upstream == ("UBUNTU-CVE-2019-3462",)
    assert advisory.summary == "apt vulnerability"


def test_cvss_and_database_severity_are_collected() -> None:
    advisory = only(GHSA).advisory
    assert [s.type for s in advisory.severity] == ["CVSS_V3"]
    assert advisory.severity_words == ("CRITICAL",)


def test_go_placeholder_modified_time_parses() -> None:
    advisory = only(GO / "GO-2021-0067.json").advisory
    assert advisory.modified == datetime(1, 1, 1, tzinfo=UTC)
    assert advisory.database_url == "https://pkg.go.dev/vuln/GO-2021-0067"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-01-02T03:04:05Z", datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("2024-01-02T03:04:05.123456789Z", datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)),
        ("2024-01-02T05:04:05+02:00", datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("2024-01-02T03:04:05", datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)),
    ],
)
def test_rfc3339_times(text: str, expected: datetime) -> None:
    assert parse_time(text) == expected


def minimal(**changes: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "id": "TEST-1",
        "modified": "2024-01-01T00:00:00Z",
        "affected": [
            {
                "package": {"ecosystem": "PyPI", "name": "x"},
                "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.0"}]}],
            }
        ],
    }
    record.update(changes)
    return record


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        ([], "not an object"),
        (minimal(id=None), "no id"),
        (minimal(id=7), "id is not a string"),
        (minimal(id="X" * 200), "id is longer"),
        (minimal(modified=None), "no modified time"),
        (minimal(modified="yesterday"), "not an RFC 3339 time"),
        (minimal(aliases="CVE-1"), "aliases is not a list"),
        (minimal(affected={"package": {}}), "affected is not a list"),
        (minimal(affected=[{"package": {"ecosystem": "PyPI"}}]), "without ecosystem or name"),
        (minimal(affected=[{"package": "x"}]), "affected package is not an object"),
        (
            minimal(affected=[{"package": {"ecosystem": "PyPI", "name": "x"}, "ranges": [{"events": []}]}]),
            "range without a type",
        ),
        (
            minimal(
                affected=[
                    {
                        "package": {"ecosystem": "PyPI", "name": "x"},
                        "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0", "fixed": "1"}]}],
                    }
                ]
            ),
            "exactly one of",
        ),
        (
            minimal(
                affected=[
                    {
                        "package": {"ecosystem": "PyPI", "name": "x"},
                        "ranges": [{"type": "ECOSYSTEM", "events": [{"fixed": 1.5}]}],
                    }
                ]
            ),
            "fixed is not a version string",
        ),
    ],
)
def test_broken_records_are_rejected_with_a_reason(record: Any, reason: str) -> None:
    with pytest.raises(InvalidAdvisory) as raised:
        parse_advisory(record)
    assert reason in raised.value.reason


def test_an_affected_entry_without_a_package_is_skipped() -> None:
    advisory = parse_advisory(
        minimal(affected=[{"ranges": [{"type": "GIT", "events": [{"introduced": "0"}]}]}])
    )
    assert advisory.affected == ()


def test_decode_reports_bad_json_and_yaml_with_the_file_name() -> None:
    (bad_json,) = decode("a.json", b"{nope", yaml_text=False)
    assert isinstance(bad_json, Rejected)
    assert bad_json.source == "a.json"
    assert bad_json.reason.startswith("not valid JSON")
    (bad_yaml,) = decode("b.yaml", b"id: [unclosed", yaml_text=True)
    assert isinstance(bad_yaml, Rejected)
    assert bad_yaml.reason.startswith("not valid YAML")


def test_yaml_scalars_stay_strings_and_aliases_are_refused() -> None:
    text = b"id: T-1\nmodified: 2024-01-01T00:00:00Z\naffected:\n- package: {ecosystem: PyPI, name: x}\n"
    text += b"  versions: [2.10, 1.0, true]\n"
    (item,) = decode("c.yaml", text, yaml_text=True)
    assert isinstance(item, Parsed)
    assert item.advisory.affected[0].versions == ("2.10", "1.0", "true")
    bomb = b"a: &a [x, x]\nb: &b [*a, *a]\nid: T-2\nmodified: 2024-01-01T00:00:00Z\n"
    (refused,) = decode("d.yaml", bomb, yaml_text=True)
    assert isinstance(refused, Rejected)
    assert "aliases are not allowed" in refused.reason


def test_a_json_file_may_hold_a_list_of_records() -> None:
    items = list(decode("list.json", json.dumps([minimal(), {"id": "X"}]).encode(), yaml_text=False))
    assert isinstance(items[0], Parsed)
    assert isinstance(items[1], Rejected)
    assert items[1].source == "list.json[1]"
