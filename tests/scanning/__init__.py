"""Scanner tests, and helpers that build layer tarballs and a real Go binary for them."""

from __future__ import annotations

import functools
import gzip
import io
import os
import shutil
import subprocess
import tarfile
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import zstandard

from dockyard.domain.scanning.inventory import OsInfo, Package
from dockyard.scanner.rootfs import MAX_READ, RootFs
from shared_fixtures import FIXTURES as FIXTURES  # re-exported for the scanner tests


@dataclass(frozen=True)
class Entry:
    """One tar member: ``kind`` is file, dir, symlink, hardlink, fifo or chardev."""

    name: str
    kind: str = "file"
    data: bytes = b""
    target: str = ""
    mode: int = 0o644


def file(name: str, data: bytes | str = b"", mode: int = 0o644) -> Entry:
    return Entry(name, "file", data.encode() if isinstance(data, str) else data, mode=mode)


def directory(name: str) -> Entry:
    return Entry(name, "dir", mode=0o755)


def symlink(name: str, target: str) -> Entry:
    return Entry(name, "symlink", target=target)


def hardlink(name: str, target: str) -> Entry:
    return Entry(name, "hardlink", target=target)


def special(name: str, kind: str) -> Entry:
    return Entry(name, kind)


_TYPES = {
    "file": tarfile.REGTYPE,
    "dir": tarfile.DIRTYPE,
    "symlink": tarfile.SYMTYPE,
    "hardlink": tarfile.LNKTYPE,
    "fifo": tarfile.FIFOTYPE,
    "chardev": tarfile.CHRTYPE,
}


def tar_bytes(entries: Iterable[Entry], fmt: int = tarfile.PAX_FORMAT) -> bytes:
    """A tar archive of ``entries``, in order, as a layer would hold them."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=fmt) as archive:
        for entry in entries:
            info = tarfile.TarInfo(entry.name)
            info.type = _TYPES[entry.kind]
            info.mode = entry.mode
            info.linkname = entry.target
            if entry.kind == "file":
                info.size = len(entry.data)
                archive.addfile(info, io.BytesIO(entry.data))
            else:
                archive.addfile(info)
    return buffer.getvalue()


def compress(data: bytes, compression: str) -> bytes:
    if compression == "gzip":
        return gzip.compress(data, mtime=0)
    if compression == "zstd":
        return zstandard.ZstdCompressor().compress(data)
    return data


def write_layer(path: Path, entries: Iterable[Entry], compression: str = "gzip") -> Path:
    path.write_bytes(compress(tar_bytes(entries), compression))
    return path


def tree(root: Path) -> set[str]:
    """Every path under ``root`` (files, directories, links), relative to it."""
    return {str(p.relative_to(root)) for p in root.rglob("*")}


class FakeRootFs:
    """A RootFs over a dict (path -> bytes), for tests of readers that only need ``read``."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self._files = files

    def files(self) -> Iterable[str]:
        return iter(self._files)

    def read(self, path: str, limit: int = MAX_READ) -> bytes | None:
        data = self._files.get(path)
        return None if data is None or len(data) > limit else data

    def local_path(self, path: str) -> Path | None:
        return None


@dataclass
class ListCataloguer:
    """A test cataloguer: keeps ``paths`` and reads ``name version`` lines from each as packages."""

    paths: frozenset[str]
    name: str = "fake"
    asked: list[tuple[str, bytes]] = field(default_factory=list)

    def wants(self, path: str, head: bytes) -> bool:
        self.asked.append((path, head))
        return path in self.paths

    def catalogue(self, fs: RootFs, os: OsInfo | None) -> list[Package]:
        found = []
        for path in sorted(self.paths):
            data = fs.read(path)
            for line in (data or b"").decode().splitlines():
                name, version = line.split()
                purl = f"pkg:generic/{name}@{version}"
                found.append(Package(type="generic", name=name, version=version, purl=purl, path=path))
        return found


# -- a real Go binary --------------------------------------------------------------------------------

GO_MAIN = """package main

import (
\t"fmt"

\t"example.com/greet"
\t"example.com/local"
)

func main() { fmt.Println(greet.Hello(), local.Name()) }
"""

GO_MOD = """module example.com/app

go 1.19

require (
\texample.com/greet v1.0.0
\texample.com/local v0.0.0
)

replace example.com/greet v1.0.0 => example.com/fork v1.2.3

replace example.com/local => ../local
"""


@dataclass(frozen=True)
class GoBinary:
    path: Path
    go_version: str  # what `go env GOVERSION` says, e.g. go1.19.8


def _module_proxy(root: Path) -> None:
    """A file:// GOPROXY holding example.com/fork v1.2.3 (a module whose go.mod says example.com/greet),
    so the build has a real versioned dependency and a versioned replacement without any network."""
    versions = root / "example.com" / "fork" / "@v"
    versions.mkdir(parents=True)
    module = "module example.com/greet\n\ngo 1.19\n"
    (versions / "list").write_text("v1.2.3\n")
    (versions / "v1.2.3.info").write_text('{"Version":"v1.2.3","Time":"2023-01-01T00:00:00Z"}')
    (versions / "v1.2.3.mod").write_text(module)
    with zipfile.ZipFile(versions / "v1.2.3.zip", "w") as archive:
        archive.writestr("example.com/fork@v1.2.3/go.mod", module)
        archive.writestr(
            "example.com/fork@v1.2.3/greet.go", 'package greet\n\nfunc Hello() string { return "hi" }\n'
        )


@functools.cache
def build_go_binary(work: Path) -> GoBinary:
    """Build the test program once per session with the local Go toolchain (offline)."""
    go = shutil.which("go")
    assert go is not None
    (work / "app").mkdir(parents=True)
    (work / "local").mkdir()
    (work / "app" / "go.mod").write_text(GO_MOD)
    (work / "app" / "main.go").write_text(GO_MAIN)
    (work / "local" / "go.mod").write_text("module example.com/local\n\ngo 1.19\n")
    (work / "local" / "local.go").write_text('package local\n\nfunc Name() string { return "local" }\n')
    _module_proxy(work / "proxy")
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(work / "home"),
        "GOCACHE": str(work / "cache"),
        "GOMODCACHE": str(work / "modcache"),
        "GOPATH": str(work / "gopath"),
        "GOPROXY": (work / "proxy").as_uri(),
        "GOSUMDB": "off",
        "GOFLAGS": "-mod=mod",
        "GOTOOLCHAIN": "local",
        "CGO_ENABLED": "0",
    }
    subprocess.run([go, "build", "-o", str(work / "app.bin"), "."], cwd=work / "app", env=env, check=True)
    version = subprocess.run([go, "env", "GOVERSION"], env=env, check=True, capture_output=True, text=True)
    return GoBinary(work / "app.bin", version.stdout.strip())


def keep_all(path: str, head: bytes) -> bool:
    """A ``wants`` that keeps every regular file."""
    return True
