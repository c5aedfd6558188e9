"""The ECR SQL on PostgreSQL: the whole operation walk, listings with keyset pages, sizes, pulls, deletes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from dockyard.config import Settings

from .support import OCI_INDEX, Server, serve
from .test_images import index_of
from .test_model_and_access import MODEL, SCENARIO, call, missing_required


@pytest.fixture(scope="module")
def pg_server(tmp_path_factory: pytest.TempPathFactory, module_postgres_url: str) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp("ecr-pg")
    with serve(Settings(data_dir=data_dir, database_url=module_postgres_url, access_log=False)) as running:
        yield running


def test_operation_walk(pg_server: Server) -> None:
    ecr, context = pg_server.ecr(), {}
    for operation, params in SCENARIO:
        answer = call(ecr, operation, params(context))
        context.update({k: v for k, v in answer.items() if k == "uploadId"})
        answer.pop("ResponseMetadata")
        assert missing_required(MODEL.operation_model(operation).output_shape, answer, operation) == []


def test_images(pg_server: Server) -> None:
    ecr: Any = pg_server.ecr()
    repo = "pg/images"
    ecr.create_repository(repositoryName=repo)
    small, small_body, small_size = pg_server.push_image(repo, "B-small", seed="s")
    large, large_body, large_size = pg_server.push_image(repo, "a-large", seed="l", layers=3)
    pg_server.put_manifest(repo, "Z", large_body)
    index = index_of(("amd64", small_body), ("arm64", large_body))
    assert pg_server.put_manifest(repo, "idx", index, OCI_INDEX).status_code == 201
    untagged, _, _ = pg_server.push_image(repo, None, seed="u")
    pages = list(
        ecr.get_paginator("list_images").paginate(repositoryName=repo, PaginationConfig={"PageSize": 1})
    )
    ids = [(i["imageDigest"], i.get("imageTag")) for p in pages for i in p["imageIds"]]
    assert ids[:3] == [(small, "B-small"), (large, "Z"), (large, "a-large")]  # byte order: "Z" < "a"
    assert ids[-1] == (untagged, None)
    details = {
        d["imageDigest"]: d for d in ecr.describe_images(repositoryName=repo, maxResults=10)["imageDetails"]
    }
    assert details[large]["imageTags"] == ["Z", "a-large"]
    assert details[large]["imageSizeInBytes"] == large_size
    assert (
        max(small_size, large_size)
        == next(d for d in details.values() if d.get("imageTags") == ["idx"])["imageSizeInBytes"]
    )
    assert pg_server.http.get(f"/v2/{repo}/manifests/{untagged}").status_code == 200
    pulled = ecr.describe_images(repositoryName=repo, imageIds=[{"imageDigest": untagged}])["imageDetails"][0]
    assert "lastRecordedPullTime" in pulled
    deleted = ecr.batch_delete_image(
        repositoryName=repo, imageIds=[{"imageTag": "Z"}, {"imageDigest": small}]
    )
    assert [f["failureCode"] for f in deleted["failures"]] == ["ImageReferencedByManifestList"]
    assert deleted["imageIds"] == [{"imageDigest": large, "imageTag": "Z"}]
