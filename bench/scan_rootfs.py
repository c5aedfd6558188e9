"""Root filesystems for the scanner cross-check (``make scan-crosscheck``, ``docs/scan-crosscheck.md``).

Each tree is assembled under a scratch directory from the real package databases in
``shared/fixtures`` (copied, never modified), from pieces of this machine (its dpkg status, its
os-release, the metadata of the repo's virtualenv) or, for Go, from a binary built here by Debian's Go
with the network off. A file that is not a copy of a real one (an os-release for a distribution whose
fixture has none, the Go sources) is named in :attr:`Tree.written`, so every difference a tree shows
can be traced to real data or to something written here.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / ".." / "shared" / "fixtures"
ZIP_TIME = (2024, 1, 1, 0, 0, 0)  # fixed member times so jars and module zips are reproducible

UBUNTU_1804_OS_RELEASE = """\
NAME="Ubuntu"
VERSION="18.04.2 LTS (Bionic Beaver)"
ID=ubuntu
ID_LIKE=debian
PRETTY_NAME="Ubuntu 18.04.2 LTS"
VERSION_ID="18.04"
HOME_URL="https://www.ubuntu.com/"
SUPPORT_URL="https://help.ubuntu.com/"
BUG_REPORT_URL="https://bugs.launchpad.net/ubuntu/"
VERSION_CODENAME=bionic
UBUNTU_CODENAME=bionic
"""
RHEL_88_OS_RELEASE = """\
NAME="Red Hat Enterprise Linux"
VERSION="8.8 (Ootpa)"
ID="rhel"
ID_LIKE="fedora"
VERSION_ID="8.8"
PLATFORM_ID="platform:el8"
PRETTY_NAME="Red Hat Enterprise Linux 8.8 (Ootpa)"
CPE_NAME="cpe:/o:redhat:enterprise_linux:8::baseos"
"""
RHEL_88_RELEASE = "Red Hat Enterprise Linux release 8.8 (Ootpa)\n"


@dataclass
class Tree:
    """One root filesystem to scan: where it is, what it was made from, what in it was written here."""

    name: str
    root: Path
    origin: str
    written: list[str] = field(default_factory=list)


def fixture(relative: str) -> Path:
    path = FIXTURES / relative
    if not path.exists():
        raise FileNotFoundError(f"fixture missing: {path}")
    return path


def put(tree: Tree, inside: str, source: Path) -> None:
    """Copy a file or a directory (recursively) to ``inside`` (an absolute path in the tree)."""
    target = tree.root / inside.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    if source.is_dir():
        shutil.copytree(source, target, dirs_exist_ok=True, symlinks=True)
    else:
        shutil.copyfile(source, target)


def write(tree: Tree, inside: str, text: str) -> None:
    """Write a file that is not a copy of a real one, and record that in the tree."""
    target = tree.root / inside.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
    tree.written.append(inside)


def zip_directory(source: Path, archive: Path, prefix: str = "") -> None:
    """``source``'s files as a zip (a jar when the source holds ``META-INF``), members sorted."""
    archive.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as out:
        for path in sorted(p for p in source.rglob("*") if p.is_file()):
            info = zipfile.ZipInfo(prefix + path.relative_to(source).as_posix(), ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            out.writestr(info, path.read_bytes())


def ubuntu_dpkg(tree: Tree) -> None:
    put(tree, "/var/lib/dpkg/status", fixture("trivy/dpkg/valid/var/lib/dpkg/status"))
    put(tree, "/etc/lsb-release", fixture("trivy/os-release/ubuntu/lsb-release"))
    write(tree, "/etc/os-release", UBUNTU_1804_OS_RELEASE)


def ubuntu_third_party(tree: Tree) -> None:
    put(tree, "/var/lib/dpkg/status", fixture("trivy/dpkg/third-party/var/lib/dpkg/status"))
    put(tree, "/etc/lsb-release", fixture("trivy/os-release/ubuntu/lsb-release"))
    write(tree, "/etc/os-release", UBUNTU_1804_OS_RELEASE)


def debian_distroless(tree: Tree) -> None:
    put(tree, "/var/lib/dpkg/status.d", fixture("syft/debian/var/lib/dpkg/status.d"))
    put(tree, "/", fixture("syft/debian/image-distroless-deb"))
    put(tree, "/etc/os-release", fixture("syft/debian/image-dpkg/etc/os-release"))
    put(tree, "/etc/debian_version", Path("/etc/debian_version"))  # this machine's bookworm file


def alpine_apk(tree: Tree) -> None:
    put(tree, "/lib/apk/db/installed", fixture("syft/alpine/multiple-2/lib/apk/db/installed"))
    put(tree, "/etc", fixture("osv-scanner/alpine-3.18/etc"))


def alpine_apk_edge_cases(tree: Tree) -> None:
    put(tree, "/lib/apk/db/installed", fixture("trivy/apk/lib/apk/db/installed"))
    put(tree, "/etc", fixture("osv-scanner/alpine-3.18/etc"))


def mariner_sqlite(tree: Tree) -> None:
    put(tree, "/var/lib/rpm/rpmdb.sqlite", fixture("go-rpmdb/cbl-mariner-2.0/rpmdb.sqlite"))
    put(tree, "/etc/os-release", fixture("trivy/os-release/release/mariner-2.0"))


def rhel_bdb(tree: Tree) -> None:
    put(tree, "/var/lib/rpm/Packages", fixture("go-rpmdb/libuuid/Packages"))
    write(tree, "/etc/os-release", RHEL_88_OS_RELEASE)
    write(tree, "/etc/redhat-release", RHEL_88_RELEASE)


def rpm_bdb_epoch(tree: Tree) -> None:
    put(tree, "/var/lib/rpm/Packages", fixture("osv-scalibr/rpm/Packages_epoch"))
    write(tree, "/etc/os-release", RHEL_88_OS_RELEASE)
    write(tree, "/etc/redhat-release", RHEL_88_RELEASE)


def sles_ndb(tree: Tree) -> None:
    put(tree, "/usr/lib/sysimage/rpm/Packages.db", fixture("go-rpmdb/sle15-bci/Packages.db"))
    put(tree, "/etc/os-release", fixture("trivy/os-release/release/sles"))


def python_site_packages(tree: Tree) -> None:
    put(tree, "/opt/trivy-python", fixture("trivy/lang/python"))
    put(tree, "/opt/syft-python", fixture("syft/python"))


def npm_node_modules(tree: Tree) -> None:
    put(tree, "/app", fixture("trivy/lang/nodejs/npm/happy"))
    (tree.root / "app" / "expected-packages.json").unlink()  # the fixture's answer key, not image content


def java_jars(tree: Tree) -> None:
    source = fixture("syft/java/jar-metadata")
    for directory in sorted(p for p in source.iterdir() if p.is_dir() and p.name != "jenkins-plugins"):
        zip_directory(directory, tree.root / "opt" / "jars" / f"{directory.name}.jar")
    zip_directory(source / "jenkins-plugins" / "gradle" / "2.11", tree.root / "opt" / "jars" / "gradle.hpi")


def _copy_metadata_dirs(tree: Tree, site_packages: Path, inside: str) -> None:
    """The ``*.dist-info``/``*.egg-info`` entries of a site-packages directory (the code is left out:
    no cataloguer of the three reads it for Python packages, and it is hundreds of megabytes)."""
    for entry in sorted(site_packages.iterdir()):
        if entry.name.endswith((".dist-info", ".egg-info")):
            put(tree, f"{inside}/{entry.name}", entry)


def this_machine(tree: Tree) -> None:
    put(tree, "/var/lib/dpkg/status", Path("/var/lib/dpkg/status"))
    put(tree, "/etc/os-release", Path("/etc/os-release").resolve())
    put(tree, "/etc/debian_version", Path("/etc/debian_version"))
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    site_packages = REPO / ".venv" / "lib" / version / "site-packages"
    _copy_metadata_dirs(tree, site_packages, f"/usr/local/lib/{version}/site-packages")
    debian_python = Path("/usr/lib/python3/dist-packages")  # Debian's python3-* packages, if any
    if debian_python.is_dir():
        _copy_metadata_dirs(tree, debian_python, str(debian_python))


GO_APP_MOD = """\
module example.com/crosscheck/app

go 1.19

require (
\texample.com/crosscheck/localdep v0.0.0
\texample.com/crosscheck/versioned v1.2.3
)

replace example.com/crosscheck/localdep => ../localdep
"""
GO_APP_MAIN = """\
package main

import (
\t"fmt"

\t"example.com/crosscheck/localdep"
\t"example.com/crosscheck/versioned"
)

func main() { fmt.Println(localdep.Name(), versioned.Name()) }
"""
GO_LIBRARY = 'package {name}\n\nfunc Name() string {{ return "{name}" }}\n'


def _go_module_proxy(proxy: Path, module: str, version: str, name: str) -> None:
    """A ``file://`` GOPROXY entry (info, mod, zip) for a module written here, so the build needs no
    network: go reads ``$GOPROXY/<module>/@v/<version>.zip`` like a download."""
    base = proxy / module / "@v"
    base.mkdir(parents=True, exist_ok=True)
    mod = f"module {module}\n\ngo 1.19\n"
    (base / "list").write_text(f"{version}\n")
    (base / f"{version}.info").write_text(f'{{"Version":"{version}","Time":"2024-01-01T00:00:00Z"}}\n')
    (base / f"{version}.mod").write_text(mod)
    with zipfile.ZipFile(base / f"{version}.zip", "w") as out:
        out.writestr(zipfile.ZipInfo(f"{module}@{version}/go.mod", ZIP_TIME), mod)
        out.writestr(zipfile.ZipInfo(f"{module}@{version}/lib.go", ZIP_TIME), GO_LIBRARY.format(name=name))


def _go(args: list[str], cwd: Path, env: dict[str, str]) -> None:
    result = subprocess.run(["go", *args], cwd=cwd, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"go {' '.join(args)} failed:\n{result.stderr}")


def go_binary(tree: Tree, work: Path) -> None:
    """``go build`` of a module with a dependency replaced by a local directory and a versioned one
    (from a ``file://`` module proxy), then the build with ``GOPROXY=off``; plus Debian's ``gofmt``.
    ``-buildvcs=false``: the scratch directory sits in this repo's checkout, and Go would stamp its
    commit into the binary (Syft turns that into a pseudo-version), so the result would vary."""
    shutil.rmtree(work, ignore_errors=True)
    app, localdep, proxy = work / "app", work / "localdep", work / "proxy"
    for directory in (app, localdep):
        directory.mkdir(parents=True)
    (app / "go.mod").write_text(GO_APP_MOD)
    (app / "main.go").write_text(GO_APP_MAIN)
    (localdep / "go.mod").write_text("module example.com/crosscheck/localdep\n\ngo 1.19\n")
    (localdep / "lib.go").write_text(GO_LIBRARY.format(name="localdep"))
    _go_module_proxy(proxy, "example.com/crosscheck/versioned", "v1.2.3", "versioned")
    env = {
        **os.environ,
        "GOTOOLCHAIN": "local",
        "GOSUMDB": "off",
        "GOFLAGS": "-mod=mod -modcacherw",  # a writable module cache can be removed again
        "GOPATH": str(work / "gopath"),
        "GOMODCACHE": str(work / "modcache"),
        "GOCACHE": str(work / "cache"),
        "CGO_ENABLED": "0",
    }
    _go(["mod", "download", "all"], app, {**env, "GOPROXY": proxy.as_uri()})
    output = tree.root / "usr" / "local" / "bin" / "crosscheck-app"
    _go(["build", "-trimpath", "-buildvcs=false", "-o", str(output), "."], app, {**env, "GOPROXY": "off"})
    tree.written.append("/usr/local/bin/crosscheck-app (built here from sources written here)")
    gofmt = Path(subprocess.run(["go", "env", "GOROOT"], capture_output=True, text=True).stdout.strip())
    put(tree, "/usr/local/bin/gofmt", gofmt / "bin" / "gofmt")


def _tree_makers(scratch: Path) -> list[tuple[str, str, Callable[[Tree], None]]]:
    return [
        ("ubuntu-18.04-dpkg", "trivy/dpkg/valid status, lsb-release", ubuntu_dpkg),
        ("ubuntu-18.04-third-party", "trivy/dpkg/third-party status (epoch 5)", ubuntu_third_party),
        ("debian-12-distroless", "syft/debian status.d + image-distroless-deb", debian_distroless),
        ("alpine-apk", "syft/alpine/multiple-2 installed, osv-scanner alpine-3.18 etc", alpine_apk),
        ("alpine-apk-edge-cases", "trivy/apk installed (a record without version)", alpine_apk_edge_cases),
        ("mariner-2.0-rpm-sqlite", "go-rpmdb/cbl-mariner-2.0 rpmdb.sqlite", mariner_sqlite),
        ("rhel-8-rpm-bdb", "go-rpmdb/libuuid Packages (Berkeley DB)", rhel_bdb),
        ("rpm-bdb-epoch", "osv-scalibr/rpm/Packages_epoch (Berkeley DB)", rpm_bdb_epoch),
        ("sles-15-rpm-ndb", "go-rpmdb/sle15-bci Packages.db (NDB)", sles_ndb),
        ("python-site-packages", "trivy/lang/python + syft/python", python_site_packages),
        ("npm-node-modules", "trivy/lang/nodejs/npm/happy", npm_node_modules),
        ("java-jars", "syft/java/jar-metadata, each directory zipped", java_jars),
        (
            "go-binaries",
            "a module built here by Debian's Go, Debian's gofmt",
            lambda t: go_binary(t, scratch / "go"),
        ),
        (
            "this-machine",
            "this machine's dpkg status, .venv and Debian python metadata",
            this_machine,
        ),
    ]


def tree_names() -> list[str]:
    return [name for name, _, _ in _tree_makers(Path())]


def build_trees(scratch: Path, only: set[str] | None = None) -> list[Tree]:
    """Build (afresh) every tree, or those named in ``only``, under ``scratch/trees``."""
    trees = []
    for name, origin, make in _tree_makers(scratch):
        if only is not None and name not in only:
            continue
        tree = Tree(name, scratch / "trees" / name, origin)
        shutil.rmtree(tree.root, ignore_errors=True)
        tree.root.mkdir(parents=True)
        make(tree)
        trees.append(tree)
    return trees
