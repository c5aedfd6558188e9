"""One model of an image behind both APIs: pushed over /v2/, seen and managed through ECR, and back."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from .support import (
    ACCOUNT,
    DOCKER_CONFIG,
    DOCKER_MANIFEST,
    OCI_CONFIG,
    OCI_INDEX,
    OCI_MANIFEST,
    Server,
    descriptor,
    digest_of,
)
from .test_repositories import error


def index_of(*children: tuple[str, bytes], media_type: str = OCI_INDEX) -> bytes:
    manifests = [
        {**descriptor(OCI_MANIFEST, body), "platform": {"architecture": arch, "os": "linux"}}
        for arch, body in children
    ]
    return json.dumps({"schemaVersion": 2, "mediaType": media_type, "manifests": manifests}).encode()


def test_pushed_image_in_describe_images(server: Server, ecr: Any, repo: str) -> None:
    before = datetime.now(UTC) - timedelta(seconds=2)
    digest, _, size = server.push_image(repo, "v1", layers=3, docker=True)
    detail = ecr.describe_images(repositoryName=repo)["imageDetails"][0]
    assert detail["registryId"] == ACCOUNT
    assert detail["repositoryName"] == repo
    assert detail["imageDigest"] == digest
    assert detail["imageTags"] == ["v1"]
    assert detail["imageSizeInBytes"] == size  # config plus compressed layers
    assert before <= detail["imagePushedAt"] <= datetime.now(UTC) + timedelta(seconds=2)
    assert detail["imageManifestMediaType"] == DOCKER_MANIFEST
    assert detail["artifactMediaType"] == DOCKER_CONFIG
    assert "lastRecordedPullTime" not in detail


def test_index_size_is_its_largest_child(server: Server, ecr: Any, repo: str) -> None:
    small, small_body, small_size = server.push_image(repo, None, seed="s", layers=1)
    _, large_body, large_size = server.push_image(repo, None, seed="l", layers=4)
    body = index_of(("amd64", small_body), ("arm64", large_body))
    assert server.put_manifest(repo, "multi", body, OCI_INDEX).status_code == 201
    details = ecr.describe_images(repositoryName=repo, imageIds=[{"imageTag": "multi"}])["imageDetails"]
    assert details[0]["imageDigest"] == digest_of(body)
    assert details[0]["imageSizeInBytes"] == max(small_size, large_size) == large_size
    assert details[0]["imageManifestMediaType"] == OCI_INDEX
    assert "artifactMediaType" not in details[0]
    by_digest = {d["imageDigest"]: d for d in ecr.describe_images(repositoryName=repo)["imageDetails"]}
    assert by_digest[small]["artifactMediaType"] == OCI_CONFIG
    assert by_digest[small]["imageSizeInBytes"] == small_size


def test_list_images_tag_status(server: Server, ecr: Any, repo: str) -> None:
    tagged, _, _ = server.push_image(repo, "a", seed="1")
    server.put_manifest(repo, "b", server.http.get(f"/v2/{repo}/manifests/a").content)
    untagged, _, _ = server.push_image(repo, None, seed="2")

    def ids(status: str) -> list[dict[str, str]]:
        return ecr.list_images(repositoryName=repo, filter={"tagStatus": status})["imageIds"]

    assert ids("TAGGED") == [
        {"imageDigest": tagged, "imageTag": "a"},
        {"imageDigest": tagged, "imageTag": "b"},
    ]
    assert ids("UNTAGGED") == [{"imageDigest": untagged}]
    assert ids("ANY") == [*ids("TAGGED"), {"imageDigest": untagged}]
    assert ecr.list_images(repositoryName=repo)["imageIds"] == ids("ANY")
    assert ecr.list_images(repositoryName=repo, filter={"imageStatus": "ARCHIVED"})["imageIds"] == []
    described = ecr.describe_images(repositoryName=repo, filter={"tagStatus": "UNTAGGED"})["imageDetails"]
    assert [d["imageDigest"] for d in described] == [untagged]
    with pytest.raises(ecr.exceptions.RepositoryNotFoundException):
        ecr.list_images(repositoryName="no/such/repo")


def test_describe_images_by_id(server: Server, ecr: Any, repo: str) -> None:
    digest, _, _ = server.push_image(repo, "v1")
    one = ecr.describe_images(repositoryName=repo, imageIds=[{"imageDigest": digest}, {"imageTag": "v1"}])
    assert [d["imageDigest"] for d in one["imageDetails"]] == [digest]
    with pytest.raises(ecr.exceptions.ImageNotFoundException) as caught:
        ecr.describe_images(repositoryName=repo, imageIds=[{"imageTag": "missing"}])
    assert error(caught)[2] == (
        "The image with imageId {imageDigest:'null', imageTag:'missing'} does not exist within the "
        f"repository with name '{repo}' in the registry with id '{ACCOUNT}'"
    )
    with pytest.raises(ecr.exceptions.InvalidParameterException):
        ecr.describe_images(repositoryName=repo, imageIds=[{"imageTag": "v1"}], maxResults=5)


def test_batch_get_image(server: Server, ecr: Any, repo: str) -> None:
    digest, body, _ = server.push_image(repo, "v1")
    answer = ecr.batch_get_image(
        repositoryName=repo,
        imageIds=[
            {"imageTag": "v1"},
            {"imageDigest": digest},
            {"imageTag": "nope"},
            {"imageDigest": "sha256:bad"},
            {"imageTag": "v1", "imageDigest": "sha256:" + "0" * 64},
            {},
        ],
    )
    images = answer["images"]
    assert [i["imageId"] for i in images] == [
        {"imageDigest": digest, "imageTag": "v1"},
        {"imageDigest": digest},
    ]
    assert images[0]["imageManifest"].encode() == body
    assert images[0]["imageManifestMediaType"] == OCI_MANIFEST
    assert (images[0]["registryId"], images[0]["repositoryName"]) == (ACCOUNT, repo)
    codes = sorted(f["failureCode"] for f in answer["failures"])
    assert codes == [
        "ImageNotFound",
        "ImageTagDoesNotMatchDigest",
        "InvalidImageDigest",
        "MissingDigestAndTag",
    ]
    refused = ecr.batch_get_image(
        repositoryName=repo, imageIds=[{"imageTag": "v1"}], acceptedMediaTypes=[DOCKER_MANIFEST]
    )
    assert refused["images"] == []
    assert refused["failures"][0]["failureCode"] == "ImageNotFound"
    accepted = ecr.batch_get_image(
        repositoryName=repo, imageIds=[{"imageTag": "v1"}], acceptedMediaTypes=[DOCKER_MANIFEST, OCI_MANIFEST]
    )
    assert len(accepted["images"]) == 1


def test_pull_time_recorded(server: Server, ecr: Any, repo: str) -> None:
    digest, _, _ = server.push_image(repo, "v1")
    before = datetime.now(UTC) - timedelta(seconds=2)
    assert server.http.get(f"/v2/{repo}/manifests/v1").status_code == 200
    detail = ecr.describe_images(repositoryName=repo)["imageDetails"][0]
    assert before <= detail["lastRecordedPullTime"] <= datetime.now(UTC) + timedelta(seconds=2)
    ecr.batch_get_image(repositoryName=repo, imageIds=[{"imageDigest": digest}])
    again = ecr.describe_images(repositoryName=repo)["imageDetails"][0]
    assert again["lastRecordedPullTime"] == detail["lastRecordedPullTime"]  # at most once a day


def test_batch_delete_by_tag_deletes_the_image_with_its_last_tag(server: Server, ecr: Any, repo: str) -> None:
    digest, body, _ = server.push_image(repo, "a")
    server.put_manifest(repo, "b", body)
    answer = ecr.batch_delete_image(repositoryName=repo, imageIds=[{"imageTag": "a"}])
    assert answer["imageIds"] == [{"imageDigest": digest, "imageTag": "a"}]
    assert answer["failures"] == []
    assert server.http.get(f"/v2/{repo}/manifests/{digest}").status_code == 200  # still tagged b
    ecr.batch_delete_image(repositoryName=repo, imageIds=[{"imageTag": "b"}])
    assert server.http.get(f"/v2/{repo}/manifests/{digest}").status_code == 404  # last tag: image gone
    assert ecr.describe_images(repositoryName=repo)["imageDetails"] == []


def test_oci_delete_by_tag_only_untags(server: Server, ecr: Any, repo: str) -> None:
    digest, _, _ = server.push_image(repo, "a")
    assert server.http.delete(f"/v2/{repo}/manifests/a").status_code == 202
    details = ecr.describe_images(repositoryName=repo)["imageDetails"]
    assert [(d["imageDigest"], d.get("imageTags")) for d in details] == [(digest, None)]


def test_batch_delete_by_digest_and_failures(server: Server, ecr: Any, repo: str) -> None:
    digest, body, _ = server.push_image(repo, "a")
    server.put_manifest(repo, "b", body)
    child, child_body, _ = server.push_image(repo, None, seed="child")
    server.put_manifest(repo, "idx", index_of(("amd64", child_body)), OCI_INDEX)
    answer = ecr.batch_delete_image(
        repositoryName=repo,
        imageIds=[
            {"imageDigest": digest},
            {"imageDigest": child},
            {"imageTag": "gone"},
            {"imageDigest": "md5:x"},
        ],
    )
    assert answer["imageIds"] == [
        {"imageDigest": digest, "imageTag": "a"},
        {"imageDigest": digest, "imageTag": "b"},
    ]
    failures = {f["failureCode"]: f for f in answer["failures"]}
    assert set(failures) == {"ImageReferencedByManifestList", "ImageNotFound", "InvalidImageDigest"}
    assert failures["ImageNotFound"]["failureReason"] == "Requested image not found"
    assert server.http.get(f"/v2/{repo}/manifests/{child}").status_code == 200


def test_put_image_retag_and_conflicts(server: Server, ecr: Any, repo: str) -> None:
    digest, body, _ = server.push_image(repo, "v1")
    manifest = body.decode()
    image = ecr.put_image(repositoryName=repo, imageManifest=manifest, imageTag="v2")["image"]
    assert image["imageId"] == {"imageDigest": digest, "imageTag": "v2"}
    assert image["imageManifestMediaType"] == OCI_MANIFEST
    assert server.http.get(f"/v2/{repo}/manifests/v2").headers["docker-content-digest"] == digest
    with pytest.raises(ecr.exceptions.ImageAlreadyExistsException) as caught:
        ecr.put_image(repositoryName=repo, imageManifest=manifest, imageTag="v2")
    assert error(caught)[2] == (
        f"Image with digest '{digest}' and tag 'v2' already exists in the repository with name '{repo}' in "
        f"registry with id '{ACCOUNT}'"
    )
    with pytest.raises(ecr.exceptions.ImageDigestDoesNotMatchException):
        ecr.put_image(
            repositoryName=repo, imageManifest=manifest, imageTag="v3", imageDigest="sha256:" + "1" * 64
        )
    ok = ecr.put_image(repositoryName=repo, imageManifest=manifest, imageTag="v3", imageDigest=digest)
    assert ok["image"]["imageId"]["imageDigest"] == digest
    with pytest.raises(ecr.exceptions.RepositoryNotFoundException):
        ecr.put_image(repositoryName="no/such/repo", imageManifest=manifest, imageTag="v1")


def test_put_image_missing_layers(ecr: Any, repo: str) -> None:
    config = b'{"architecture":"amd64"}'
    document = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": descriptor(OCI_CONFIG, config),
        "layers": [],
    }
    with pytest.raises(ecr.exceptions.LayersNotFoundException) as caught:
        ecr.put_image(repositoryName=repo, imageManifest=json.dumps(document), imageTag="v1")
    assert digest_of(config) in error(caught)[2]
    with pytest.raises(ecr.exceptions.InvalidParameterException):
        ecr.put_image(repositoryName=repo, imageManifest="{not json", imageTag="v1")
    body = index_of(("amd64", b'{"not":"pushed"}')).decode()
    with pytest.raises(ecr.exceptions.ReferencedImagesNotFoundException):
        ecr.put_image(repositoryName=repo, imageManifest=body, imageTag="idx")
    assert ecr.describe_images(repositoryName=repo)["imageDetails"] == []


IMMUTABLE_TEXT = (
    "The image tag '{tag}' already exists in the '{repo}' repository and cannot be overwritten because the "
    "repository is immutable."
)


def test_immutable_tags_on_both_apis(server: Server, ecr: Any, repo: str) -> None:
    digest, body, _ = server.push_image(repo, "v1")
    ecr.put_image_tag_mutability(repositoryName=repo, imageTagMutability="IMMUTABLE")
    _, other_body, _ = server.push_image(repo, None, seed="other")
    response = server.put_manifest(repo, "v1", other_body)  # what docker push does
    assert response.status_code == 400
    assert response.json()["errors"][0] == {
        "code": "TAG_INVALID",
        "message": IMMUTABLE_TEXT.format(tag="v1", repo=repo),
        "detail": {"tag": "v1"},
    }
    with pytest.raises(ecr.exceptions.ImageTagAlreadyExistsException) as caught:
        ecr.put_image(repositoryName=repo, imageManifest=other_body.decode(), imageTag="v1")
    assert error(caught)[2] == IMMUTABLE_TEXT.format(tag="v1", repo=repo)
    with pytest.raises(ecr.exceptions.ImageTagAlreadyExistsException):  # the same digest again, too (ECR)
        ecr.put_image(repositoryName=repo, imageManifest=body.decode(), imageTag="v1")
    assert server.http.get(f"/v2/{repo}/manifests/v1").headers["docker-content-digest"] == digest
    assert server.put_manifest(repo, "v2", other_body).status_code == 201  # new tags are fine


def test_exclusion_filters_decide_per_tag(server: Server, ecr: Any, repo: str) -> None:
    _, first, _ = server.push_image(repo, None, seed="1")
    _, second, _ = server.push_image(repo, None, seed="2")
    filters = [{"filterType": "WILDCARD", "filter": "dev-*"}]
    ecr.put_image_tag_mutability(
        repositoryName=repo,
        imageTagMutability="IMMUTABLE_WITH_EXCLUSION",
        imageTagMutabilityExclusionFilters=filters,
    )
    for tag in ("dev-1", "release"):
        assert server.put_manifest(repo, tag, first).status_code == 201
    assert server.put_manifest(repo, "dev-1", second).status_code == 201  # excluded: mutable
    assert server.put_manifest(repo, "release", second).status_code == 400
    ecr.put_image_tag_mutability(
        repositoryName=repo,
        imageTagMutability="MUTABLE_WITH_EXCLUSION",
        imageTagMutabilityExclusionFilters=filters,
    )
    assert server.put_manifest(repo, "release", second).status_code == 201
    assert server.put_manifest(repo, "dev-1", first).status_code == 400


def test_list_image_referrers(server: Server, ecr: Any, repo: str) -> None:
    subject, body, _ = server.push_image(repo, "v1")
    subject_descriptor = descriptor(OCI_MANIFEST, body)
    sig, _, _ = server.push_image(
        repo, None, seed="sig", artifactType="application/vnd.test.sig", subject=subject_descriptor
    )
    sbom, _, _ = server.push_image(
        repo, None, seed="sbom", artifactType="application/spdx+json", subject=subject_descriptor
    )
    answer = ecr.list_image_referrers(repositoryName=repo, subjectId={"imageDigest": subject})
    found = {r["digest"]: r for r in answer["referrers"]}
    assert set(found) == {sig, sbom}
    assert found[sig]["artifactType"] == "application/vnd.test.sig"
    assert found[sig]["mediaType"] == OCI_MANIFEST
    assert found[sig]["size"] > 0
    assert found[sig]["artifactStatus"] == "ACTIVE"
    filtered = ecr.list_image_referrers(
        repositoryName=repo,
        subjectId={"imageDigest": subject},
        filter={"artifactTypes": ["application/spdx+json"]},
    )
    assert [r["digest"] for r in filtered["referrers"]] == [sbom]
    first = ecr.list_image_referrers(repositoryName=repo, subjectId={"imageDigest": subject}, maxResults=1)
    second = ecr.list_image_referrers(
        repositoryName=repo, subjectId={"imageDigest": subject}, maxResults=1, nextToken=first["nextToken"]
    )
    assert {first["referrers"][0]["digest"], second["referrers"][0]["digest"]} == {sig, sbom}
    assert "nextToken" not in second
    detail = ecr.describe_images(repositoryName=repo, imageIds=[{"imageDigest": sig}])["imageDetails"][0]
    assert detail["subjectManifestDigest"] == subject
    assert detail["artifactMediaType"] == "application/vnd.test.sig"
