"""Go binaries: a real binary built with the local Go toolchain, and hand-made build-info layouts."""

from __future__ import annotations

import shutil
import struct
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dockyard.domain.scanning.inventory import GOLANG, Package
from dockyard.scanner.golang import (
    MAGIC,
    GoBinaryCataloguer,
    build_info_of,
    packages_of,
    parse_modinfo,
    read_build_info,
    toolchain_version,
)
from dockyard.scanner.rootfs import DirRootFs

from . import GoBinary, build_go_binary

SENTINEL = b"0123456789abcdef"  # the 16-byte framing around modinfo (its value is not checked)
MODINFO = (
    "path\texample.com/tool\n"
    "mod\texample.com/tool\tv1.4.0\th1:abc=\n"
    "dep\tgolang.org/x/text\tv0.3.7\th1:def=\n"
    "dep\tgithub.com/old/name\tv1.0.0\n"
    "=>\tgithub.com/new/name\tv1.1.0\th1:ghi=\n"
    "build\t-compiler=gc\n"
)


@pytest.fixture(scope="session")
def go_binary(tmp_path_factory: pytest.TempPathFactory) -> GoBinary:
    if shutil.which("go") is None:
        pytest.skip("the Go toolchain (Debian's golang-go) is not installed")
    return build_go_binary(tmp_path_factory.getbasetemp() / "go-build")


def _framed(modinfo: str) -> bytes:
    return SENTINEL + modinfo.encode() + SENTINEL


def _uvarint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def inline_blob(version: str, modinfo: str) -> bytes:
    """Go 1.18+ layout, somewhere in a non-ELF file at a 16-byte aligned offset."""
    header = MAGIC + bytes([8, 2]) + bytes(16)
    body = _uvarint(len(version)) + version.encode() + _uvarint(len(_framed(modinfo))) + _framed(modinfo)
    return b"MZ" + bytes(46) + header + body + bytes(64)


def pointer_elf(version: str, modinfo: str) -> bytes:
    """A minimal little-endian ELF64 whose one writable PT_LOAD segment starts with a Go 1.13-1.17
    pointer-format header: two pointers to Go string headers (address, length)."""
    offset, vaddr = 0x100, 0x500100
    version_bytes, modinfo_bytes = version.encode(), _framed(modinfo)
    strings_at = vaddr + 64
    header = MAGIC + bytes([8, 0]) + struct.pack("<QQ", vaddr + 32, vaddr + 48)
    string_headers = struct.pack("<QQ", strings_at, len(version_bytes)) + struct.pack(
        "<QQ", strings_at + len(version_bytes), len(modinfo_bytes)
    )
    segment = header + string_headers + version_bytes + modinfo_bytes
    ident = b"\x7fELF" + bytes([2, 1, 1]) + bytes(9)
    elf_header = ident + struct.pack("<HHIQQQIHHHHHH", 2, 62, 1, 0, 64, 0, 0, 64, 56, 1, 64, 0, 0)
    program_header = struct.pack("<IIQQQQQQ", 1, 6, offset, vaddr, vaddr, len(segment), len(segment), 16)
    return (elf_header + program_header).ljust(offset, b"\0") + segment


def test_real_binary_packages(go_binary: GoBinary) -> None:
    info = read_build_info(go_binary.path)
    assert info is not None
    assert info.go_version == go_binary.go_version
    assert info.path == "example.com/app"
    assert info.main is not None
    assert (info.main.path, info.main.version) == ("example.com/app", "(devel)")
    deps = {dep.path: dep for dep in info.deps}
    assert deps["example.com/greet"].version == "v1.0.0"
    replacement = deps["example.com/greet"].replace
    assert replacement is not None
    assert (replacement.path, replacement.version) == ("example.com/fork", "v1.2.3")
    assert replacement.sum.startswith("h1:")
    local = deps["example.com/local"].replace
    assert local is not None
    assert local.path == "../local"

    packages = packages_of(info, "/usr/local/bin/app")
    stdlib_version = go_binary.go_version.split()[0]
    assert packages == [
        Package(
            GOLANG, "example.com/fork", "v1.2.3", "pkg:golang/example.com/fork@v1.2.3", "/usr/local/bin/app"
        ),
        Package(
            GOLANG, "stdlib", stdlib_version, f"pkg:golang/stdlib@{stdlib_version[2:]}", "/usr/local/bin/app"
        ),
    ]  # the (devel) main module and the local-directory replacement carry no version to match


def test_cataloguer_over_a_directory(go_binary: GoBinary, tmp_path: Path) -> None:
    (tmp_path / "usr" / "bin").mkdir(parents=True)
    shutil.copy(go_binary.path, tmp_path / "usr" / "bin" / "app")
    (tmp_path / "usr" / "bin" / "script").write_text("#!/bin/sh\n")
    (tmp_path / "usr" / "bin" / "truncated").write_bytes(go_binary.path.read_bytes()[:5000])
    (tmp_path / "libfoo.so.1").write_bytes(go_binary.path.read_bytes())
    found = GoBinaryCataloguer().catalogue(DirRootFs(tmp_path), None)
    assert {(p.name, p.path) for p in found} == {
        ("example.com/fork", "/usr/bin/app"),
        ("stdlib", "/usr/bin/app"),
    }


def test_non_go_binaries_have_no_build_info(tmp_path: Path) -> None:
    for candidate in ("/bin/ls", "/bin/sh"):
        path = Path(candidate).resolve()
        if path.exists():
            assert read_build_info(path) is None
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    assert read_build_info(empty) is None


def test_inline_format_with_a_versioned_main_module() -> None:
    info = build_info_of(inline_blob("go1.21.5 X:boringcrypto", MODINFO))
    assert info is not None
    packages = packages_of(info, "/bin/tool")
    assert [(p.name, p.version, p.purl) for p in packages] == [
        ("example.com/tool", "v1.4.0", "pkg:golang/example.com/tool@v1.4.0"),
        ("golang.org/x/text", "v0.3.7", "pkg:golang/golang.org/x/text@v0.3.7"),
        ("github.com/new/name", "v1.1.0", "pkg:golang/github.com/new/name@v1.1.0"),
        ("stdlib", "go1.21.5", "pkg:golang/stdlib@1.21.5"),
    ]


def test_pointer_format_through_elf_program_headers() -> None:
    info = build_info_of(pointer_elf("go1.16.15", MODINFO))
    assert info is not None
    assert info.go_version == "go1.16.15"
    assert info.main is not None
    assert info.main.version == "v1.4.0"
    assert [dep.path for dep in info.deps] == ["golang.org/x/text", "github.com/old/name"]


def test_magic_outside_the_elf_data_segment_is_ignored() -> None:
    """A Go tool that reads build info has the magic as a string constant in .rodata."""
    elf = bytearray(pointer_elf("go1.16.15", MODINFO))
    # a valid inline header, but in the padding before the writable segment
    decoy = MAGIC + bytes([8, 2]) + bytes(16) + _uvarint(8) + b"go9.9.99" + _uvarint(0)
    elf[0xA0 : 0xA0 + len(decoy)] = decoy
    info = build_info_of(bytes(elf))
    assert info is not None
    assert info.go_version == "go1.16.15"


def test_unframed_or_broken_build_info_reads_safely() -> None:
    info = build_info_of(
        b"MZ"
        + bytes(46)
        + MAGIC
        + bytes([8, 2])
        + bytes(16)
        + _uvarint(8)
        + b"go1.20.1"
        + _uvarint(3)
        + b"abc"
    )
    assert info is not None
    assert (info.go_version, info.main, info.deps) == ("go1.20.1", None, [])
    assert build_info_of(b"MZ" + bytes(46) + MAGIC + bytes([8, 2]) + bytes(16) + b"\xff" * 20) is None
    assert build_info_of(b"MZ" + bytes(46) + MAGIC + bytes([8, 2])) is None
    assert build_info_of(pointer_elf("go1.16.15", MODINFO)[:0x120]) is None  # pointers past the end


def test_wants_executable_binaries_but_not_shared_libraries() -> None:
    cataloguer = GoBinaryCataloguer()
    elf = b"\x7fELF\x02\x01\x01" + bytes(9)
    go_note = b"\x04\x00\x00\x00\x53\x00\x00\x00\x04\x00\x00\x00Go\x00\x00" + b"build-id"
    assert cataloguer.wants("/usr/bin/app", elf + bytes(970) + go_note)  # Go's note, as at offset 988
    assert not cataloguer.wants("/usr/bin/ls", elf + bytes(4000))  # an ELF program without it: not Go
    assert cataloguer.wants("/app/server", b"\xcf\xfa\xed\xfe" + bytes(12))  # Mach-O 64
    assert cataloguer.wants("/app/server.exe", b"MZ" + bytes(14))
    assert not cataloguer.wants("/usr/lib/libssl.so.3", elf + go_note)
    assert not cataloguer.wants("/usr/lib/libfoo.so", elf + go_note)
    assert not cataloguer.wants("/usr/bin/script", b"#!/bin/sh\n")
    assert not cataloguer.wants("/usr/bin/app", b"")  # not executable: no head offered


def test_modinfo_parsing_edge_cases() -> None:
    info = parse_modinfo(
        "go1.22.0", "garbage\n=>\torphan\tv1\ndep\tonly.path\n\ndep\ta.b/c\tv1.0.0\n=>\t../dir\n"
    )
    assert info.main is None
    assert [(d.path, d.version, d.replace and d.replace.path) for d in info.deps] == [
        ("only.path", "", None),
        ("a.b/c", "v1.0.0", "../dir"),
    ]
    assert packages_of(info, "/x") == [
        Package(GOLANG, "stdlib", "go1.22.0", "pkg:golang/stdlib@1.22.0", "/x")
    ]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("go1.19.8", "go1.19.8"),
        ("go1.21.0 X:boringcrypto", "go1.21.0"),
        ("go1.22rc1", "go1.22rc1"),
        ("devel go1.23-abcdef Tue", None),
        ("", None),
    ],
)
def test_toolchain_version(raw: str, expected: str | None) -> None:
    assert toolchain_version(raw) == expected


@settings(max_examples=300)
@given(
    layout=st.sampled_from(["elf", "inline"]),
    flips=st.lists(st.tuples(st.integers(0, 1_000), st.integers(0, 255)), min_size=1, max_size=6),
)
def test_mutated_build_info_never_raises(layout: str, flips: list[tuple[int, int]]) -> None:
    data = bytearray(
        pointer_elf("go1.16.15", MODINFO) if layout == "elf" else inline_blob("go1.21.5", MODINFO)
    )
    for position, value in flips:
        data[position % len(data)] = value
    info = build_info_of(bytes(data))
    if info is not None:
        packages_of(info, "/bin/x")
