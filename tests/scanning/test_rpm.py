"""The rpm cataloguer against real databases in all three back ends, and against damaged or crafted ones."""

from __future__ import annotations

import json
import random
import shutil
import sqlite3
import struct
from pathlib import Path
from typing import Any

import pytest

from dockyard.domain.scanning.inventory import RPM, OsInfo
from dockyard.scanner.rootfs import DirRootFs
from dockyard.scanner.rpm import RpmCataloguer, packages_from_db, read_blobs, split_source_rpm
from dockyard.scanner.rpm_header import parse_header
from shared_fixtures import FIXTURES

RHEL = OsInfo("rhel", "8.8")
CASES = {
    "mariner-sqlite": (
        "go-rpmdb/cbl-mariner-2.0/rpmdb.sqlite",
        "go-rpmdb/cbl-mariner-2.0/expected-packages.json",
    ),
    "rhel-bdb": ("go-rpmdb/libuuid/Packages", "go-rpmdb/libuuid/expected-packages.json"),
    "sle-ndb": ("go-rpmdb/sle15-bci/Packages.db", "go-rpmdb/sle15-bci/expected-packages.json"),
    "syft-bdb": ("syft/redhat/Packages", "syft/expected/redhat_Packages.json"),
    "epoch-bdb": ("osv-scalibr/rpm/Packages_epoch", "osv-scalibr/rpm/Packages_epoch.expected-packages.json"),
}
Row = tuple[str, int | None, str, str, str, str]


def _expected(name: str) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = json.loads((FIXTURES / CASES[name][1]).read_text())
    return entries


def _header_rows(path: Path) -> list[Row]:
    headers = [parse_header(blob) for blob in read_blobs(path)]
    return [
        (h.name, h.epoch, h.version, h.release, h.arch, h.source_rpm)
        for h in headers
        if h is not None and h.name != "gpg-pubkey"
    ]


@pytest.mark.parametrize("case", sorted(CASES))
def test_headers_match_expected_packages_in_database_order(case: str) -> None:
    expected = [
        (e["name"], e["epoch"], e["version"], e["release"], e["arch"], e["sourceRpm"])
        for e in _expected(case)
    ]
    assert _header_rows(FIXTURES / CASES[case][0]) == expected


@pytest.mark.parametrize("case", sorted(CASES))
def test_packages_have_full_versions_sources_and_licenses(case: str) -> None:
    packages = packages_from_db(FIXTURES / CASES[case][0], "/var/lib/rpm/Packages", RHEL)
    expected = _expected(case)
    assert len(packages) == len(expected)
    for package, entry in zip(packages, expected, strict=True):
        evr = f"{entry['version']}-{entry['release']}"
        assert package.version == (f"{entry['epoch']}:{evr}" if entry["epoch"] is not None else evr)
        assert (package.type, package.name, package.arch) == (RPM, entry["name"], entry["arch"])
        assert package.source_name == entry["sourceRpm"].rsplit("-", 2)[0]
        if "license" in entry:
            assert package.licenses == ((entry["license"],) if entry["license"] else ())


def test_mariner_epochs_and_curl() -> None:
    packages = packages_from_db(FIXTURES / CASES["mariner-sqlite"][0], "/var/lib/rpm/rpmdb.sqlite", None)
    assert sorted(p.name for p in packages if ":" in p.version) == [
        "ca-certificates-base",
        "ca-certificates-shared",
        "ca-certificates-tools",
    ]
    curl = next(p for p in packages if p.name == "curl")
    assert (curl.version, curl.arch, curl.source_version) == ("7.76.0-6.cm2", "x86_64", "7.76.0-6.cm2")


def test_libuuid_purl_follows_syft() -> None:
    (libuuid,) = packages_from_db(FIXTURES / CASES["rhel-bdb"][0], "/var/lib/rpm/Packages", RHEL)
    assert libuuid.purl == (
        "pkg:rpm/redhat/libuuid@2.32.1-42.el8_8?arch=x86_64&distro=rhel-8.8"
        "&upstream=util-linux-2.32.1-42.el8_8.src.rpm"
    )
    assert (libuuid.source_name, libuuid.source_version) == ("util-linux", "2.32.1-42.el8_8")


def test_epoch_is_a_qualifier_and_part_of_the_version() -> None:
    (hello,) = packages_from_db(
        FIXTURES / CASES["epoch-bdb"][0], "/var/lib/rpm/Packages", OsInfo("fedora", "39")
    )
    assert (hello.version, hello.source_version) == ("1:0.0.1-rls", "1:0.0.1-rls")
    assert hello.purl == (
        "pkg:rpm/fedora/hello@0.0.1-rls?arch=x86_64&distro=fedora-39&epoch=1&upstream=hello-0.0.1-rls.src.rpm"
    )


def test_suse_namespace() -> None:
    packages = packages_from_db(
        FIXTURES / CASES["sle-ndb"][0], "/var/lib/rpm/Packages.db", OsInfo("opensuse-leap", "15.5")
    )
    assert packages[2].purl.startswith(
        "pkg:rpm/opensuse/glibc@2.31-9.3.2?arch=x86_64&distro=opensuse-leap-15.5"
    )


def test_cataloguer_finds_every_back_end_at_its_path(tmp_path: Path) -> None:
    layout = {
        "usr/lib/sysimage/rpm/rpmdb.sqlite": CASES["mariner-sqlite"][0],
        "var/lib/rpm/rpmdb.sqlite": CASES["mariner-sqlite"][0],  # same database twice (a copied symlink)
        "var/lib/rpm/Packages": CASES["rhel-bdb"][0],
        "usr/lib/sysimage/rpm/Packages.db": CASES["sle-ndb"][0],
        "var/lib/rpm/Packages.old": CASES["syft-bdb"][0],  # not a database path
    }
    for target, source in layout.items():
        (tmp_path / target).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(FIXTURES / source, tmp_path / target)
    cataloguer = RpmCataloguer()
    packages = cataloguer.catalogue(DirRootFs(tmp_path), None)
    assert len(packages) == 129 + 1 + 35  # each package once
    assert {p.path for p in packages} == {
        "/usr/lib/sysimage/rpm/rpmdb.sqlite",
        "/var/lib/rpm/Packages",
        "/usr/lib/sysimage/rpm/Packages.db",
    }
    assert all(cataloguer.wants(f"/{target}", b"") for target in list(layout)[:4])
    assert not cataloguer.wants("/var/lib/rpm/Packages.old", b"")
    assert not cataloguer.wants("/var/lib/rpm/__db.001", b"")


def test_split_source_rpm() -> None:
    assert split_source_rpm("util-linux-2.32.1-42.el8_8.src.rpm") == ("util-linux", "2.32.1", "42.el8_8")
    assert split_source_rpm("foo-1-2.nosrc.rpm") == ("foo", "1", "2")
    assert split_source_rpm("no-version.src.rpm") is None
    assert split_source_rpm("(none)") is None


# --- damaged and crafted databases -------------------------------------------------------------------


def _header(fields: dict[int, str | int]) -> bytes:
    """An RPM header blob holding ``fields`` (strings as STRING, ints as INT32)."""
    index, store = b"", b""
    for tag, value in fields.items():
        if isinstance(value, int):
            store += b"\0" * (-len(store) % 4)
            index += struct.pack(">iIiI", tag, 4, len(store), 1)
            store += struct.pack(">i", value)
        else:
            index += struct.pack(">iIiI", tag, 6, len(store), 1)
            store += value.encode() + b"\0"
    return struct.pack(">II", len(fields), len(store)) + index + store


HELLO = _header({1000: "hello", 1001: "1.0", 1002: "1", 1022: "x86_64", 1044: "hello-1.0-1.src.rpm"})


def _bdb(pages: dict[int, bytes], page_size: int = 512) -> bytes:
    """A Berkeley DB hash file: a metadata page, then ``pages`` (page number -> bytes after the header)."""
    last = max(pages)
    meta = bytearray(page_size)
    struct.pack_into("<III", meta, 12, 0x061561, 9, page_size)
    meta[25] = 8
    struct.pack_into("<I", meta, 32, last)
    body = bytearray(page_size * (last + 1))
    body[:page_size] = meta
    for number, page in pages.items():
        body[number * page_size : number * page_size + len(page)] = page
    return bytes(body)


def _hash_page(values: list[tuple[int, int]], page_size: int = 512) -> bytes:
    """A hash page whose value items are off-page references ``(first overflow page, length)``."""
    page = bytearray(page_size)
    page[25] = 13
    struct.pack_into("<H", page, 20, 2 * len(values))
    for i, (first, length) in enumerate(values):
        item = page_size - 12 * (i + 1)
        struct.pack_into("<HH", page, 26 + 4 * i, 0, item)  # key offset (unused), value offset
        page[item] = 3
        struct.pack_into("<II", page, item + 4, first, length)
    return bytes(page)


def _overflow_page(data: bytes, next_page: int, page_size: int = 512) -> bytes:
    page = bytearray(page_size)
    page[25] = 7
    struct.pack_into("<I", page, 16, next_page)
    struct.pack_into("<H", page, 22, len(data))
    page[26 : 26 + len(data)] = data
    return bytes(page)


def _chain(blob: bytes, first: int, page_size: int = 512) -> dict[int, bytes]:
    room = page_size - 26
    chunks = [blob[i : i + room] for i in range(0, len(blob), room)]
    return {
        first + i: _overflow_page(chunk, first + i + 1 if i + 1 < len(chunks) else 0)
        for i, chunk in enumerate(chunks)
    }


def _names(data: bytes, tmp_path: Path) -> list[str]:
    path = tmp_path / "Packages"
    path.write_bytes(data)
    return [p.name for p in packages_from_db(path, "/var/lib/rpm/Packages", None)]


def test_crafted_bdb_reads_a_multi_page_value(tmp_path: Path) -> None:
    big = _header({1000: "big", 1001: "1", 1002: "1", 1014: "x" * 1500})
    assert _names(_bdb({1: _hash_page([(2, len(big))]), **_chain(big, 2)}), tmp_path) == ["big"]


def test_bdb_overflow_loop_and_bad_page_numbers_are_skipped(tmp_path: Path) -> None:
    looping = {2: _overflow_page(HELLO[:400], 3), 3: _overflow_page(HELLO[400:], 2)}  # 3 -> 2 again
    values = [(2, len(HELLO) + 100), (999_999, 10), (0, 10), (5, len(HELLO))]
    pages = {1: _hash_page(values), **looping, **_chain(HELLO, 5)}
    assert _names(_bdb(pages), tmp_path) == ["hello"]


def test_bdb_shared_chains_stop_at_the_page_budget(tmp_path: Path) -> None:
    """Forty values all naming one long chain would read it forty times; the walk stops instead."""
    blob = _header({1000: "shared", 1001: "1", 1002: "1", 1014: "y" * 6000})
    chain = _chain(blob, 2)
    names = _names(_bdb({1: _hash_page([(2, len(blob))] * 20), **chain}), tmp_path)
    assert 1 <= len(names) < 20


@pytest.mark.parametrize(
    "junk", [b"", b"\0" * 100, b"PK\x03\x04" + b"\xff" * 600, b"SQLite format 3\0" + b"\0" * 84]
)
def test_non_databases_yield_nothing(tmp_path: Path, junk: bytes) -> None:
    assert _names(junk, tmp_path) == []


def test_ndb_blob_larger_than_its_slot_is_skipped(tmp_path: Path) -> None:
    data = bytearray((FIXTURES / CASES["sle-ndb"][0]).read_bytes())
    first_slot = 32
    block_offset = struct.unpack_from("<I", data, first_slot + 8)[0]
    struct.pack_into("<I", data, block_offset * 16 + 12, 0x7FFFFFFF)  # blob length of the first package
    names = _names(bytes(data), tmp_path)
    expected = [e["name"] for e in _expected("sle-ndb")]
    assert names == expected[1:]


def test_sqlite_view_and_non_blob_rows_are_ignored(tmp_path: Path) -> None:
    view = tmp_path / "view.sqlite"
    with sqlite3.connect(view) as connection:
        connection.execute("CREATE TABLE real (blob BLOB)")
        connection.execute("INSERT INTO real VALUES (?)", (HELLO,))
        connection.execute("CREATE VIEW Packages AS SELECT blob FROM real")
    assert packages_from_db(view, "/var/lib/rpm/rpmdb.sqlite", None) == []
    table = tmp_path / "table.sqlite"
    with sqlite3.connect(table) as connection:
        connection.execute("CREATE TABLE Packages (hnum INTEGER PRIMARY KEY, blob BLOB)")
        connection.executemany(
            "INSERT INTO Packages (blob) VALUES (?)", [("text",), (None,), (b"\0" * 7,), (HELLO,)]
        )
    assert [p.name for p in packages_from_db(table, "/var/lib/rpm/rpmdb.sqlite", None)] == ["hello"]


@pytest.mark.parametrize("case", sorted(CASES))
def test_truncated_databases_yield_a_subset(case: str, tmp_path: Path) -> None:
    data = (FIXTURES / CASES[case][0]).read_bytes()
    expected = {e["name"] for e in _expected(case)}
    for fraction in (0.0, 0.1, 0.5, 0.9, 0.99):
        assert set(_names(data[: int(len(data) * fraction)], tmp_path)) <= expected


@pytest.mark.parametrize("case", sorted(CASES))
def test_corrupted_databases_never_raise(case: str, tmp_path: Path) -> None:
    data = (FIXTURES / CASES[case][0]).read_bytes()
    rng = random.Random(case)
    for _ in range(15):
        damaged = bytearray(data)
        for _ in range(50):
            damaged[rng.randrange(len(damaged))] = rng.randrange(256)
        _names(bytes(damaged), tmp_path)  # any outcome but an exception (or a hang)


def test_header_edge_cases() -> None:
    assert parse_header(b"") is None
    assert parse_header(struct.pack(">II", 0x7FFFFFFF, 0)) is None  # more entries than bytes
    assert parse_header(struct.pack(">II", 1, 0x7FFFFFFF) + b"\0" * 16) is None  # data past the end
    out_of_range = struct.pack(">II", 1, 4) + struct.pack(">iIiI", 1000, 6, 99, 1) + b"abc\0"
    header = parse_header(out_of_range)
    assert header is not None
    assert header.name == ""
    unterminated = struct.pack(">II", 1, 3) + struct.pack(">iIiI", 1000, 6, 0, 1) + b"abc"
    assert parse_header(unterminated) == parse_header(out_of_range)
    none_source = parse_header(_header({1000: "a", 1001: "1", 1044: "(none)", 1014: "(none)"}))
    assert none_source is not None
    assert (none_source.source_rpm, none_source.license, none_source.epoch) == ("", "", None)


def test_gpg_pubkey_and_versionless_headers_are_not_packages(tmp_path: Path) -> None:
    table = tmp_path / "rpmdb.sqlite"
    keys = _header({1000: "gpg-pubkey", 1001: "fd431d51", 1002: "4ae0493b"})
    with sqlite3.connect(table) as connection:
        connection.execute("CREATE TABLE Packages (hnum INTEGER PRIMARY KEY, blob BLOB)")
        blobs = [(keys,), (_header({1000: "no-version"}),), (_header({1000: "x", 1001: "2", 1003: 0}),)]
        connection.executemany("INSERT INTO Packages (blob) VALUES (?)", blobs)
    (package,) = packages_from_db(table, "/var/lib/rpm/rpmdb.sqlite", None)
    assert (package.name, package.version, package.arch) == ("x", "0:2", None)  # an explicit epoch 0 is kept


def test_sqlite_query_stops_at_the_step_budget(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    table = tmp_path / "rpmdb.sqlite"
    with sqlite3.connect(table) as connection:
        connection.execute("CREATE TABLE Packages (hnum INTEGER PRIMARY KEY, blob BLOB)")
        connection.executemany("INSERT INTO Packages (blob) VALUES (?)", [(HELLO,)] * 2000)
    assert len(packages_from_db(table, "/var/lib/rpm/rpmdb.sqlite", None)) == 2000
    monkeypatch.setattr("dockyard.scanner.rpm.SQLITE_STEP_BUDGET", 5)  # 5000 virtual machine steps
    partial = packages_from_db(table, "/var/lib/rpm/rpmdb.sqlite", None)
    assert 0 < len(partial) < 2000  # interrupted, not raised
