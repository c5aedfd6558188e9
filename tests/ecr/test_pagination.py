"""Pagination over 1,000 images (one config and layer, 1,000 distinct tiny manifests), with boto3's
paginators and the aws CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .support import AWS_CLI, OCI_CONFIG, OCI_LAYER, OCI_MANIFEST, Server, aws, descriptor, digest_of

REPO = "bulk/images"
COUNT = 1000


@pytest.fixture(scope="module")
def images(server: Server) -> list[str]:
    server.ecr().create_repository(repositoryName=REPO)
    config, layer = b'{"architecture":"amd64","os":"linux"}', b"one shared layer"
    server.push_blob(REPO, config)
    server.push_blob(REPO, layer)
    digests = []
    for i in range(COUNT):
        document = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": descriptor(OCI_CONFIG, config),
            "layers": [descriptor(OCI_LAYER, layer)],
            "annotations": {"n": str(i)},
        }
        body = json.dumps(document).encode()
        tag = f"t{i}" if i % 2 == 0 else digest_of(body)
        assert server.put_manifest(REPO, tag, body).status_code == 201
        digests.append(digest_of(body))
    return digests


def test_describe_images_paginator(server: Server, images: list[str]) -> None:
    ecr = server.ecr()
    pages = list(ecr.get_paginator("describe_images").paginate(repositoryName=REPO))
    assert [len(p["imageDetails"]) for p in pages] == [100] * 10  # ECR's default page: 100
    seen = [d["imageDigest"] for p in pages for d in p["imageDetails"]]
    assert seen == images
    assert all(d["imageSizeInBytes"] == 37 + 16 for p in pages for d in p["imageDetails"])
    big = list(
        ecr.get_paginator("describe_images").paginate(
            repositoryName=REPO, PaginationConfig={"PageSize": 1000}
        )
    )
    assert len(big) == 1
    assert "nextToken" not in big[0]


def test_list_images_pages_and_filters(server: Server, images: list[str]) -> None:
    ecr = server.ecr()
    pages = list(
        ecr.get_paginator("list_images").paginate(repositoryName=REPO, PaginationConfig={"PageSize": 300})
    )
    assert [len(p["imageIds"]) for p in pages] == [300, 300, 300, 100]
    ids = [i for p in pages for i in p["imageIds"]]
    assert len({i["imageDigest"] for i in ids}) == COUNT
    tagged = [
        i
        for p in ecr.get_paginator("list_images").paginate(
            repositoryName=REPO, filter={"tagStatus": "TAGGED"}
        )
        for i in p["imageIds"]
    ]
    assert len(tagged) == COUNT // 2
    assert all("imageTag" in i for i in tagged)
    first = ecr.list_images(repositoryName=REPO, maxResults=1)
    other_repo_token = first["nextToken"]
    ecr.create_repository(repositoryName="bulk/other")
    with pytest.raises(ecr.exceptions.InvalidParameterException):
        ecr.list_images(repositoryName="bulk/other", nextToken=other_repo_token)
    with pytest.raises(ecr.exceptions.InvalidParameterException):
        ecr.describe_images(repositoryName=REPO, nextToken=other_repo_token)


@pytest.mark.skipif(AWS_CLI is None, reason="the aws CLI is not installed")
def test_cli_paginated_describe_images(server: Server, images: list[str], tmp_path: Path) -> None:
    done = aws(
        server,
        tmp_path,
        "describe-images",
        "--repository-name",
        REPO,
        "--query",
        "imageDetails[].imageDigest",
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == images
    done = aws(
        server,
        tmp_path,
        "describe-images",
        "--repository-name",
        REPO,
        "--max-items",
        "250",
        "--page-size",
        "100",
        "--query",
        "{digests: imageDetails[].imageDigest, next: NextToken}",
    )
    assert done.returncode == 0, done.stderr
    first = json.loads(done.stdout)
    assert first["digests"] == images[:250]
    done = aws(
        server,
        tmp_path,
        "describe-images",
        "--repository-name",
        REPO,
        "--starting-token",
        first["next"],
        "--max-items",
        "250",
        "--query",
        "imageDetails[].imageDigest",
    )
    assert json.loads(done.stdout) == images[250:500]
