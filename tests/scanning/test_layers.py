"""Reading layers into a RootFs: whiteouts, opaque directories, links, compression, what is kept."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from dockyard.domain.scanning.inventory import ScanFailed, UnsupportedImage
from dockyard.scanner.layers import LayerFile, LayerRootFs, clean_parts, read_layers

from . import Entry, compress, directory, file, hardlink, keep_all, special, symlink, tar_bytes, write_layer


def layers(tmp_path: Path, *contents: list[Entry], compression: str = "gzip") -> list[LayerFile]:
    found = []
    for index, entries in enumerate(contents):
        path = write_layer(tmp_path / f"layer{index}", entries, compression)
        found.append(LayerFile(path, f"sha256:{index:064d}"))
    return found


def test_whiteouts_opaque_dirs_and_overwrites_across_three_layers(tmp_path: Path, scratch: Path) -> None:
    lower = [
        directory("etc"),
        file("usr/lib/os-release", "ID=debian\nVERSION_ID=11\n"),
        symlink("etc/os-release", "../usr/lib/os-release"),
        file("var/lib/fake/db", "pkg-a 1\n"),
        file("opt/app/old.txt", "old"),
        file("opt/app/sub/deep.txt", "deep"),
        file("tmp/gone.txt", "gone"),
        file("srv/data/x.txt", "x"),
        file("srv/keep.txt", "keep"),
    ]
    middle = [
        file("tmp/.wh.gone.txt"),  # a file deleted
        directory("opt/app"),
        file("opt/app/new.txt", "new"),  # written before the opaque marker: stays (same layer)
        file("opt/app/.wh..wh..opq"),
        file("srv/.wh.data"),  # a directory replaced: deleted, then made anew with other contents
        directory("srv/data"),
        file("srv/data/y.txt", "y"),
        file("var/lib/fake/db", "pkg-a 2\n"),
    ]
    upper = [
        file("var/lib/fake/db", "pkg-a 3\npkg-b 1\n"),
        file("usr/lib/os-release", "ID=debian\nVERSION_ID=12\n"),
    ]
    fs = read_layers(layers(tmp_path, lower, middle, upper), scratch, keep_all)

    assert sorted(fs.files()) == [
        "/opt/app/new.txt",
        "/srv/data/y.txt",
        "/srv/keep.txt",
        "/usr/lib/os-release",
        "/var/lib/fake/db",
    ]
    assert fs.read("/var/lib/fake/db") == b"pkg-a 3\npkg-b 1\n"  # the last layer wins
    assert fs.read("/etc/os-release") == b"ID=debian\nVERSION_ID=12\n"
    for gone in ("/tmp/gone.txt", "/opt/app/old.txt", "/opt/app/sub/deep.txt", "/srv/data/x.txt"):
        assert fs.read(gone) is None
        assert fs.local_path(gone) is None
    # replaced and deleted files' scratch copies are released: only the live ones remain on disk
    on_disk = sorted(p.read_bytes() for p in fs.directory.iterdir())
    assert on_disk == sorted(fs.read(p) or b"" for p in fs.files())
    assert fs.kept_bytes == sum(len(data) for data in on_disk)


def test_whiteout_does_not_delete_entries_of_its_own_layer(tmp_path: Path, scratch: Path) -> None:
    lower = [file("a/lower.txt", "1")]
    upper = [file("a/upper.txt", "2"), file("a/.wh.upper.txt"), file("a/.wh.lower.txt")]
    fs = read_layers(layers(tmp_path, lower, upper), scratch, keep_all)
    assert sorted(fs.files()) == ["/a/upper.txt"]


def test_opaque_marker_keeps_lower_directories_only_for_this_layers_entries(
    tmp_path: Path, scratch: Path
) -> None:
    lower = [file("d/x/old.txt", "old"), file("d/y/old.txt", "old"), file("other/z.txt", "z")]
    upper = [file("d/.wh..wh..opq"), file("d/x/new.txt", "new"), file("d/.wh..wh..opq")]
    fs = read_layers(layers(tmp_path, lower, upper), scratch, keep_all)
    assert sorted(fs.files()) == ["/d/x/new.txt", "/other/z.txt"]


def test_whiteout_in_a_directory_never_seen_is_harmless(tmp_path: Path, scratch: Path) -> None:
    fs = read_layers(
        layers(tmp_path, [file("a.txt", "a")], [file("nowhere/.wh.thing"), file(".wh.b")]), scratch, keep_all
    )
    assert sorted(fs.files()) == ["/a.txt"]


def test_aufs_metadata_whiteouts_delete_nothing(tmp_path: Path, scratch: Path) -> None:
    fs = read_layers(
        layers(tmp_path, [file(".wh..wh.plnk/1.2"), file("a.txt", "a")], [file(".wh..wh.aufs")]),
        scratch,
        keep_all,
    )
    assert sorted(fs.files()) == ["/a.txt"]


def test_symlinked_os_release_resolves_relative_and_absolute(tmp_path: Path, scratch: Path) -> None:
    lower = [
        file("usr/lib/os-release", "ID=alpine\n"),
        symlink("etc/os-release", "../usr/lib/os-release"),
        symlink("etc/abs-release", "/usr/lib/os-release"),
        symlink("etc/climbing", "../../../../../../usr/lib/os-release"),
        symlink("etc/chain", "abs-release"),
    ]
    fs = read_layers(layers(tmp_path, lower), scratch, keep_all)
    for path in (
        "/etc/os-release",
        "/etc/abs-release",
        "/etc/climbing",
        "/etc/chain",
        "/etc/../usr/./lib/os-release",
    ):
        assert fs.read(path) == b"ID=alpine\n", path


def test_absolute_symlinks_resolve_inside_the_image_never_on_the_host(tmp_path: Path, scratch: Path) -> None:
    entries = [
        file("etc/passwd", "root:x:0:0:image:/root:/bin/sh\n"),
        symlink("data/users", "/etc/passwd"),
        symlink("data/host-hostname", "/etc/hostname"),  # exists on the host, not in the image
        symlink("data/up", "../../../../etc/passwd"),
    ]
    fs = read_layers(layers(tmp_path, entries), scratch, keep_all)
    assert fs.read("/data/users") == b"root:x:0:0:image:/root:/bin/sh\n"
    assert fs.read("/data/up") == b"root:x:0:0:image:/root:/bin/sh\n"
    assert fs.read("/data/host-hostname") is None
    assert fs.local_path("/data/host-hostname") is None
    assert fs.local_path("/data/users") == fs.local_path("/etc/passwd")


def test_symlink_loops_are_bounded(tmp_path: Path, scratch: Path) -> None:
    entries = [
        symlink("a", "b"),
        symlink("b", "a"),
        symlink("self", "self"),
        symlink("dir", "."),
        file("real.txt", "real"),
    ]
    fs = read_layers(layers(tmp_path, entries), scratch, keep_all)
    assert fs.read("/a") is None
    assert fs.read("/self/x") is None
    assert fs.read("/dir/dir/dir/real.txt") == b"real"  # a few hops are fine
    assert fs.read("/" + "dir/" * 100 + "real.txt") is None  # more than the hop limit is not


@pytest.mark.parametrize("wanted", ["/lib/apk/db/installed", "/usr/lib/apk/db/installed"])
def test_members_below_a_symlinked_directory_land_where_it_points(
    tmp_path: Path, scratch: Path, wanted: str
) -> None:
    """Merged /usr: a later layer's ``lib/...`` member goes to ``/usr/lib/...``, as unpacking would;
    it is kept if a cataloguer wants either its name or where it landed."""
    lower = [directory("usr/lib"), symlink("lib", "usr/lib")]
    upper = [file("lib/apk/db/installed", "P:musl\n")]
    asked: list[str] = []

    def wants(path: str, head: bytes) -> bool:
        asked.append(path)
        return path == wanted

    fs = read_layers(layers(tmp_path, lower, upper), scratch, wants)
    assert sorted(fs.files()) == ["/usr/lib/apk/db/installed"]
    assert fs.read("/lib/apk/db/installed") == b"P:musl\n"
    assert asked[0] == "/lib/apk/db/installed"
    assert asked[-1] == wanted


def test_hard_links_share_the_kept_file_and_outlive_its_deletion(tmp_path: Path, scratch: Path) -> None:
    lower = [
        file("usr/bin/tool", "bytes"),
        hardlink("usr/bin/alias", "usr/bin/tool"),
        hardlink("orphan", "missing"),
    ]
    upper = [file("usr/bin/.wh.tool")]
    fs = read_layers(layers(tmp_path, lower, upper), scratch, keep_all)
    assert sorted(fs.files()) == ["/usr/bin/alias"]
    assert fs.read("/usr/bin/alias") == b"bytes"
    assert len(list(fs.directory.iterdir())) == 1


def test_only_wanted_files_are_kept_and_exec_files_are_offered_their_head(
    tmp_path: Path, scratch: Path
) -> None:
    elf = b"\x7fELF\x02\x01\x01" + bytes(9) + b"rest of the binary"
    entries = [
        file("usr/bin/app", elf, mode=0o755),
        file("usr/share/doc/readme", "text"),
        file("var/lib/dpkg/status", "Package: x\n"),
    ]
    asked: list[tuple[str, bytes]] = []

    def wants(path: str, head: bytes) -> bool:
        asked.append((path, head))
        return head.startswith(b"\x7fELF") or path == "/var/lib/dpkg/status"

    fs = read_layers(layers(tmp_path, entries), scratch, wants)
    assert asked == [
        ("/usr/bin/app", elf[:4096]),
        ("/usr/share/doc/readme", b""),
        ("/var/lib/dpkg/status", b""),
    ]
    assert sorted(fs.files()) == ["/usr/bin/app", "/var/lib/dpkg/status"]
    assert fs.read("/usr/bin/app") == elf  # the head is written back in front of the rest


def test_a_later_unkept_entry_hides_a_lower_kept_file(tmp_path: Path, scratch: Path) -> None:
    elf = b"\x7fELF" + bytes(12)
    lower = [file("bin/tool", elf, mode=0o755), file("dev-thing", "data"), file("d/file", "data")]
    upper = [
        file("bin/tool", "#!/bin/sh\n", mode=0o755),
        special("dev-thing", "fifo"),
        special("d", "chardev"),
    ]
    fs = read_layers(
        layers(tmp_path, lower, upper), scratch, lambda path, head: path != "/bin/tool" or head == elf
    )
    assert list(fs.files()) == []
    assert list(fs.directory.iterdir()) == []


def test_kept_files_live_under_scratch_with_generated_names(tmp_path: Path, scratch: Path) -> None:
    fs = read_layers(layers(tmp_path, [file("etc/os-release", "ID=x\n")]), scratch, keep_all)
    local = fs.local_path("/etc/os-release")
    assert local is not None
    assert local.parent == fs.directory
    assert fs.directory.parent == scratch
    assert "os-release" not in local.name
    assert local.read_bytes() == b"ID=x\n"


def test_read_respects_the_size_limit(tmp_path: Path, scratch: Path) -> None:
    fs = read_layers(layers(tmp_path, [file("big", b"x" * 100)]), scratch, keep_all)
    assert fs.read("/big", limit=99) is None
    assert fs.read("/big", limit=100) == b"x" * 100


@pytest.mark.parametrize("compression", ["gzip", "zstd", "tar"])
def test_compression_detected_by_magic_bytes(tmp_path: Path, scratch: Path, compression: str) -> None:
    fs = read_layers(layers(tmp_path, [file("a", "1")], compression=compression), scratch, keep_all)
    assert fs.read("/a") == b"1"


@pytest.mark.parametrize(
    ("media_type", "compression"),
    [
        ("application/vnd.oci.image.layer.v1.tar", "tar"),
        ("application/vnd.oci.image.layer.v1.tar+gzip", "gzip"),
        ("application/vnd.oci.image.layer.v1.tar+zstd", "zstd"),
        ("application/vnd.docker.image.rootfs.diff.tar.gzip", "gzip"),
    ],
)
def test_compression_by_media_type(tmp_path: Path, scratch: Path, media_type: str, compression: str) -> None:
    path = write_layer(tmp_path / "layer", [file("a", "1")], compression)
    fs = read_layers([LayerFile(path, "sha256:1", media_type)], scratch, keep_all)
    assert fs.read("/a") == b"1"


def test_media_type_decides_over_magic_bytes(tmp_path: Path, scratch: Path) -> None:
    path = write_layer(tmp_path / "layer", [file("a", "1")], "tar")
    with pytest.raises(ScanFailed, match=r"layer sha256:1: unreadable layer: Not a gzipped file"):
        read_layers(
            [LayerFile(path, "sha256:1", "application/vnd.oci.image.layer.v1.tar+gzip")], scratch, keep_all
        )


def test_a_non_layer_media_type_is_unsupported(tmp_path: Path, scratch: Path) -> None:
    path = write_layer(tmp_path / "layer", [file("a", "1")])
    with pytest.raises(UnsupportedImage, match=r"application/vnd.cncf.helm.chart.content.v1.tar\+gzip"):
        read_layers(
            [LayerFile(path, "sha256:1", "application/vnd.cncf.helm.chart.content.v1.tar+gzip")],
            scratch,
            keep_all,
        )
    assert list(scratch.iterdir()) == []  # the scratch directory of the failed read is gone


def test_multi_member_gzip_is_read_whole(tmp_path: Path, scratch: Path) -> None:
    data = tar_bytes([file("a", "1"), file("b", "2")])
    path = tmp_path / "layer"
    path.write_bytes(gzip.compress(data[:1024]) + gzip.compress(data[1024:]))
    fs = read_layers([LayerFile(path, "sha256:1")], scratch, keep_all)
    assert sorted(fs.files()) == ["/a", "/b"]


def test_zstd_with_several_frames_is_read_whole(tmp_path: Path, scratch: Path) -> None:
    data = tar_bytes([file("a", "1"), file("b", "2")])
    path = tmp_path / "layer"
    path.write_bytes(compress(data[:1024], "zstd") + compress(data[1024:], "zstd"))
    fs = read_layers([LayerFile(path, "sha256:1")], scratch, keep_all)
    assert sorted(fs.files()) == ["/a", "/b"]


def test_clean_parts_clamps_at_the_root() -> None:
    assert clean_parts("./a/./b/") == ["a", "b"]
    assert clean_parts("/etc/x") == ["etc", "x"]
    assert clean_parts("../../etc/x") == ["etc", "x"]
    assert clean_parts("a/../../b") == ["b"]
    assert clean_parts("") == []


def test_root_entries_and_empty_layers_are_fine(tmp_path: Path, scratch: Path) -> None:
    fs = read_layers(layers(tmp_path, [directory("."), directory("/")], []), scratch, keep_all)
    assert isinstance(fs, LayerRootFs)
    assert list(fs.files()) == []
