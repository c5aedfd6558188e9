"""The default cataloguer set: every database kind found in one image tree, and junk everywhere tolerated."""

from __future__ import annotations

import random
import shutil
import zipfile
from collections import Counter
from pathlib import Path

from dockyard.domain.scanning.inventory import APK, DEB, MAVEN, NPM, PYPI, RPM, OsInfo
from dockyard.scanner.catalogue import default_cataloguers
from dockyard.scanner.golang import GoBinaryCataloguer
from dockyard.scanner.rootfs import DirRootFs
from shared_fixtures import FIXTURES


def _copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    if source.is_dir():
        shutil.copytree(source, target)
    else:
        shutil.copyfile(source, target)


def _image(root: Path) -> None:
    """One tree holding a database of every kind (a real image would hold one OS database)."""
    _copy(FIXTURES / "trivy/dpkg/valid/var/lib/dpkg/status", root / "var/lib/dpkg/status")
    _copy(FIXTURES / "syft/alpine/multiple-2/lib/apk/db/installed", root / "lib/apk/db/installed")
    _copy(FIXTURES / "go-rpmdb/libuuid/Packages", root / "var/lib/rpm/Packages")
    site = FIXTURES / "trivy/lang/python/pip/libs/python-dir/lib/python3.10/site-packages"
    _copy(site, root / "usr/local/lib/python3.10/site-packages")
    _copy(FIXTURES / "trivy/lang/nodejs/npm/happy/node_modules", root / "usr/src/app/node_modules")
    pom = FIXTURES / "syft/java/jar-metadata/opensaml-core-3.4.6/META-INF/maven/org.opensaml/opensaml-core"
    with zipfile.ZipFile(root / "opensaml-core-3.4.6.jar", "w") as archive:
        archive.write(pom / "pom.properties", "META-INF/maven/org.opensaml/opensaml-core/pom.properties")
    (root / "etc").mkdir()
    (root / "etc/motd").write_text("not a database")


def test_default_set_has_every_cataloguer_once() -> None:
    cataloguers = default_cataloguers()
    assert [c.name for c in cataloguers] == ["dpkg", "apk", "rpm", "python", "npm", "java", "go-binary"]
    assert any(isinstance(c, GoBinaryCataloguer) for c in cataloguers)
    assert cataloguers[0] is not default_cataloguers()[0]  # fresh instances


def test_every_database_is_wanted_by_one_cataloguer_and_catalogued(tmp_path: Path) -> None:
    _image(tmp_path)
    fs = DirRootFs(tmp_path)
    cataloguers = default_cataloguers()
    wanted_by = {path: [c.name for c in cataloguers if c.wants(path, b"")] for path in fs.files()}
    assert wanted_by.pop("/etc/motd") == []
    assert all(len(names) == 1 for names in wanted_by.values()), wanted_by
    found = Counter(p.type for c in cataloguers for p in c.catalogue(fs, OsInfo("debian", "12")))
    assert found == {DEB: 90, APK: 14, RPM: 1, PYPI: 3, NPM: 8, MAVEN: 1}


def test_junk_at_every_wanted_path_yields_nothing_and_raises_nothing(tmp_path: Path) -> None:
    paths = [
        "var/lib/dpkg/status",
        "var/lib/dpkg/status.d/libc6",
        "usr/share/doc/libc6/copyright",
        "lib/apk/db/installed",
        "var/lib/rpm/Packages",
        "usr/lib/sysimage/rpm/Packages.db",
        "usr/lib/sysimage/rpm/rpmdb.sqlite",
        "usr/lib/python3/dist-packages/x-1.dist-info/METADATA",
        "usr/lib/python3/dist-packages/y.egg-info",
        "app/node_modules/x/package.json",
        "app/lib/x-1.jar",
        "app/x.war",
    ]
    rng = random.Random(42)
    cataloguers = default_cataloguers()
    for prefix in (b"", b"SQLite format 3\0", b"RpmP", b"PK\x03\x04", b"{", b"Package: x\n"):
        for path in paths:
            target = tmp_path / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(prefix + rng.randbytes(rng.randrange(0, 5000)))
        fs = DirRootFs(tmp_path)
        assert all(any(c.wants(f"/{path}", b"") for c in cataloguers) for path in paths)
        assert [p for c in cataloguers for p in c.catalogue(fs, None)] == []
