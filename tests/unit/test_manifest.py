"""Manifest parsing: every supported media type, the media-type and artifactType rules, and a table of
malformed documents that must all be ``ManifestInvalid`` (never another exception)."""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dockyard.domain.digest import Digest
from dockyard.domain.errors import ManifestInvalid, ManifestTooLarge
from dockyard.domain.manifest import (
    DOCKER_LIST,
    DOCKER_MANIFEST,
    MAX_MANIFEST_BYTES,
    OCI_EMPTY_JSON,
    OCI_INDEX,
    OCI_MANIFEST,
    base_media_type,
    parse_manifest,
)

OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_FOREIGN = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
OCI_NONDISTRIBUTABLE = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"


def digest(seed: str) -> str:
    return f"sha256:{hashlib.sha256(seed.encode()).hexdigest()}"


def desc(media_type: str, seed: str, size: int = 10, **extra: Any) -> dict[str, Any]:
    return {"mediaType": media_type, "digest": digest(seed), "size": size, **extra}


def oci_manifest(**extra: Any) -> dict[str, Any]:
    return {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": desc(OCI_CONFIG, "config"),
        "layers": [desc(OCI_LAYER, "layer1"), desc(OCI_LAYER, "layer2")],
        **extra,
    }


def oci_index(**extra: Any) -> dict[str, Any]:
    return {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [desc(OCI_MANIFEST, "m1", platform={"os": "linux"}), desc(OCI_MANIFEST, "m2")],
        **extra,
    }


def encode(document: Any) -> bytes:
    return json.dumps(document).encode()


# -- the supported media types -----------------------------------------------------------------------


def test_oci_image_manifest() -> None:
    parsed = parse_manifest(encode(oci_manifest(annotations={"a": "b"})), OCI_MANIFEST)
    assert parsed.media_type == OCI_MANIFEST
    assert not parsed.is_index
    assert parsed.config is not None
    assert str(parsed.config.digest) == digest("config")
    assert [str(d) for d in parsed.blob_references] == [digest("config"), digest("layer1"), digest("layer2")]
    assert parsed.manifest_references == ()
    assert parsed.annotations == {"a": "b"}
    assert parsed.subject is None


def test_oci_index() -> None:
    parsed = parse_manifest(encode(oci_index()), OCI_INDEX)
    assert parsed.media_type == OCI_INDEX
    assert parsed.is_index
    assert parsed.config is None
    assert parsed.blob_references == ()
    assert [str(d) for d in parsed.manifest_references] == [digest("m1"), digest("m2")]
    assert parsed.artifact_type is None


def test_docker_schema2_manifest() -> None:
    document = {
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST,
        "config": desc(DOCKER_CONFIG, "config"),
        "layers": [desc(DOCKER_LAYER, "layer1")],
    }
    parsed = parse_manifest(encode(document), DOCKER_MANIFEST)
    assert parsed.media_type == DOCKER_MANIFEST
    assert parsed.artifact_type is None  # only OCI image manifests take the config's type
    assert [str(d) for d in parsed.blob_references] == [digest("config"), digest("layer1")]


def test_docker_manifest_list() -> None:
    document = {
        "schemaVersion": 2,
        "mediaType": DOCKER_LIST,
        "manifests": [desc(DOCKER_MANIFEST, "amd64", platform={"architecture": "amd64", "os": "linux"})],
    }
    parsed = parse_manifest(encode(document), DOCKER_LIST)
    assert parsed.media_type == DOCKER_LIST
    assert parsed.is_index
    assert [str(d) for d in parsed.manifest_references] == [digest("amd64")]


@pytest.mark.parametrize(
    ("content_type", "expected"),
    [
        (OCI_MANIFEST, OCI_MANIFEST),
        (DOCKER_MANIFEST, DOCKER_MANIFEST),
        (f"{OCI_MANIFEST}; charset=utf-8", OCI_MANIFEST),
        (OCI_MANIFEST.upper(), OCI_MANIFEST),
        (None, OCI_MANIFEST),  # from its shape
        ("application/octet-stream", OCI_MANIFEST),
    ],
)
def test_manifest_without_media_type_takes_content_type(content_type: str | None, expected: str) -> None:
    document = oci_manifest()
    del document["mediaType"]
    assert parse_manifest(encode(document), content_type).media_type == expected


@pytest.mark.parametrize(("content_type", "expected"), [(DOCKER_LIST, DOCKER_LIST), (None, OCI_INDEX)])
def test_index_without_media_type(content_type: str | None, expected: str) -> None:
    document = oci_index()
    del document["mediaType"]
    assert parse_manifest(encode(document), content_type).media_type == expected


def test_declared_media_type_wins_over_content_type() -> None:
    assert parse_manifest(encode(oci_manifest()), DOCKER_MANIFEST).media_type == OCI_MANIFEST


# -- artifactType, subject, foreign layers ------------------------------------------------------------


def test_artifact_type_defaults_to_the_config_media_type() -> None:
    document = oci_manifest(config=desc("application/vnd.example.sbom", "cfg"))
    assert parse_manifest(encode(document), None).artifact_type == "application/vnd.example.sbom"


def test_explicit_artifact_type_wins() -> None:
    document = oci_manifest(artifactType="application/vnd.example.sig", config=desc(OCI_EMPTY_JSON, "e"))
    assert parse_manifest(encode(document), None).artifact_type == "application/vnd.example.sig"


def test_index_artifact_type() -> None:
    parsed = parse_manifest(encode(oci_index(artifactType="application/vnd.example.bundle")), None)
    assert parsed.artifact_type == "application/vnd.example.bundle"


def test_subject_is_parsed() -> None:
    subject = desc(OCI_MANIFEST, "subject", size=123)
    parsed = parse_manifest(encode(oci_manifest(subject=subject)), None)
    assert parsed.subject is not None
    assert str(parsed.subject.digest) == digest("subject")
    assert parsed.subject.size == 123
    assert Digest.parse(digest("subject")) not in parsed.blob_references  # a subject need not exist


def test_subject_on_an_index() -> None:
    parsed = parse_manifest(encode(oci_index(subject=desc(OCI_MANIFEST, "s"))), None)
    assert parsed.subject is not None
    assert str(parsed.subject.digest) == digest("s")


@pytest.mark.parametrize("media_type", [DOCKER_FOREIGN, OCI_NONDISTRIBUTABLE])
def test_foreign_layers_with_urls_are_not_required(media_type: str) -> None:
    foreign = desc(media_type, "foreign", urls=["https://example.com/layer"])
    document = oci_manifest(layers=[desc(OCI_LAYER, "layer1"), foreign])
    references = [str(d) for d in parse_manifest(encode(document), None).blob_references]
    assert references == [digest("config"), digest("layer1")]


def test_foreign_layer_without_urls_is_required() -> None:
    document = oci_manifest(layers=[desc(DOCKER_FOREIGN, "foreign")])
    references = [str(d) for d in parse_manifest(encode(document), None).blob_references]
    assert digest("foreign") in references


def test_ordinary_layer_with_urls_is_required() -> None:
    document = oci_manifest(layers=[desc(OCI_LAYER, "l", urls=["https://example.com/l"])])
    assert digest("l") in [str(d) for d in parse_manifest(encode(document), None).blob_references]


def test_repeated_blobs_are_referenced_once() -> None:
    document = oci_manifest(config=desc(OCI_CONFIG, "x"), layers=[desc(OCI_LAYER, "x"), desc(OCI_LAYER, "x")])
    assert [str(d) for d in parse_manifest(encode(document), None).blob_references] == [digest("x")]


def test_base_media_type() -> None:
    assert base_media_type(None) is None
    assert base_media_type("") is None
    assert base_media_type(" Application/JSON ; q=1") == "application/json"


# -- malformed documents ------------------------------------------------------------------------------


def mutated(path: tuple[str | int, ...], value: Any, base: dict[str, Any] | None = None) -> bytes:
    """``base`` (an OCI manifest) with the item at ``path`` replaced by ``value`` (or deleted: DELETE)."""
    document = copy.deepcopy(base if base is not None else oci_manifest())
    target: Any = document
    for key in path[:-1]:
        target = target[key]
    if value is DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return encode(document)


DELETE = object()
BAD_DIGESTS = ["", "sha256:abc", "md5:" + "a" * 32, digest("x").upper(), 5, None]

MALFORMED: list[Any] = [
    pytest.param(b"", id="empty"),
    pytest.param(b"{", id="truncated-json"),
    pytest.param(b"\xff\xfe\x00", id="not-utf8"),
    pytest.param(b"[]", id="array"),
    pytest.param(b'"manifest"', id="string"),
    pytest.param(b"null", id="null"),
    pytest.param(b"2", id="number"),
    pytest.param(b"[" * 100_000, id="deeply-nested-array"),
    pytest.param(b'{"a":' * 100_000, id="deeply-nested-object"),
    pytest.param(mutated(("schemaVersion",), DELETE), id="no-schemaVersion"),
    pytest.param(mutated(("schemaVersion",), 1), id="schemaVersion-1"),
    pytest.param(mutated(("schemaVersion",), "2"), id="schemaVersion-string"),
    pytest.param(mutated(("mediaType",), 5), id="mediaType-number"),
    pytest.param(mutated(("mediaType",), "application/json"), id="mediaType-unknown"),
    pytest.param(
        mutated(("mediaType",), "application/vnd.docker.distribution.manifest.v1+prettyjws"), id="schema1"
    ),
    pytest.param(encode({"schemaVersion": 2}), id="no-type-no-shape"),
    pytest.param(mutated(("config",), DELETE), id="no-config"),
    pytest.param(mutated(("config",), "sha256:abc"), id="config-string"),
    pytest.param(mutated(("config",), []), id="config-array"),
    pytest.param(mutated(("config", "mediaType"), DELETE), id="config-no-mediaType"),
    pytest.param(mutated(("config", "mediaType"), ""), id="config-empty-mediaType"),
    pytest.param(mutated(("config", "mediaType"), 7), id="config-mediaType-number"),
    pytest.param(mutated(("config", "size"), DELETE), id="config-no-size"),
    pytest.param(mutated(("config", "size"), -1), id="config-negative-size"),
    pytest.param(mutated(("config", "size"), "10"), id="config-size-string"),
    pytest.param(mutated(("config", "size"), True), id="config-size-bool"),
    pytest.param(mutated(("config", "size"), 1.5), id="config-size-float"),
    pytest.param(mutated(("config", "digest"), DELETE), id="config-no-digest"),
    *[
        pytest.param(mutated(("config", "digest"), bad), id=f"config-digest-{i}")
        for i, bad in enumerate(BAD_DIGESTS)
    ],
    pytest.param(mutated(("config", "urls"), "https://x"), id="urls-string"),
    pytest.param(mutated(("config", "urls"), [1]), id="urls-numbers"),
    pytest.param(mutated(("config", "artifactType"), 1), id="descriptor-artifactType-number"),
    pytest.param(mutated(("config", "annotations"), {"a": 1}), id="descriptor-annotation-number"),
    pytest.param(mutated(("layers",), {}), id="layers-object"),
    pytest.param(mutated(("layers",), None), id="layers-null"),
    pytest.param(mutated(("layers", 0), "sha256:abc"), id="layer-string"),
    pytest.param(mutated(("layers", 1, "digest"), "sha256:nothex"), id="layer-bad-digest"),
    pytest.param(mutated(("annotations",), []), id="annotations-array"),
    pytest.param(mutated(("annotations",), {"a": None}), id="annotation-null"),
    pytest.param(mutated(("annotations",), "a=b"), id="annotations-string"),
    pytest.param(mutated(("artifactType",), ""), id="artifactType-empty"),
    pytest.param(mutated(("artifactType",), 3), id="artifactType-number"),
    pytest.param(mutated(("subject",), "sha256:abc"), id="subject-string"),
    pytest.param(mutated(("subject",), {"mediaType": OCI_MANIFEST}), id="subject-incomplete"),
    pytest.param(
        mutated(("subject", "digest"), "sha256:abc", oci_manifest(subject=desc(OCI_MANIFEST, "s"))),
        id="subject-bad-digest",
    ),
    pytest.param(mutated(("manifests",), DELETE, oci_index()), id="index-no-manifests"),
    pytest.param(mutated(("manifests",), {}, oci_index()), id="index-manifests-object"),
    pytest.param(mutated(("manifests", 0), 1, oci_index()), id="index-child-number"),
    pytest.param(mutated(("manifests", 0, "size"), -5, oci_index()), id="index-child-negative-size"),
]


@pytest.mark.parametrize("body", MALFORMED)
def test_malformed_manifests_are_invalid(body: bytes) -> None:
    with pytest.raises(ManifestInvalid):
        parse_manifest(body, OCI_MANIFEST)


# -- size limit ---------------------------------------------------------------------------------------


def test_manifest_of_exactly_the_limit_is_accepted() -> None:
    body = encode(oci_manifest())
    padded = body + b" " * (MAX_MANIFEST_BYTES - len(body))
    assert len(padded) == MAX_MANIFEST_BYTES
    assert parse_manifest(padded, None).media_type == OCI_MANIFEST


def test_manifest_over_the_limit_is_too_large() -> None:
    body = encode(oci_manifest())
    with pytest.raises(ManifestTooLarge):
        parse_manifest(body + b" " * (MAX_MANIFEST_BYTES + 1 - len(body)), None)


# -- fuzzing: anything is either a manifest or ManifestInvalid -----------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)
KEYS = [
    "schemaVersion",
    "mediaType",
    "config",
    "layers",
    "manifests",
    "subject",
    "annotations",
    "artifactType",
]


@given(st.binary(max_size=200))
def test_arbitrary_bytes_never_escape_as_other_errors(body: bytes) -> None:
    with contextlib.suppress(ManifestInvalid):
        parse_manifest(body, None)


@given(
    st.sampled_from([oci_manifest(), oci_index()]),
    st.sampled_from(KEYS),
    json_values,
    st.sampled_from([None, OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST, "text/plain"]),
)
def test_mutated_manifests_parse_or_are_invalid(
    base: dict[str, Any], key: str, value: Any, content_type: str | None
) -> None:
    document = copy.deepcopy(base)
    document[key] = value
    with contextlib.suppress(ManifestInvalid):
        parse_manifest(encode(document), content_type)
