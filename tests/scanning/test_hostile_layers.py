"""Hostile and broken layers: every one ends in ScanFailed with a reason (or a correct, safe result)."""

from __future__ import annotations

import gzip
import io
import tarfile
import uuid
from pathlib import Path

import pytest
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dockyard.domain.scanning.inventory import ScanFailed
from dockyard.scanner.layers import LayerFile, Wants, read_layers
from dockyard.scanner.limits import MiB, ScanLimits

from . import compress, file, keep_all, symlink, tar_bytes, tree, write_layer

SMALL = ScanLimits(
    max_layer_bytes=1 * MiB,
    max_image_bytes=3 * MiB,
    max_entries=50,
    max_file_bytes=64 * 1024,
    max_kept_bytes=100 * 1024,
    max_path_length=256,
    max_header_bytes=4096,
)
DIGEST = "sha256:" + "ab" * 32


def one_layer(tmp_path: Path, data: bytes, media_type: str | None = None) -> list[LayerFile]:
    path = tmp_path / f"layer-{uuid.uuid4().hex}"
    path.write_bytes(data)
    return [LayerFile(path, DIGEST, media_type)]


def keep_none(path: str, head: bytes) -> bool:
    return False


def fails(layers: list[LayerFile], scratch: Path, limits: ScanLimits = SMALL, wants: Wants = keep_all) -> str:
    with pytest.raises(ScanFailed) as caught:
        read_layers(layers, scratch, wants, limits)
    assert list(scratch.iterdir()) == []  # a failed read leaves no scratch files behind
    return caught.value.reason


def raw_header(name: str, size: int, kind: bytes) -> bytes:
    """A ustar header block that declares ``size`` bytes of ``kind`` (data not included)."""
    info = tarfile.TarInfo(name)
    info.size, info.type = size, kind
    return info.tobuf(format=tarfile.USTAR_FORMAT)


def test_gzip_bomb_stops_at_the_layer_limit(tmp_path: Path, scratch: Path) -> None:
    data = gzip.compress(tar_bytes([file("zeros", bytes(20 * MiB))]), compresslevel=9)
    assert len(data) < 64 * 1024
    reason = fails(one_layer(tmp_path, data), scratch, wants=keep_none)
    assert reason == f"layer {DIGEST}: decompressed size exceeds 1 MiB"


def test_the_image_limit_counts_all_layers(tmp_path: Path, scratch: Path) -> None:
    layer = gzip.compress(tar_bytes([file("zeros", bytes(900 * 1024))]))
    paths = []
    for index in range(4):
        path = tmp_path / f"layer{index}"
        path.write_bytes(layer)
        paths.append(LayerFile(path, f"sha256:{index}"))
    assert (
        fails(paths, scratch, wants=keep_none)
        == "layer sha256:3: the image's decompressed size exceeds 3 MiB"
    )


def test_default_kept_file_limit_fails_before_reading_the_file(tmp_path: Path, scratch: Path) -> None:
    """A wanted file larger than the default limit, as a real zero-filled gzip stream (many small gzip
    members of 1 MiB of zeros each, so the test writes under 2 MB)."""
    size = ScanLimits().max_file_bytes + MiB
    zeros = gzip.compress(bytes(MiB), mtime=0)
    path = tmp_path / "layer"
    with path.open("wb") as out:
        out.write(gzip.compress(raw_header("usr/bin/huge", size, tarfile.REGTYPE), mtime=0))
        for _ in range(size // MiB):
            out.write(zeros)
        out.write(gzip.compress(bytes(1024), mtime=0))
    assert path.stat().st_size < 2 * 1024 * 1024
    reason = fails([LayerFile(path, DIGEST)], scratch, ScanLimits())
    assert reason == f"layer {DIGEST}: file /usr/bin/huge: {size} bytes exceeds the 512 MiB limit"


def test_total_kept_bytes_are_bounded(tmp_path: Path, scratch: Path) -> None:
    entries = [file(f"f{index}", bytes(40 * 1024)) for index in range(3)]
    reason = fails([LayerFile(write_layer(tmp_path / "l", entries), DIGEST)], scratch)
    assert reason == f"layer {DIGEST}: files kept for cataloguing exceed 100 KiB"


def test_dot_dot_and_absolute_member_names_stay_inside_the_image(tmp_path: Path, scratch: Path) -> None:
    marker = f"dockyard-escape-{uuid.uuid4().hex}"
    entries = [
        file(f"../../../../../../../../tmp/{marker}", "up"),
        file(f"/tmp/{marker}-abs", "abs"),
        file("../../etc/x", "dotdot"),
        file("a/../../../b", "b"),
    ]
    layer = write_layer(tmp_path / "layer", entries)
    before = tree(tmp_path)
    fs = read_layers([LayerFile(layer, DIGEST)], scratch, keep_all)
    after = tree(tmp_path)
    assert all(path.startswith("scratch/") for path in after - before)
    assert before - after == set()
    assert not (Path("/tmp") / marker).exists()
    assert not (Path("/tmp") / f"{marker}-abs").exists()
    assert fs.read(f"/tmp/{marker}") == b"up"
    assert fs.read(f"/tmp/{marker}-abs") == b"abs"
    assert fs.read("/etc/x") == b"dotdot"
    assert fs.read("/b") == b"b"


def test_a_file_through_a_symlink_to_the_root_lands_in_the_image(tmp_path: Path, scratch: Path) -> None:
    marker = f"dockyard-escape-{uuid.uuid4().hex}"
    entries = [
        symlink("evil", "/"),
        symlink("up", "../../../../../.."),
        file(f"evil/tmp/{marker}", "through root"),
        file(f"up/tmp/{marker}-up", "through up"),
    ]
    layer = write_layer(tmp_path / "layer", entries)
    before = tree(tmp_path)
    fs = read_layers([LayerFile(layer, DIGEST)], scratch, keep_all)
    assert all(path.startswith("scratch/") for path in tree(tmp_path) - before)
    assert not (Path("/tmp") / marker).exists()
    assert sorted(fs.files()) == [f"/tmp/{marker}", f"/tmp/{marker}-up"]
    assert fs.read(f"/evil/tmp/{marker}") == b"through root"


def test_a_member_below_a_symlink_loop_fails(tmp_path: Path, scratch: Path) -> None:
    entries = [symlink("a", "b"), symlink("b", "a"), file("a/x", "x")]
    reason = fails([LayerFile(write_layer(tmp_path / "l", entries), DIGEST)], scratch)
    assert reason == f"layer {DIGEST}: a member's path loops through symlinks"


def test_too_many_entries(tmp_path: Path, scratch: Path) -> None:
    entries = [file(f"f{index}") for index in range(60)]
    reason = fails([LayerFile(write_layer(tmp_path / "l", entries), DIGEST)], scratch)
    assert reason == f"layer {DIGEST}: the image has more than 50 tar entries"


@pytest.mark.parametrize("kind", [tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.GNUTYPE_LONGNAME])
def test_a_huge_extended_header_fails_before_it_is_read(tmp_path: Path, scratch: Path, kind: bytes) -> None:
    """10 MB declared, 1 KB present: had the reader tried to read it, it would report truncation."""
    data = raw_header("././@PaxHeader", 10_000_000, kind) + bytes(1024)
    reason = fails(one_layer(tmp_path, gzip.compress(data)), scratch, ScanLimits())
    assert (
        reason == f"layer {DIGEST}: a tar extended (pax or long-name) header of 10000000 bytes exceeds 1 MiB"
    )


def test_a_chain_of_extended_headers_fails(tmp_path: Path, scratch: Path) -> None:
    record = b"20 comment=aaaaaaaa\n"
    block = raw_header("././@PaxHeader", len(record), tarfile.XHDTYPE) + record.ljust(512, b"\0")
    reason = fails(one_layer(tmp_path, block * 500 + bytes(1024)), scratch)
    assert reason == f"layer {DIGEST}: more than 8 tar extended headers in a row"


def test_an_overlong_member_name_fails(tmp_path: Path, scratch: Path) -> None:
    reason = fails([LayerFile(write_layer(tmp_path / "l", [file("a/" * 200 + "x")]), DIGEST)], scratch)
    assert reason == f"layer {DIGEST}: a tar member's name is longer than 256 characters"


def test_an_overlong_link_target_fails(tmp_path: Path, scratch: Path) -> None:
    reason = fails([LayerFile(write_layer(tmp_path / "l", [symlink("l", "x" * 300)]), DIGEST)], scratch)
    assert reason == f"layer {DIGEST}: a tar member's link target is longer than 256 characters"


@pytest.mark.parametrize("cut", [700, 1536, 2048])
def test_a_truncated_tar_fails(tmp_path: Path, scratch: Path, cut: int) -> None:
    """Cut inside a file's data, inside a header, and exactly between members (no end marker)."""
    data = tar_bytes([file("a", bytes(1000)), file("b", bytes(100))], fmt=tarfile.USTAR_FORMAT)
    reason = fails(one_layer(tmp_path, data[:cut]), scratch)
    assert reason.startswith(f"layer {DIGEST}: ")
    assert "truncated" in reason or "unexpected end of data" in reason


def test_a_truncated_tar_fails_even_when_the_cut_file_is_not_kept(tmp_path: Path, scratch: Path) -> None:
    data = tar_bytes([file("a", bytes(5000))], fmt=tarfile.USTAR_FORMAT)
    with pytest.raises(ScanFailed, match=r"unexpected end of data|truncated"):
        read_layers(one_layer(tmp_path, data[:3000]), scratch, lambda path, head: False, SMALL)


def test_a_truncated_gzip_stream_fails(tmp_path: Path, scratch: Path) -> None:
    data = gzip.compress(tar_bytes([file("a", bytes(range(256)) * 40)]))
    reason = fails(one_layer(tmp_path, data[: len(data) // 2]), scratch)
    assert reason.startswith(f"layer {DIGEST}: unreadable layer: Compressed file ended")


def test_a_corrupt_gzip_stream_fails(tmp_path: Path, scratch: Path) -> None:
    data = bytearray(gzip.compress(tar_bytes([file("a", bytes(range(256)) * 40)])))
    data[20:40] = b"\xff" * 20
    reason = fails(one_layer(tmp_path, bytes(data)), scratch)
    assert reason.startswith(f"layer {DIGEST}: ")


def test_garbage_bytes_fail(tmp_path: Path, scratch: Path) -> None:
    garbage = bytes((index * 7919 + 13) % 251 for index in range(5000))
    reason = fails(one_layer(tmp_path, garbage), scratch)
    assert reason.startswith(f"layer {DIGEST}: corrupt tar header")
    fails(one_layer(tmp_path, garbage, "application/vnd.oci.image.layer.v1.tar+zstd"), scratch)
    fails(one_layer(tmp_path, b""), scratch)


def test_garbage_after_valid_members_fails_instead_of_ending_quietly(tmp_path: Path, scratch: Path) -> None:
    data = tar_bytes([file("a", "1")], fmt=tarfile.USTAR_FORMAT)[:1024] + b"\x01" * 1024
    assert fails(one_layer(tmp_path, data), scratch).startswith(
        f"layer {DIGEST}: corrupt tar header at offset 1024"
    )


def test_a_corrupt_zstd_frame_fails(tmp_path: Path, scratch: Path) -> None:
    bad_header = b"\x28\xb5\x2f\xfd" + b"\xff" * 100
    reason = fails(one_layer(tmp_path, bad_header), scratch)
    assert reason == f"layer {DIGEST}: unreadable layer: zstd decompress error: Unsupported frame parameter"
    framed = bytearray(
        zstandard.ZstdCompressor(write_checksum=True).compress(tar_bytes([file("a", "1" * 5000)]))
    )
    framed[-6] ^= 0xFF  # inside the compressed block: caught by the frame checksum
    reason = fails(one_layer(tmp_path, bytes(framed)), scratch)
    assert reason.startswith(f"layer {DIGEST}: unreadable layer: zstd decompress error: ")


def test_a_truncated_zstd_stream_fails(tmp_path: Path, scratch: Path) -> None:
    data = compress(tar_bytes([file("a", bytes(range(256)) * 64)]), "zstd")
    reason = fails(one_layer(tmp_path, data[: len(data) // 2]), scratch)
    assert reason.startswith(f"layer {DIGEST}: ")


def test_a_negative_pax_size_fails(tmp_path: Path, scratch: Path) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        info = tarfile.TarInfo("a")
        info.pax_headers = {"size": "-5"}
        archive.addfile(info, io.BytesIO(b""))
    reason = fails(one_layer(tmp_path, buffer.getvalue()), scratch)
    assert reason == f"layer {DIGEST}: tar member 'a' has a negative size"


def _valid_layer() -> bytes:
    return tar_bytes(
        [
            file("etc/os-release", "ID=alpine\nVERSION_ID=3.18.1\n"),
            symlink("lib", "usr/lib"),
            file("usr/bin/app", b"\x7fELF" + bytes(200), mode=0o755),
            file("var/.wh.x"),
        ]
    )


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    compression=st.sampled_from(["tar", "gzip", "zstd"]),
    flips=st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), min_size=1, max_size=8),
    cut=st.one_of(st.none(), st.integers(0, 10_000)),
)
def test_mutated_layers_never_crash(
    tmp_path: Path, compression: str, flips: list[tuple[int, int]], cut: int | None
) -> None:
    data = bytearray(compress(_valid_layer(), compression))
    for position, value in flips:
        data[position % len(data)] = value
    if cut is not None:
        data = data[: cut % (len(data) + 1)]
    scratch = tmp_path / f"scratch-{uuid.uuid4().hex}"
    scratch.mkdir()
    reason = None
    try:
        fs = read_layers(one_layer(tmp_path, bytes(data)), scratch, keep_all, SMALL)
    except ScanFailed as exc:
        reason = exc.reason
    if reason is None:
        for path in fs.files():
            fs.read(path)
    else:
        assert reason.startswith(f"layer {DIGEST}: ")
        assert list(scratch.iterdir()) == []


def gnu_sparse_header(extension_blocks: int) -> bytes:
    """An old-GNU sparse member whose every extension block says another one follows."""
    info = tarfile.TarInfo("sparse")
    info.type = tarfile.GNUTYPE_SPARSE
    block = bytearray(info.tobuf(format=tarfile.GNU_FORMAT))
    block[482] = 1  # isextended
    block[148:156] = b" " * 8
    block[148:156] = b"%06o\0 " % sum(block)
    extension = bytearray(b"00000000001\0" * 42)  # 21 (offset, size) entries
    extension += bytes(512 - len(extension))
    extension[504] = 1
    return bytes(block) + bytes(extension) * extension_blocks


def test_an_endless_gnu_sparse_map_is_capped(tmp_path: Path, scratch: Path) -> None:
    reason = fails(one_layer(tmp_path, gnu_sparse_header(400)), scratch)
    assert reason == f"layer {DIGEST}: a tar member's headers take more than 100 KiB"


def test_a_cut_off_gnu_sparse_map_fails(tmp_path: Path, scratch: Path) -> None:
    reason = fails(one_layer(tmp_path, gnu_sparse_header(3)), scratch)
    expected = "unreadable layer: the tar stream is truncated inside a member's headers"
    assert reason == f"layer {DIGEST}: {expected}"
