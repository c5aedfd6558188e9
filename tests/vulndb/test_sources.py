"""Reading what an operator has on disk: directories (recursively) and osv.dev's per-ecosystem zip dumps,
with bounded members; nothing unreadable stops the reading."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from dockyard.domain.vulns import sources
from dockyard.domain.vulns.sources import Parsed, Rejected, count_records, read_records

from .conftest import DSA, GHSA, GO, PYPA, USN


def build_dump(path: Path, records: list[Path]) -> Path:
    """An ``all.zip`` as osv.dev lays it out: ``<ID>.json`` members (plus noise a reader must skip)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for record in records:
            archive.writestr(f"{record.stem}.json", record.read_bytes())
        archive.writestr("README.txt", "not a record")
        archive.writestr("nested/", "")
        archive.writestr("BROKEN-1.json", "{not json")
    return path


def test_a_directory_is_read_recursively_and_in_a_stable_order() -> None:
    items = list(read_records(PYPA / "jinja2"))
    assert [Path(item.source).name for item in items] == sorted(p.name for p in (PYPA / "jinja2").iterdir())
    assert all(isinstance(item, Parsed) for item in items)
    assert count_records(PYPA) == 2661
    assert count_records(GO) == 350


def test_a_zip_dump_is_read_member_by_member(tmp_path: Path) -> None:
    go_records = sorted(GO.glob("*.json"))[:25]
    dump = build_dump(tmp_path / "Go" / "all.zip", [*go_records, USN, DSA, GHSA])
    items = list(read_records(dump))
    parsed = [item for item in items if isinstance(item, Parsed)]
    rejected = [item for item in items if isinstance(item, Rejected)]
    assert len(parsed) == 28
    assert {item.advisory.id for item in parsed} >= {"USN-3863-1", "DSA-3029-1", "GHSA-838r-hvwh-24h8"}
    assert [(r.source, r.reason.split(":")[0]) for r in rejected] == [
        (f"{dump}!BROKEN-1.json", "not valid JSON")
    ]
    assert count_records(dump) == 29  # the .json members


def test_a_member_larger_than_the_bound_is_rejected_unread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dump = build_dump(tmp_path / "all.zip", [USN, DSA])
    monkeypatch.setattr(sources, "MAX_RECORD_BYTES", DSA.stat().st_size + 10)
    by_name = {Path(item.source.split("!")[1]).stem: item for item in read_records(dump)}
    assert isinstance(by_name["DSA-3029-1"], Parsed)
    usn = by_name["USN-3863-1"]
    assert isinstance(usn, Rejected)
    assert "larger than" in usn.reason


def test_a_member_whose_header_understates_its_size_is_rejected(tmp_path: Path) -> None:
    dump = tmp_path / "all.zip"
    with zipfile.ZipFile(dump, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr("USN-3863-1.json", USN.read_bytes())
    data = bytearray(dump.read_bytes())
    central = data.index(b"PK\x01\x02")
    data[central + 24 : central + 28] = (50).to_bytes(4, "little")  # claims 50 bytes uncompressed
    dump.write_bytes(bytes(data))
    (item,) = list(read_records(dump))
    assert isinstance(item, Rejected)
    assert item.source.endswith("!USN-3863-1.json")


def test_too_many_members_refuse_the_archive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dump = build_dump(tmp_path / "all.zip", [USN, DSA, GHSA])
    monkeypatch.setattr(sources, "MAX_ZIP_MEMBERS", 3)
    (item,) = list(read_records(dump))
    assert isinstance(item, Rejected)
    assert "more than 3 members" in item.reason


def test_a_corrupt_archive_and_an_unreadable_file_are_rejected(tmp_path: Path) -> None:
    (tmp_path / "bad.zip").write_bytes(b"PK\x03\x04 not really")
    (tmp_path / "ok.json").write_text(json.dumps({"id": "OK-1", "modified": "2024-01-01T00:00:00Z"}))
    (tmp_path / "notes.txt").write_text("ignored")
    (tmp_path / ".hidden.json").write_text("ignored too")
    items = list(read_records(tmp_path))
    assert [type(item).__name__ for item in items] == ["Rejected", "Parsed"]
    assert isinstance(items[0], Rejected)
    assert "not a readable zip archive" in items[0].reason
