"""The Java cataloguer: syft's extracted jar metadata zipped back into archives, nesting, and hostile zips."""

from __future__ import annotations

import io
import random
import struct
import zipfile
from pathlib import Path

import pytest

from dockyard.domain.scanning.inventory import MAVEN
from dockyard.scanner import java, zip_limits
from dockyard.scanner.java import JavaCataloguer, packages_from_archive, split_filename
from dockyard.scanner.java_manifest import parse_manifest, parse_pom_properties
from dockyard.scanner.rootfs import DirRootFs
from shared_fixtures import FIXTURES

JAVA = FIXTURES / "syft" / "java"
JARS = JAVA / "jar-metadata"


def _zip(members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _fixture_jar(directory: str) -> bytes:
    root = JARS / directory
    return _zip(
        {f.relative_to(root).as_posix(): f.read_bytes() for f in sorted(root.rglob("*")) if f.is_file()}
    )


def _purls(tmp_path: Path, filename: str, data: bytes) -> list[str]:
    (tmp_path / filename).write_bytes(data)
    return [p.purl for p in packages_from_archive(str(tmp_path / filename), f"/app/{filename}")]


@pytest.mark.parametrize(
    ("directory", "filename", "purls"),
    [
        ("opensaml-core-3.4.6", "opensaml-core-3.4.6.jar", ["pkg:maven/org.opensaml/opensaml-core@3.4.6"]),
        (
            "jackson-core-2.15.2",
            "jackson-core-2.15.2.jar",
            ["pkg:maven/com.fasterxml.jackson.core/jackson-core@2.15.2"],
        ),
        (
            "com.fasterxml.jackson.core.jackson-core-2.15.2",
            "com.fasterxml.jackson.core.jackson-core-2.15.2.jar",
            ["pkg:maven/com.fasterxml.jackson.core/jackson-core@2.15.2"],
        ),
        ("micronaut-aop-4.9.11", "micronaut-aop-4.9.11.jar", ["pkg:maven/io.micronaut/micronaut-aop@4.9.11"]),
        ("jenkins-plugins/gradle/2.11", "gradle.hpi", ["pkg:maven/org.jenkins-ci.plugins/gradle@2.11"]),
        (
            "commons-lang3-3.12.0",
            "commons-lang3-3.12.0.jar",
            ["pkg:maven/commons-lang3/commons-lang3@3.12.0"],
        ),
        ("spring-instrumentation-4.3.0-1.0", "spring-instrumentation-4.3.0-1.0.jar", []),  # Weave-Classes
        (
            "api-all-2.0.0-sources",
            "api-all-2.0.0-sources.jar",
            [
                "pkg:maven/org.apache.directory.api/api-all@2.0.0",
                "pkg:maven/org.apache.directory.api/api-asn1-api@2.0.0",
            ],
        ),
        (
            "org.multiple-thename",
            "org.multiple-thename.jar",
            ["pkg:maven/com.multiple/thename@10.11.12", "pkg:maven/org.multiple/thename@10.11.12"],
        ),
        (
            "multiple-matching-2.11.5",
            "multiple-matching-2.11.5.jar",
            [f"pkg:maven/org.multiple/multiple-matching-{n}@2.11.5" for n in (1, 2, 3)],
        ),
    ],
)
def test_syft_jar_metadata(tmp_path: Path, directory: str, filename: str, purls: list[str]) -> None:
    """Syft's expectations (archive_parser_test.go) for the same archives, minus what only a pom.xml gives."""
    assert sorted(_purls(tmp_path, filename, _fixture_jar(directory))) == purls


def test_package_fields_and_manifest_license(tmp_path: Path) -> None:
    (tmp_path / "jackson-core-2.15.2.jar").write_bytes(_fixture_jar("jackson-core-2.15.2"))
    (package,) = packages_from_archive(
        str(tmp_path / "jackson-core-2.15.2.jar"), "/app/jackson-core-2.15.2.jar"
    )
    assert (package.type, package.name, package.version, package.namespace) == (
        MAVEN,
        "jackson-core",
        "2.15.2",
        "com.fasterxml.jackson.core",
    )
    assert package.licenses == ("https://www.apache.org/licenses/LICENSE-2.0.txt",)
    assert package.path == "/app/jackson-core-2.15.2.jar"


def _pom_member(artifact: str, version: str) -> dict[str, bytes]:
    return {
        f"META-INF/maven/g/{artifact}/pom.properties": f"artifactId={artifact}\nversion={version}\n".encode()
    }


def test_nested_archives_two_levels_deep_and_no_deeper(tmp_path: Path) -> None:
    level3 = _zip(_pom_member("too-deep", "3"))
    level2 = _zip({**_pom_member("deepest", "2"), "lib/l3.jar": level3})
    level1 = _zip({**_pom_member("inner", "1"), "lib/l2.jar": level2})
    war = _zip(
        {
            "META-INF/MANIFEST.MF": b"Manifest-Version: 1.0\r\n",
            "WEB-INF/lib/opensaml-core-3.4.6.jar": _fixture_jar("opensaml-core-3.4.6"),
            "WEB-INF/lib/inner-1.jar": level1,
            "WEB-INF/lib/broken.jar": b"not a zip at all",
        }
    )
    assert sorted(_purls(tmp_path, "app-1.0.war", war)) == [
        "pkg:maven/app/app@1.0",  # the war's own manifest and file name
        "pkg:maven/deepest/deepest@2",  # no groupId in its pom.properties: the artifact stands in
        "pkg:maven/inner/inner@1",
        "pkg:maven/org.opensaml/opensaml-core@3.4.6",
    ]


def test_cataloguer_reads_archives_anywhere(tmp_path: Path) -> None:
    (tmp_path / "opt/app/lib").mkdir(parents=True)
    (tmp_path / "opt/app/lib/opensaml-core-3.4.6.jar").write_bytes(_fixture_jar("opensaml-core-3.4.6"))
    (tmp_path / "opt/app/lib/NOTES.txt").write_text("not an archive")
    (tmp_path / "opt/app/broken.ear").write_bytes(b"PK\x05\x06" + b"\0" * 10)
    cataloguer = JavaCataloguer()
    packages = cataloguer.catalogue(DirRootFs(tmp_path), None)
    assert [(p.path, p.purl) for p in packages] == [
        ("/opt/app/lib/opensaml-core-3.4.6.jar", "pkg:maven/org.opensaml/opensaml-core@3.4.6")
    ]
    assert cataloguer.wants("/x/Y.JAR", b"")
    assert cataloguer.wants("/x/plugin.jpi", b"")
    assert not cataloguer.wants("/x/y.zip", b"")


def test_decompression_bombs_are_not_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bomb = b"Manifest-Version: 1.0\nImplementation-Version: 1\n" + b"\0" * (8 * 1024 * 1024)
    big_nested = _zip(
        {"META-INF/MANIFEST.MF": b"Implementation-Version: 9\n", "pad": bytes(1 << 20)}, zipfile.ZIP_STORED
    )
    archive = _zip({"META-INF/MANIFEST.MF": bomb, "WEB-INF/lib/big.jar": big_nested})
    assert len(archive) < 100 * 1024  # small on disk, 9 MiB inflated
    assert _purls(tmp_path, "bomb.jar", archive) == ["pkg:maven/big/big@9"]  # the 8 MiB manifest is not read
    monkeypatch.setattr(java, "MAX_NESTED", 64 * 1024)
    assert _purls(tmp_path, "bomb.jar", archive) == []  # the 1 MiB nested archive is not inflated either


def test_one_budget_for_everything_inflated_from_an_archive(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    members = {f"WEB-INF/lib/lib{n}.jar": _zip(_pom_member(f"lib{n}", "1")) for n in range(10)}
    war = _zip(members)
    assert len(_purls(tmp_path, "app.war", war)) == 10
    monkeypatch.setattr(java, "MAX_INFLATED", 3 * len(members["WEB-INF/lib/lib0.jar"]) + 100)
    assert _purls(tmp_path, "app.war", war) == [f"pkg:maven/lib{n}/lib{n}@1" for n in range(3)]


def test_member_lying_about_its_size_is_cut_off(tmp_path: Path) -> None:
    real = b"Implementation-Version: 7\n" + b"#" * (4 * 1024 * 1024)
    members = {"META-INF/MANIFEST.MF": real, **_pom_member("kept", "2")}
    data = bytearray(_zip(members))
    for signature, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):  # the manifest's size fields
        at = data.find(signature)
        struct.pack_into("<I", data, at + offset, 40)
    # 40 bytes are read, the CRC check fails: the manifest is unreadable, the rest of the archive is not
    assert _purls(tmp_path, "liar.jar", bytes(data)) == ["pkg:maven/kept/kept@2"]


def test_oversized_central_directory_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    jar = _fixture_jar("opensaml-core-3.4.6")
    assert _purls(tmp_path, "ok.jar", jar) == ["pkg:maven/org.opensaml/opensaml-core@3.4.6"]
    end = jar.rfind(b"PK\x05\x06")
    too_big = bytearray(jar)
    struct.pack_into("<I", too_big, end + 12, zip_limits.MAX_CENTRAL_DIRECTORY + 1)
    assert _purls(tmp_path, "huge.jar", bytes(too_big)) == []
    zip64_marker_without_record = bytearray(jar)
    struct.pack_into("<HH", zip64_marker_without_record, end + 8, 0xFFFF, 0xFFFF)
    assert _purls(tmp_path, "zip64.jar", bytes(zip64_marker_without_record)) == []
    monkeypatch.setattr(zip_limits, "MAX_ENTRIES", 1)  # the jar has two entries
    assert _purls(tmp_path, "many.jar", jar) == []


def test_damaged_archives_never_raise(tmp_path: Path) -> None:
    data = _zip(
        {
            "META-INF/MANIFEST.MF": b"Implementation-Version: 1\n",
            "WEB-INF/lib/x-1.jar": _fixture_jar("opensaml-core-3.4.6"),
        }
    )
    rng = random.Random(7)
    for _ in range(200):
        damaged = bytearray(data)
        for _ in range(rng.randrange(1, 20)):
            damaged[rng.randrange(len(damaged))] = rng.randrange(256)
        _purls(tmp_path, "damaged-1.war", bytes(damaged[: rng.randrange(len(damaged) + 1)]))


def test_split_filename_like_syft() -> None:
    assert split_filename("commons-lang3-3.12.0.jar") == ("commons-lang3", "3.12.0")
    assert split_filename("my-http2-server-5.jar") == ("my-http2-server", "5")
    assert split_filename("jetpack-build235-rc5.jar") == ("jetpack", "build235-rc5")
    assert split_filename("ironman-r4-2009.jar") == ("ironman", "r4-2009")
    assert split_filename("gradle.hpi") == ("gradle", "")
    assert split_filename("api-all-2.0.0-sources.jar") == ("api-all", "2.0.0-sources")


@pytest.mark.parametrize(
    ("fixture", "main", "sections"),
    [
        ("small", {"Manifest-Version": "1.0"}, 0),
        (
            "continuation",
            {"Plugin-ScmUrl": "https://github.com/jenkinsci/plugin-pom/example-jenkins-plugin"},
            0,
        ),
        ("version-with-date", {"Implementation-Version": "1.3 2244 October 5 2005"}, 0),
        (
            "leading-space",
            {"Key-keykeykey": "initialconfig:com$    # aka not empty line", "should": "parse"},
            0,
        ),
        ("extra-empty-lines", {"Archiver-Version": "Plexus Archiver"}, 4),
        ("extra-info", {"Created-By": "Apache Maven 3.6.3"}, 2),
        ("standard-info", {"Name": "the-best-name", "Implementation-Version": "the-impl-version"}, 0),
    ],
)
def test_manifests_parse_as_syft_expects(fixture: str, main: dict[str, str], sections: int) -> None:
    manifest = parse_manifest((JAVA / "manifest" / fixture).read_text())
    assert main.items() <= manifest.main.items()
    assert len(manifest.sections) == sections


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        ("small", ("org.anchore", "example-java-app-maven", "0.1.0")),
        ("extra", ("org.anchore", "example-java-app-maven", "0.1.0")),
        ("colon-delimited", ("org.anchore", "example-java-app-maven", "0.1.0")),
        ("equals-delimited-with-colons", ("org.anchore", "example-java:app-maven", "0.1.0:something")),
        ("colon-delimited-with-equals", ("org.anchore", "example-java=app-maven", "0.1.0=something")),
    ],
)
def test_pom_properties_as_syft_expects(fixture: str, expected: tuple[str, str, str]) -> None:
    assert parse_pom_properties((JAVA / "pom" / f"{fixture}.pom.properties").read_text()) == expected
