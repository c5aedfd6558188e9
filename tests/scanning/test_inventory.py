"""Inventories: layers -> kept files -> OS and packages, deduplicated and ordered."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from dockyard.domain.scanning.inventory import (
    GOLANG,
    Inventory,
    OsInfo,
    Package,
    ScanFailed,
    UnsupportedImage,
)
from dockyard.scanner.golang import GoBinaryCataloguer
from dockyard.scanner.inventory import LayerFile, ScanLimits, build_inventory, inventory_of_directory
from dockyard.scanner.rootfs import RootFs

from . import FIXTURES, Entry, GoBinary, ListCataloguer, build_go_binary, file, symlink, write_layer

DB = "/var/lib/fake/db"


@pytest.fixture(scope="session")
def go_binary(tmp_path_factory: pytest.TempPathFactory) -> GoBinary:
    if shutil.which("go") is None:
        pytest.skip("the Go toolchain (Debian's golang-go) is not installed")
    return build_go_binary(tmp_path_factory.getbasetemp() / "go-build")


def layer(tmp_path: Path, name: str, *entries: Entry) -> LayerFile:
    return LayerFile(write_layer(tmp_path / name, entries), f"sha256:{name}")


def generic(name: str, version: str, path: str = DB) -> Package:
    return Package("generic", name, version, f"pkg:generic/{name}@{version}", path)


def test_os_and_packages_from_layers_with_an_overwritten_database(tmp_path: Path, scratch: Path) -> None:
    layers = [
        layer(
            tmp_path,
            "base",
            file("usr/lib/os-release", 'ID=debian\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\n'),
            symlink("etc/os-release", "../usr/lib/os-release"),
            file(DB, "zlib 1.0\n"),
        ),
        layer(tmp_path, "app", file(DB, "zlib 1.2\nopenssl 3.0.11\n")),
    ]
    inventory = build_inventory(layers, scratch, [ListCataloguer(frozenset({DB}))])
    assert inventory == Inventory(
        os=OsInfo("debian", "12", "", "bookworm"),
        packages=(generic("openssl", "3.0.11"), generic("zlib", "1.2")),
    )
    assert list(scratch.iterdir()) == []  # kept files are gone once the inventory is built


def test_os_files_are_kept_even_when_no_cataloguer_wants_them(tmp_path: Path, scratch: Path) -> None:
    layers = [layer(tmp_path, "base", file("etc/alpine-release", "3.18.1\n"))]
    inventory = build_inventory(layers, scratch, [])
    assert inventory == Inventory(os=OsInfo("alpine", "3.18.1"), packages=())


def test_duplicates_are_dropped_and_packages_are_ordered(tmp_path: Path, scratch: Path) -> None:
    layers = [layer(tmp_path, "base", file(DB, "zz 1\naa 2\naa 1\n"), file("/other/db", "aa 1\n"))]
    first = ListCataloguer(frozenset({DB}), name="first")
    second = ListCataloguer(frozenset({DB, "/other/db"}), name="second")  # reads DB again
    inventory = build_inventory(layers, scratch, [first, second])
    assert inventory.os is None
    assert inventory.packages == (
        generic("aa", "1", "/other/db"),  # the same package in another file is kept: another place
        generic("aa", "1"),
        generic("aa", "2"),
        generic("zz", "1"),
    )


def test_an_image_without_layers_is_unsupported(scratch: Path) -> None:
    with pytest.raises(UnsupportedImage, match="no layers"):
        build_inventory([], scratch, [])


def test_layer_failures_surface_as_scan_failed(tmp_path: Path, scratch: Path) -> None:
    bad = tmp_path / "bad"
    bad.write_bytes(b"\x1f\x8b" + b"not really gzip")
    with pytest.raises(ScanFailed, match=r"^layer sha256:bad: unreadable layer"):
        build_inventory([LayerFile(bad, "sha256:bad")], scratch, [])
    assert list(scratch.iterdir()) == []


def test_limits_are_passed_to_the_layer_reader(tmp_path: Path, scratch: Path) -> None:
    layers = [layer(tmp_path, "base", *(file(f"f{index}") for index in range(5)))]
    with pytest.raises(ScanFailed, match="more than 3 tar entries"):
        build_inventory(layers, scratch, [], ScanLimits(max_entries=3))


@dataclass
class BrokenCataloguer:
    name: str = "broken"

    def wants(self, path: str, head: bytes) -> bool:
        return False

    def catalogue(self, fs: RootFs, os: OsInfo | None) -> list[Package]:
        raise KeyError("oops")


def test_a_cataloguer_bug_fails_the_scan_with_its_name(tmp_path: Path, scratch: Path) -> None:
    layers = [layer(tmp_path, "base", file("a"))]
    with pytest.raises(ScanFailed, match=r"cataloguer broken failed: KeyError: 'oops'"):
        build_inventory(layers, scratch, [BrokenCataloguer()])
    assert list(scratch.iterdir()) == []


def test_go_binary_in_an_image(tmp_path: Path, scratch: Path, go_binary: GoBinary) -> None:
    binary = go_binary.path.read_bytes()
    layers = [
        layer(tmp_path, "base", file("etc/os-release", "ID=alpine\nVERSION_ID=3.18.1\n")),
        layer(tmp_path, "app", file("usr/local/bin/app", binary, mode=0o755), file("opt/app.data", binary)),
    ]
    inventory = build_inventory(layers, scratch, [GoBinaryCataloguer()])
    assert inventory.os == OsInfo("alpine", "3.18.1")
    stdlib = go_binary.go_version.split()[0]
    assert [(p.type, p.name, p.version, p.path) for p in inventory.packages] == [
        (GOLANG, "example.com/fork", "v1.2.3", "/usr/local/bin/app"),
        (GOLANG, "stdlib", stdlib, "/usr/local/bin/app"),
    ]  # the non-executable copy is not offered to the Go cataloguer


def test_inventory_of_directory() -> None:
    root = FIXTURES / "syft" / "debian" / "image-dpkg"
    cataloguer = ListCataloguer(frozenset())
    inventory = inventory_of_directory(root, [cataloguer])
    assert inventory == Inventory(os=OsInfo("debian", "12", "Debian GNU/Linux 12 (bookworm)", "bookworm"))
