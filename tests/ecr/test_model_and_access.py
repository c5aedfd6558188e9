"""Every served operation: its response parses with every required member (walking botocore's model), and
each is authorised with its IAM action, so a deny-all policy engine refuses every one."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import botocore.session
import pytest
from botocore.exceptions import ClientError

from aws_shapes import call, missing_required

from .support import ACCOUNT, OCI_CONFIG, OCI_MANIFEST, REGION, Server, descriptor, digest_of
from .test_repositories import POLICY

REPO = "walk/repo"
ARN = f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/{REPO}"
CONFIG = b'{"architecture":"amd64","os":"linux"}'
MANIFEST = json.dumps(
    {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": descriptor(OCI_CONFIG, CONFIG), "layers": []}
)
Params = Callable[[dict[str, Any]], dict[str, Any]]
LIFECYCLE = json.dumps(
    {
        "rules": [
            {
                "rulePriority": 1,
                "selection": {"tagStatus": "untagged", "countType": "imageCountMoreThan", "countNumber": 1},
                "action": {"type": "expire"},
            }
        ]
    }
)

SCENARIO: list[tuple[str, Params]] = [
    ("CreateRepository", lambda c: {"repositoryName": REPO, "tags": [{"Key": "a", "Value": "b"}]}),
    ("DescribeRepositories", lambda c: {"repositoryNames": [REPO]}),
    ("PutImageTagMutability", lambda c: {"repositoryName": REPO, "imageTagMutability": "MUTABLE"}),
    (
        "PutImageScanningConfiguration",
        lambda c: {"repositoryName": REPO, "imageScanningConfiguration": {"scanOnPush": True}},
    ),
    ("SetRepositoryPolicy", lambda c: {"repositoryName": REPO, "policyText": POLICY}),
    ("GetRepositoryPolicy", lambda c: {"repositoryName": REPO}),
    ("DeleteRepositoryPolicy", lambda c: {"repositoryName": REPO}),
    ("TagResource", lambda c: {"resourceArn": ARN, "tags": [{"Key": "c", "Value": "d"}]}),
    ("ListTagsForResource", lambda c: {"resourceArn": ARN}),
    ("UntagResource", lambda c: {"resourceArn": ARN, "tagKeys": ["c"]}),
    ("DescribeRegistry", lambda c: {}),
    ("PutRegistryPolicy", lambda c: {"policyText": POLICY}),
    ("GetRegistryPolicy", lambda c: {}),
    ("DeleteRegistryPolicy", lambda c: {}),
    ("GetAuthorizationToken", lambda c: {}),
    ("InitiateLayerUpload", lambda c: {"repositoryName": REPO}),
    (
        "UploadLayerPart",
        lambda c: {
            "repositoryName": REPO,
            "uploadId": c["uploadId"],
            "partFirstByte": 0,
            "partLastByte": len(CONFIG) - 1,
            "layerPartBlob": CONFIG,
        },
    ),
    (
        "CompleteLayerUpload",
        lambda c: {"repositoryName": REPO, "uploadId": c["uploadId"], "layerDigests": [digest_of(CONFIG)]},
    ),
    ("BatchCheckLayerAvailability", lambda c: {"repositoryName": REPO, "layerDigests": [digest_of(CONFIG)]}),
    ("GetDownloadUrlForLayer", lambda c: {"repositoryName": REPO, "layerDigest": digest_of(CONFIG)}),
    ("PutImage", lambda c: {"repositoryName": REPO, "imageManifest": MANIFEST, "imageTag": "v1"}),
    ("ListImages", lambda c: {"repositoryName": REPO}),
    ("DescribeImages", lambda c: {"repositoryName": REPO}),
    ("BatchGetImage", lambda c: {"repositoryName": REPO, "imageIds": [{"imageTag": "v1"}]}),
    (
        "ListImageReferrers",
        lambda c: {"repositoryName": REPO, "subjectId": {"imageDigest": digest_of(MANIFEST.encode())}},
    ),
    ("PutRegistryScanningConfiguration", lambda c: {"scanType": "BASIC", "rules": []}),
    ("GetRegistryScanningConfiguration", lambda c: {}),
    ("BatchGetRepositoryScanningConfiguration", lambda c: {"repositoryNames": [REPO]}),
    ("StartImageScan", lambda c: {"repositoryName": REPO, "imageId": {"imageTag": "v1"}}),
    ("DescribeImageScanFindings", lambda c: {"repositoryName": REPO, "imageId": {"imageTag": "v1"}}),
    ("BatchDeleteImage", lambda c: {"repositoryName": REPO, "imageIds": [{"imageTag": "v1"}]}),
    ("PutLifecyclePolicy", lambda c: {"repositoryName": REPO, "lifecyclePolicyText": LIFECYCLE}),
    ("GetLifecyclePolicy", lambda c: {"repositoryName": REPO}),
    ("StartLifecyclePolicyPreview", lambda c: {"repositoryName": REPO}),
    ("GetLifecyclePolicyPreview", lambda c: {"repositoryName": REPO}),
    ("DeleteLifecyclePolicy", lambda c: {"repositoryName": REPO}),
    ("DeleteRepository", lambda c: {"repositoryName": REPO, "force": True}),
]
MODEL = botocore.session.get_session().get_service_model("ecr")


def test_scenario_covers_every_served_operation(server: Server) -> None:
    served = set(server.api.endpoint.handlers)
    assert served == {op for op, _ in SCENARIO}
    assert len(served) == 37


def test_every_response_parses_with_its_required_members(server: Server) -> None:
    ecr, context = server.ecr(), {}
    for operation, params in SCENARIO:
        answer = call(ecr, operation, params(context))
        context.update({k: v for k, v in answer.items() if k == "uploadId"})
        shape = MODEL.operation_model(operation).output_shape
        answer.pop("ResponseMetadata")
        assert missing_required(shape, answer, operation) == [], operation
        assert set(answer) <= set(shape.members) if shape is not None else answer == {}
        if shape is not None and operation not in ("TagResource", "UntagResource"):
            assert answer, f"{operation} answered nothing"


@pytest.fixture
def denied(server: Server) -> Any:
    server.authz.deny = True
    server.authz.checks.clear()
    yield server
    server.authz.deny = False


def test_every_operation_is_authorised(denied: Server) -> None:
    ecr = denied.ecr()
    context = {"uploadId": "00000000-0000-0000-0000-000000000000"}
    for operation, params in SCENARIO:
        with pytest.raises(ClientError) as caught:
            call(ecr, operation, params(context))
        assert caught.value.response["Error"]["Code"] == "AccessDeniedException", operation
        assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
        assert "is not authorized to perform" in caught.value.response["Error"]["Message"]
    actions = {action for action, _ in denied.authz.checks}
    assert actions == {f"ecr:{op}" for op, _ in SCENARIO if op != "ListImageReferrers"} | {
        "ecr:BatchGetImage"
    }
    resources = dict(denied.authz.checks)
    assert resources["ecr:CreateRepository"] == ARN
    assert resources["ecr:GetAuthorizationToken"] == "*"
    denied.authz.deny = False
    with pytest.raises(ecr.exceptions.RepositoryNotFoundException):  # nothing was created while denied
        ecr.describe_repositories(repositoryNames=[REPO])
