"""Imports over the real store, on SQLite and PostgreSQL: upsert by ``modified``, withdrawal, rejections
with file names, batches, the generation and ``updated_at``, and status."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import IntegrityError

from dockyard.domain.vulns.ecosystems import MatchQuery
from dockyard.domain.vulns.matching import Match
from dockyard.domain.vulns.upsert import BatchPlan
from dockyard.metadata.vulndb_store import StoredRecord
from dockyard.services.vulndb import VulnDb

from .conftest import DSA, GHSA, GO, PYPA, USN, StepClock

NGINX_OLD = MatchQuery("Debian:7", "nginx", "1.2.1-2.2+wheezy2")
NGINX_FIXED = MatchQuery("Debian:7", "nginx", "1.2.1-2.2+wheezy3")


def dsa_copy(directory: Path, **changes: Any) -> Path:
    """DSA-3029-1 with ``changes`` (a newer ``modified``, other ranges, ``withdrawn``), as another file."""
    record = json.loads(DSA.read_text())
    record.update(changes)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "DSA-3029-1.json"
    path.write_text(json.dumps(record))
    return path


def nginx_fixed_in(version: str) -> list[dict[str, Any]]:
    return [
        {
            "package": {"ecosystem": "Debian:7", "name": "nginx"},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": version}]}],
        }
    ]


async def test_import_status_and_reimport(vulndb: VulnDb, clock: StepClock) -> None:
    first = [await vulndb.import_path(path) for path in (USN, DSA, GHSA)]
    assert [(r.read, r.imported, r.rejected) for r in first] == [(1, 1, 0)] * 3
    assert [r.generation for r in first] == [1, 2, 3]
    status = await vulndb.status()
    assert status.total == 3
    assert status.ecosystems == {
        "Ubuntu:14.04": 1,
        "Ubuntu:16.04": 1,
        "Ubuntu:18.04": 1,
        "Debian:7": 1,
        "Maven": 1,
    }
    assert status.updated_at == datetime(2025, 7, 16, 4, 42, 25, tzinfo=UTC)  # USN's modified, the latest
    assert status.last_import is not None
    assert status.last_import["path"] == str(GHSA)
    assert status.last_import_at == clock.now()
    clock.advance(60)
    again = await vulndb.import_path(USN)
    assert (again.imported, again.updated, again.unchanged) == (0, 0, 1)
    assert again.generation == 3  # nothing changed: consumers need not re-evaluate
    assert (await vulndb.state()).last_import_at == clock.now()


async def test_a_newer_record_replaces_the_ranges_and_an_older_one_is_ignored(
    vulndb: VulnDb, tmp_path: Path
) -> None:
    await vulndb.import_path(DSA)
    assert (await vulndb.match([NGINX_OLD]))[NGINX_OLD] == [Match("DSA-3029-1", "1.2.1-2.2+wheezy3")]
    newer = dsa_copy(
        tmp_path / "newer", modified="2015-01-01T00:00:00Z", affected=nginx_fixed_in("1.2.1-2.2+wheezy4")
    )
    report = await vulndb.import_path(newer)
    assert (report.updated, report.imported) == (1, 0)
    found = await vulndb.match([NGINX_OLD, NGINX_FIXED])
    assert found[NGINX_FIXED] == [Match("DSA-3029-1", "1.2.1-2.2+wheezy4")]
    older = dsa_copy(tmp_path / "older", modified="2014-01-01T00:00:00Z", affected=nginx_fixed_in("0.1-1"))
    ignored = await vulndb.import_path(older)
    assert (ignored.unchanged, ignored.updated) == (1, 0)
    assert (await vulndb.match([NGINX_FIXED]))[NGINX_FIXED] == [Match("DSA-3029-1", "1.2.1-2.2+wheezy4")]
    assert (await vulndb.status()).ecosystems == {"Debian:7": 1}


async def test_withdrawn_removes_and_an_older_copy_cannot_bring_it_back(
    vulndb: VulnDb, tmp_path: Path
) -> None:
    await vulndb.import_path(DSA)
    withdrawn = dsa_copy(tmp_path / "w", modified="2015-01-01T00:00:00Z", withdrawn="2015-01-01T00:00:00Z")
    report = await vulndb.import_path(withdrawn)
    assert (report.withdrawn, report.updated, report.generation) == (1, 0, 2)
    assert (await vulndb.match([NGINX_OLD]))[NGINX_OLD] == []
    status = await vulndb.status()
    assert (status.total, status.ecosystems) == (0, {})
    again = await vulndb.import_path(DSA)
    assert again.unchanged == 1
    assert (await vulndb.match([NGINX_OLD]))[NGINX_OLD] == []


async def test_bad_records_are_reported_with_their_file_and_never_stop_the_import(
    vulndb: VulnDb, tmp_path: Path
) -> None:
    (tmp_path / "a-broken.json").write_text("{")
    (tmp_path / "b-no-id.json").write_text(json.dumps({"modified": "2024-01-01T00:00:00Z"}))
    (tmp_path / "c-bad.yaml").write_text("id: X\nmodified: 2024-01-01T00:00:00Z\naffected: 3\n")
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "DSA-3029-1.json").write_bytes(DSA.read_bytes())
    report = await vulndb.import_path(tmp_path)
    assert (report.read, report.imported, report.rejected) == (4, 1, 3)
    assert [(Path(r.source).name, r.reason) for r in report.rejections] == [
        ("a-broken.json", report.rejections[0].reason),
        ("b-no-id.json", "no id"),
        ("c-bad.yaml", "affected is not a list"),
    ]
    assert report.rejections[0].reason.startswith("not valid JSON")
    assert (await vulndb.status()).total == 1


async def test_small_batches_and_duplicates_within_a_batch(
    open_vulndb: Callable[..., VulnDb], tmp_path: Path
) -> None:
    vulndb = open_vulndb(batch_size=7)
    dump = tmp_path / "Go" / "all.zip"
    dump.parent.mkdir()
    records = sorted(GO.glob("*.json"))
    with zipfile.ZipFile(dump, "w") as archive:
        for record in records:
            archive.writestr(record.name, record.read_bytes())
        archive.writestr("again/GO-2021-0067.json", (GO / "GO-2021-0067.json").read_bytes())
    seen: list[tuple[int, int | None]] = []
    report = await vulndb.import_path(dump, lambda done, total: seen.append((done, total)))
    assert report.read == 351
    assert (report.imported, report.withdrawn, report.unchanged) == (349, 1, 1)
    assert seen[0] == (7, 351)
    assert seen[-1] == (351, 351)
    assert len(seen) == 51
    assert report.updated_at == datetime(2026, 6, 1, 12, 0, tzinfo=UTC)  # Go's "modified" are placeholders
    status = await vulndb.status()
    assert status.ecosystems == {"Go": 349}


async def test_pypa_packages_on_this_database(vulndb: VulnDb) -> None:
    for package in ("jinja2", "werkzeug", "py", "redis"):
        report = await vulndb.import_path(PYPA / package)
        assert report.rejected == 0
    queries = [
        MatchQuery("PyPI", "Jinja2", "2.7.1"),
        MatchQuery("PyPI", "werkzeug", "3.0.0"),
        MatchQuery("PyPI", "py", "1.11.0"),
        MatchQuery("PyPI", "redis", "2.10.0"),
    ]
    found = await vulndb.match(queries)
    assert Match("PYSEC-2014-8", "2.7.2") in found[queries[0]]
    assert Match("PYSEC-2023-221", "3.0.1") in found[queries[1]]
    assert Match("PYSEC-2022-42969", None) in found[queries[2]]
    assert all(m.advisory_id != "PYSEC-2023-73" for m in found[queries[3]])  # withdrawn
    infos = await vulndb.advisories(["PYSEC-2014-8", "NOPE-1"])
    assert set(infos) == {"PYSEC-2014-8"}
    assert infos["PYSEC-2014-8"].name == "CVE-2014-1402"


async def test_a_missing_path_is_an_error(vulndb: VulnDb, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nothing-here"):
        await vulndb.import_path(tmp_path / "nothing-here")


async def test_a_record_the_database_refuses_is_rejected_and_the_rest_of_its_batch_stored(
    vulndb: VulnDb, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = vulndb._store  # the one seam through which the database can be made to refuse a record
    write_batch = store.write_batch

    async def refusing(records: Sequence[StoredRecord]) -> BatchPlan:
        if any(record.advisory.id == "USN-3863-1" for record in records):
            raise IntegrityError("INSERT", {}, Exception("refused for the test"))
        return await write_batch(records)

    monkeypatch.setattr(store, "write_batch", refusing)
    for source in (USN, DSA, GHSA):
        (tmp_path / source.name).write_bytes(source.read_bytes())
    report = await vulndb.import_path(tmp_path)
    assert (report.imported, report.rejected) == (2, 1)
    assert report.rejections[0].source == str(tmp_path / USN.name)
    assert "refused by the database: refused for the test" in report.rejections[0].reason
    assert (await vulndb.status()).total == 2
