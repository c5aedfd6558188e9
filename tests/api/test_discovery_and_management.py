"""Content discovery (tags, catalog, referrers) and content management (deletes)."""

from __future__ import annotations

import json
import re

import httpx
import pytest

from dockyard.domain.manifest import OCI_EMPTY_JSON, OCI_INDEX

from .conftest import OCI_MANIFEST, Registry, descriptor, digest_of, error_code

TAGS = ["v1", "latest", "A", "b-2", "b_1", "0.1", "Z"]


async def walk(client: httpx.AsyncClient, url: str, key: str) -> tuple[list[str], list[str]]:
    """Follow ``Link: <...>; rel="next"`` from ``url``; returns the items and the pages' Link targets."""
    items: list[str] = []
    links: list[str] = []
    while True:
        response = await client.get(url)
        assert response.status_code == 200, response.text
        items += response.json()[key]
        link = response.headers.get("link")
        if link is None:
            return items, links
        match = re.fullmatch(r'<([^>]+)>; rel="next"', link)
        assert match is not None, link
        url = match.group(1)
        links.append(url)


# -- tags --------------------------------------------------------------------------------------------


async def test_tags_list(registry: Registry, client: httpx.AsyncClient) -> None:
    image = await registry.push_image("app")
    for tag in TAGS:
        assert (await registry.put_manifest("app", tag, image.body)).status_code == 201
    response = await client.get("/v2/app/tags/list")
    assert response.status_code == 200
    assert response.json() == {"name": "app", "tags": sorted(TAGS)}
    assert "link" not in response.headers


@pytest.mark.parametrize("n", [1, 2, 3, 7])
async def test_tags_pagination_with_link(registry: Registry, client: httpx.AsyncClient, n: int) -> None:
    image = await registry.push_image("org/app")
    for tag in TAGS:
        await registry.put_manifest("org/app", tag, image.body)
    items, links = await walk(client, f"/v2/org/app/tags/list?n={n}", "tags")
    assert items == sorted(TAGS)
    assert all(link.startswith("/v2/org/app/tags/list?n=") for link in links)
    assert len(links) == (len(TAGS) - 1) // n


async def test_tags_last_without_n(registry: Registry, client: httpx.AsyncClient) -> None:
    image = await registry.push_image("app")
    for tag in TAGS:
        await registry.put_manifest("app", tag, image.body)
    response = await client.get("/v2/app/tags/list", params={"last": "b-2"})
    assert response.json()["tags"] == [t for t in sorted(TAGS) if t > "b-2"]
    response = await client.get("/v2/app/tags/list", params={"n": 0})
    assert response.json()["tags"] == []


async def test_tags_of_an_unknown_repository(client: httpx.AsyncClient) -> None:
    response = await client.get("/v2/nothing/tags/list")
    assert response.status_code == 404
    assert error_code(response) == "NAME_UNKNOWN"


# -- catalog -----------------------------------------------------------------------------------------

REPOS = ["b", "a/b", "a", "a-b", "c/d/e", "a.b"]


async def test_catalog_pagination(registry: Registry, client: httpx.AsyncClient) -> None:
    for repo in REPOS:
        await registry.push_blob(repo, b"x")
    assert (await client.get("/v2/_catalog")).json() == {"repositories": sorted(REPOS)}
    items, links = await walk(client, "/v2/_catalog?n=2", "repositories")
    assert items == sorted(REPOS)
    assert len(links) == 2
    response = await client.get("/v2/_catalog", params={"n": 2, "last": "a-b"})
    assert response.json()["repositories"] == [r for r in sorted(REPOS) if r > "a-b"][:2]


async def test_bad_page_size(client: httpx.AsyncClient) -> None:
    for url in ("/v2/_catalog?n=-1", "/v2/_catalog?n=abc", "/v2/x/tags/list?n=1.5"):
        response = await client.get(url)
        assert response.status_code == 400
        assert error_code(response) == "PAGINATION_NUMBER_INVALID"


# -- referrers ---------------------------------------------------------------------------------------


async def push_artifact(registry: Registry, repo: str, subject: str, artifact_type: str, seed: str) -> str:
    subject_body = (await registry.http.get(f"/v2/{repo}/manifests/{subject}")).content
    empty = b"{}"
    await registry.push_blob(repo, empty)
    layer = seed.encode()
    await registry.push_blob(repo, layer)
    document = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": artifact_type,
        "config": descriptor(OCI_EMPTY_JSON, empty),
        "layers": [descriptor("application/octet-stream", layer)],
        "subject": descriptor(OCI_MANIFEST, subject_body),
        "annotations": {"seed": seed},
    }
    response = await registry.put_manifest(repo, digest_of(json_bytes(document)), json_bytes(document))
    assert response.status_code == 201, response.text
    assert response.headers["oci-subject"] == subject
    return digest_of(json_bytes(document))


def json_bytes(document: object) -> bytes:
    return json.dumps(document, sort_keys=True).encode()


async def test_referrers(registry: Registry, client: httpx.AsyncClient) -> None:
    image = await registry.push_image("app", "v1")
    signature = await push_artifact(registry, "app", image.digest, "application/vnd.example.sig", "sig")
    sbom = await push_artifact(registry, "app", image.digest, "application/spdx+json", "sbom")

    response = await client.get(f"/v2/app/referrers/{image.digest}")
    assert response.status_code == 200
    assert response.headers["content-type"] == OCI_INDEX
    assert "oci-filters-applied" not in response.headers
    index = response.json()
    assert index["schemaVersion"] == 2
    assert index["mediaType"] == OCI_INDEX
    by_digest = {entry["digest"]: entry for entry in index["manifests"]}
    assert set(by_digest) == {signature, sbom}
    assert by_digest[signature]["artifactType"] == "application/vnd.example.sig"
    assert by_digest[signature]["mediaType"] == OCI_MANIFEST
    assert by_digest[signature]["annotations"] == {"seed": "sig"}
    stored = await client.get(f"/v2/app/manifests/{signature}")
    assert by_digest[signature]["size"] == len(stored.content)

    filtered = await client.get(
        f"/v2/app/referrers/{image.digest}", params={"artifactType": "application/spdx+json"}
    )
    assert filtered.status_code == 200
    assert filtered.headers["oci-filters-applied"] == "artifactType"
    assert [entry["digest"] for entry in filtered.json()["manifests"]] == [sbom]


@pytest.mark.parametrize("repo", ["app", "never-pushed"])
async def test_referrers_of_an_unknown_subject(
    registry: Registry, client: httpx.AsyncClient, repo: str
) -> None:
    await registry.push_image("app", "v1")
    response = await client.get(f"/v2/{repo}/referrers/{digest_of(b'unknown')}")
    assert response.status_code == 200
    assert response.headers["content-type"] == OCI_INDEX
    assert response.json() == {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}


async def test_referrer_pushed_before_its_subject(registry: Registry, client: httpx.AsyncClient) -> None:
    await registry.push_blob("app", b"{}")
    subject = digest_of(b"future subject")
    document = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": "application/vnd.example",
        "config": descriptor(OCI_EMPTY_JSON, b"{}"),
        "layers": [],
        "subject": {"mediaType": OCI_MANIFEST, "digest": subject, "size": 14},
    }
    response = await registry.put_manifest("app", "referrer", json_bytes(document))
    assert response.status_code == 201
    assert response.headers["oci-subject"] == subject
    listed = await client.get(f"/v2/app/referrers/{subject}")
    assert [e["digest"] for e in listed.json()["manifests"]] == [digest_of(json_bytes(document))]


async def test_referrers_with_a_bad_digest(client: httpx.AsyncClient) -> None:
    response = await client.get("/v2/app/referrers/sha256:nothex")
    assert response.status_code == 400
    assert error_code(response) == "DIGEST_INVALID"


# -- deletes -----------------------------------------------------------------------------------------


async def test_delete_tag_keeps_the_manifest(registry: Registry, client: httpx.AsyncClient) -> None:
    image = await registry.push_image("app", "v1")
    response = await client.delete("/v2/app/manifests/v1")
    assert response.status_code == 202
    missing = await client.get("/v2/app/manifests/v1")
    assert missing.status_code == 404
    assert error_code(missing) == "MANIFEST_UNKNOWN"
    assert (await client.get(f"/v2/app/manifests/{image.digest}")).content == image.body
    assert (await client.get("/v2/app/tags/list")).json()["tags"] == []
    again = await client.delete("/v2/app/manifests/v1")
    assert again.status_code == 404
    assert error_code(again) == "MANIFEST_UNKNOWN"


async def test_delete_manifest_removes_its_tags(registry: Registry, client: httpx.AsyncClient) -> None:
    image = await registry.push_image("app", "v1")
    await registry.put_manifest("app", "v2", image.body)
    kept = await registry.push_image("app", "stable", seed="other")
    response = await client.delete(f"/v2/app/manifests/{image.digest}")
    assert response.status_code == 202
    for reference in (image.digest, "v1", "v2"):
        missing = await client.get(f"/v2/app/manifests/{reference}")
        assert missing.status_code == 404
        assert error_code(missing) == "MANIFEST_UNKNOWN"
    assert (await client.get("/v2/app/tags/list")).json()["tags"] == ["stable"]
    assert (await client.get(f"/v2/app/manifests/{kept.digest}")).status_code == 200
    again = await client.delete(f"/v2/app/manifests/{image.digest}")
    assert again.status_code == 404


async def test_delete_blob(registry: Registry, client: httpx.AsyncClient) -> None:
    digest = await registry.push_blob("app", b"doomed")
    await registry.push_blob("other", b"doomed")
    response = await client.delete(f"/v2/app/blobs/{digest}")
    assert response.status_code == 202
    missing = await client.get(f"/v2/app/blobs/{digest}")
    assert missing.status_code == 404
    assert error_code(missing) == "BLOB_UNKNOWN"
    assert (await client.get(f"/v2/other/blobs/{digest}")).content == b"doomed"
    again = await client.delete(f"/v2/app/blobs/{digest}")
    assert again.status_code == 404
    assert error_code(again) == "BLOB_UNKNOWN"


async def test_deletes_in_an_unknown_repository(client: httpx.AsyncClient) -> None:
    for url in (f"/v2/ghost/blobs/{digest_of(b'x')}", "/v2/ghost/manifests/latest"):
        response = await client.delete(url)
        assert response.status_code == 404
        assert error_code(response) == "NAME_UNKNOWN"
