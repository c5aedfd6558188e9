"""Bad input: each failure is the model's exception with a useful message, and changes nothing."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from .support import KEY, REGION, SECRET, Server

TARGET = "AmazonEC2ContainerRegistry_V20150921."
REPO = "bad/input"


def raw(server: Server, operation: str, body: bytes | dict[str, Any]) -> httpx.Response:
    """A correctly signed ECR request whose body boto3 would never send."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": TARGET + operation}
    request = AWSRequest(method="POST", url=server.url + "/", data=data, headers=headers)
    SigV4Auth(Credentials(KEY, SECRET), "ecr", REGION).add_auth(request)
    return server.http.post("/", content=data, headers=dict(request.headers))


def state(server: Server) -> Any:
    ecr = server.ecr()
    repositories = [
        r for page in ecr.get_paginator("describe_repositories").paginate() for r in page["repositories"]
    ]
    images = {
        r["repositoryName"]: (
            ecr.describe_images(repositoryName=r["repositoryName"])["imageDetails"],
            ecr.list_tags_for_resource(resourceArn=r["repositoryArn"])["tags"],
        )
        for r in repositories
    }
    return repositories, images


@pytest.fixture(scope="module")
def seeded(server: Server) -> str:
    server.ecr().create_repository(repositoryName=REPO, tags=[{"Key": "k", "Value": "v"}])
    digest, _, _ = server.push_image(REPO, "v1")
    return digest


NAME_257 = "a" * 257
CASES: list[tuple[str, dict[str, Any] | bytes, str, str]] = [
    (
        "CreateRepository",
        {"repositoryName": "bad/new", "bogus": 1},
        "SerializationException",
        "Unrecognized field 'bogus'",
    ),
    ("CreateRepository", {"repositoryName": 5}, "SerializationException", "at 'repositoryName'"),
    ("CreateRepository", b"{not json", "SerializationException", "not valid JSON"),
    (
        "CreateRepository",
        {"repositoryName": NAME_257},
        "InvalidParameterException",
        "Invalid parameter at 'repositoryName' failed to satisfy constraint: "
        "'must have length less than or equal to 256'",
    ),
    (
        "CreateRepository",
        {"repositoryName": "Bad Name"},
        "InvalidParameterException",
        "at 'repositoryName' failed to satisfy constraint: 'must satisfy regular expression",
    ),
    (
        "CreateRepository",
        {},
        "InvalidParameterException",
        "Invalid parameter at 'repositoryName' failed to satisfy constraint: 'must not be null'",
    ),
    (
        "CreateRepository",
        {"repositoryName": "bad/enum", "imageTagMutability": "SOMETIMES"},
        "InvalidParameterException",
        "at 'imageTagMutability' failed to satisfy constraint: 'must satisfy enum value set",
    ),
    (
        "PutImageTagMutability",
        {"repositoryName": REPO, "imageTagMutability": "IMMUTABLE", "x": 1},
        "SerializationException",
        "Unrecognized field 'x'",
    ),
    (
        "DescribeImages",
        {"repositoryName": REPO, "maxResults": 1001},
        "InvalidParameterException",
        "'maxResults' failed to satisfy constraint: 'must have value less than or equal to 1000'",
    ),
    (
        "BatchDeleteImage",
        {"repositoryName": REPO, "imageIds": [{"imageTag": f"t{i}"} for i in range(101)]},
        "InvalidParameterException",
        "'imageIds' failed to satisfy constraint: 'must have length less than or equal to 100'",
    ),
    (
        "BatchDeleteImage",
        {"repositoryName": REPO, "imageIds": "v1"},
        "SerializationException",
        "at 'imageIds'",
    ),
    (
        "PutImage",
        {"repositoryName": REPO, "imageManifest": "{}", "imageTag": "v1", "imageDigest": "sha256:nothex"},
        "InvalidParameterException",
        "Invalid parameter at 'imageDigest'",
    ),
    (
        "GetDownloadUrlForLayer",
        {"repositoryName": REPO, "layerDigest": "sha256:XYZ"},
        "InvalidParameterException",
        "Invalid parameter at 'layerDigest' failed to satisfy constraint: 'must satisfy regular expression",
    ),
    (
        "GetDownloadUrlForLayer",
        {"repositoryName": REPO, "layerDigest": "sha256:abc"},
        "InvalidParameterException",
        "Invalid parameter at 'layerDigest'",
    ),
    (
        "SetRepositoryPolicy",
        {"repositoryName": REPO, "policyText": '{"Statement": []}'},
        "InvalidParameterException",
        "at 'PolicyText' failed to satisfy constraint: 'Invalid repository policy provided'",
    ),
    (
        "TagResource",
        {
            "resourceArn": "arn:aws:ecr:us-east-1:123456789012:repository/bad/input",
            "tags": [{"Key": "aws:x", "Value": "y"}],
        },
        "InvalidTagParameterException",
        "aws:x",
    ),
    (
        "CreatePullThroughCacheRule",
        {"ecrRepositoryPrefix": "cache", "upstreamRegistryUrl": "public.ecr.aws"},
        "UnknownOperationException",
        "The requested operation is not recognized by the service.",
    ),
    ("NoSuchOperation", {}, "UnknownOperationException", "not recognized"),
]


@pytest.mark.parametrize(
    ("operation", "body", "code", "message"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)]
)
def test_bad_input_changes_nothing(
    server: Server, seeded: str, operation: str, body: dict[str, Any] | bytes, code: str, message: str
) -> None:
    before = state(server)
    response = raw(server, operation, body)
    assert response.status_code == 400, response.text
    assert response.headers["x-amzn-errortype"] == code
    answer = response.json()
    assert answer["__type"] == code
    assert message in answer["message"]
    assert state(server) == before
