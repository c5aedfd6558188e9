"""The npm cataloguer against real ``package.json`` files (trivy and syft fixtures)."""

from __future__ import annotations

import json

import pytest

from dockyard.domain.scanning.inventory import NPM
from dockyard.scanner.npm import NpmCataloguer, package_from_manifest
from dockyard.scanner.rootfs import DirRootFs
from shared_fixtures import FIXTURES

HAPPY = FIXTURES / "trivy" / "lang" / "nodejs" / "npm" / "happy"
# In trivy's expectations but only in package-lock.json: the fixture's node_modules does not hold them.
LOCKFILE_ONLY = {"ansi-colors@3.2.3", "array-flatten@1.1.1"}


def test_installed_node_modules_match_trivy_expectations() -> None:
    packages = NpmCataloguer().catalogue(DirRootFs(HAPPY), None)
    found = {(f"{p.name}@{p.version}", p.licenses) for p in packages}
    expected = {
        (e["id"], tuple(e.get("licenses", ())))
        for e in json.loads((HAPPY / "expected-packages.json").read_text())
    }
    assert found == {row for row in expected if row[0] not in LOCKFILE_ONLY}
    assert {row[0] for row in expected} - {row[0] for row in found} == LOCKFILE_ONLY
    assert len(packages) == 8  # debug and ms are installed twice (nested node_modules), once per file
    assert all(p.type == NPM and p.path.endswith("/package.json") for p in packages)


def test_scoped_package_purl_and_namespace() -> None:
    packages = NpmCataloguer().catalogue(DirRootFs(HAPPY), None)
    parser = next(p for p in packages if p.name == "@babel/parser")
    assert parser.purl == "pkg:npm/%40babel/parser@7.23.6"
    assert parser.namespace == "babel"
    assert parser.path == "/node_modules/@babel/parser/package.json"


def test_package_json_outside_node_modules_counts_like_syft() -> None:
    packages = NpmCataloguer().catalogue(DirRootFs(FIXTURES / "syft" / "javascript"), None)
    assert [(p.path, p.name, p.version, p.purl, p.licenses) for p in packages] == [
        ("/pkg-json/package.json", "npm", "6.14.6", "pkg:npm/npm@6.14.6", ("Artistic-2.0",))
    ]


def test_trivy_single_files_nameless_and_broken() -> None:
    root = FIXTURES / "trivy" / "lang" / "nodejs" / "pkg"
    lodash = package_from_manifest((root / "package.json").read_bytes(), "/app/package.json")
    assert lodash is not None
    assert (lodash.name, lodash.version, lodash.licenses) == ("lodash", "5.0.0", ("MIT",))
    assert package_from_manifest((root / "noname.json").read_bytes(), "/x/package.json") is None
    assert package_from_manifest((root / "sad.json").read_bytes(), "/x/package.json") is None


@pytest.mark.parametrize(
    ("manifest", "licenses"),
    [
        ({"license": {"type": "BSD", "url": "x"}}, ("BSD",)),
        ({"licenses": [{"type": "MIT"}, "Apache-2.0", {"type": ["nested"]}, 3]}, ("MIT", "Apache-2.0")),
        ({"license": ["not", "valid"], "licenses": ["ISC"]}, ("not", "valid")),
        ({"license": 7}, ()),
    ],
)
def test_license_shapes(manifest: dict[str, object], licenses: tuple[str, ...]) -> None:
    package = package_from_manifest(json.dumps({"name": "x", "version": "1.0.0", **manifest}).encode(), "/p")
    assert package is not None
    assert package.licenses == licenses


@pytest.mark.parametrize(
    "data",
    [
        b"[1, 2]",
        b'"just a string"',
        b'{"name": "x"}',
        b'{"version": "1"}',
        b'{"name": 5, "version": "1"}',
        b'{"name": "x", "version": 1}',
        b'{"name": "has space", "version": "1"}',
        b'{"name": "@scope/", "version": "1"}',
        b'{"name": "@/x", "version": "1"}',
        b'{"name": "@a/b/c", "version": "1"}',
        b"\xff\xfe{",
        b"[" * 100_000,
    ],
)
def test_broken_manifests_are_skipped(data: bytes) -> None:
    assert package_from_manifest(data, "/node_modules/x/package.json") is None


def test_wants_every_package_json() -> None:
    wants = NpmCataloguer().wants
    assert wants("/usr/lib/node_modules/npm/package.json", b"")
    assert wants("/app/package.json", b"")
    assert not wants("/app/package-lock.json", b"")
    assert not wants("/app/package.json.bak", b"")
