"""The Python cataloguer against real dist-info/egg-info metadata (syft and trivy fixtures)."""

from __future__ import annotations

import pytest

from dockyard.domain.scanning.inventory import PYPI
from dockyard.scanner.python_pkgs import PythonCataloguer, is_metadata_file, package_from_metadata
from dockyard.scanner.rootfs import DirRootFs
from shared_fixtures import FIXTURES


def test_trivy_site_packages() -> None:
    root = FIXTURES / "trivy" / "lang" / "python" / "pip" / "libs" / "python-dir"
    packages = PythonCataloguer().catalogue(DirRootFs(root), None)
    site = "/lib/python3.10/site-packages"
    assert [(p.name, p.version, p.purl, p.licenses, p.path) for p in packages] == [
        (
            "Flask",
            "2.0.0",
            "pkg:pypi/flask@2.0.0",
            ("BSD-3-Clause",),
            f"{site}/Flask-2.0.0.dist-info/METADATA",
        ),
        (
            "annotated-types",
            "0.7.0",
            "pkg:pypi/annotated-types@0.7.0",
            ("MIT License",),
            f"{site}/annotated_types-0.7.0.dist-info/METADATA",
        ),
        (
            "click",
            "8.0.0",
            "pkg:pypi/click@8.0.0",
            ("BSD-3-Clause",),
            f"{site}/click-8.0.0.dist-info/METADATA",
        ),
    ]
    assert all(p.type == PYPI for p in packages)


def test_trivy_packaging_layouts_and_classifier_licenses() -> None:
    packages = PythonCataloguer().catalogue(
        DirRootFs(FIXTURES / "trivy" / "lang" / "python" / "packaging"), None
    )
    assert sorted((p.name, p.version, p.licenses) for p in packages) == [
        ("distlib", "0.3.1", ("Python license",)),
        ("distlib", "0.3.1", ("Python license",)),
        ("setuptools", "51.3.3", ("MIT License",)),  # from "License :: OSI Approved :: MIT License"
        ("setuptools", "51.3.3", ("MIT License",)),
        ("typing_extensions", "4.4.0", ()),  # only a LICENSE.txt beside it, not read
    ]
    typing_extensions = next(p for p in packages if p.name == "typing_extensions")
    assert typing_extensions.purl == "pkg:pypi/typing-extensions@4.4.0"


def test_syft_layouts_including_uppercase_dirs_and_bare_egg_info_files() -> None:
    packages = PythonCataloguer().catalogue(DirRootFs(FIXTURES / "syft" / "python"), None)
    assert sorted((p.path, p.name, p.version) for p in packages) == [
        ("/Python-2.7.egg-info", "Python", "2.7.13"),
        ("/site-packages/license/with-license-file-declared.dist-info/METADATA", "Pygments", "2.6.1"),
        ("/site-packages/license/without-license-file-declared.dist-info/METADATA", "Pygments", "2.6.1"),
        ("/site-packages/malformed-record/dist-info/METADATA", "Pygments", "2.6.1"),
        ("/site-packages/nested/dist-name/dist-info/METADATA", "Pygments", "2.6.1"),
        ("/site-packages/nested/egg-name/egg-info/PKG-INFO", "requests", "2.22.0"),
        ("/site-packages/partial.dist-info/METADATA", "Pygments", "2.6.1"),
        ("/site-packages/test/test.egg-info", "requests", "2.22.0"),
        ("/site-packages/uppercase/dist-name/DIST-INFO/METADATA", "Pygments", "2.6.1"),
        ("/site-packages/uppercase/egg-name/EGG-INFO/PKG-INFO", "requests", "2.22.0"),
    ]  # no-version/no-version-py3.8.egg-info has no Version: skipped


@pytest.mark.parametrize(
    ("headers", "licenses"),
    [
        ("License-Expression: MIT OR Apache-2.0\nLicense: ignored\n", ("MIT OR Apache-2.0",)),
        ("License: UNKNOWN\nClassifier: License :: OSI Approved :: BSD License\n", ("BSD License",)),
        ("License: Copyright (c) 2020\n        Permission is hereby granted\n", ()),  # pasted text
        (
            "Classifier: License :: OSI Approved :: MIT License\n"
            "Classifier: License :: OSI Approved :: MIT License\n"
            "Classifier: License :: OSI Approved\n",
            ("MIT License",),
        ),
        ("", ()),
    ],
)
def test_license_sources(headers: str, licenses: tuple[str, ...]) -> None:
    package = package_from_metadata(f"Name: demo\nVersion: 1\n{headers}\nlong description".encode(), "/x")
    assert package is not None
    assert package.licenses == licenses


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"Name: x\n",
        b"Version: 1\n",
        b"\x00\xff\xfe",
        b"Name: x\nVersion:\n",
        b"\nName: after-body\nVersion: 1\n",
    ],
)
def test_broken_metadata_is_skipped(data: bytes) -> None:
    assert package_from_metadata(data, "/x") is None


def test_non_utf8_metadata_still_yields_the_package() -> None:
    package = package_from_metadata(b"Name: caf\xe9\nVersion: 1.0\nSummary: \xff\xfe\n", "/x")
    assert package is not None
    assert package.version == "1.0"


def test_wants() -> None:
    assert is_metadata_file("/usr/lib/python3/dist-packages/foo-1.0.dist-info/METADATA")
    assert is_metadata_file("/usr/lib/python3/dist-packages/foo-1.0.egg-info/PKG-INFO")
    assert is_metadata_file("/usr/lib/python3/dist-packages/foo-1.0.egg-info")
    assert not is_metadata_file("/usr/lib/python3/dist-packages/foo-1.0.dist-info/RECORD")
    assert not is_metadata_file("/src/foo-1.0/PKG-INFO")  # an sdist tree, not an installed distribution
    assert not is_metadata_file("/srv/METADATA")
