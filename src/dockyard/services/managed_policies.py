"""AWS managed policies Dockyard ships, with AWS's own ARNs and action lists (from AWS's policy reference)."""

from __future__ import annotations

import json
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class BuiltinPolicy:
    name: str
    description: str
    document: str
    path: str = "/"

    @property
    def arn(self) -> str:
        return f"arn:aws:iam::aws:policy{self.path}{self.name}"


def _allow(*actions: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": list(actions), "Resource": "*"}],
        }
    )


_ECR_READ = (
    "ecr:GetAuthorizationToken",
    "ecr:BatchCheckLayerAvailability",
    "ecr:GetDownloadUrlForLayer",
    "ecr:GetRepositoryPolicy",
    "ecr:DescribeRepositories",
    "ecr:ListImages",
    "ecr:DescribeImages",
    "ecr:BatchGetImage",
    "ecr:GetLifecyclePolicy",
    "ecr:GetLifecyclePolicyPreview",
    "ecr:ListTagsForResource",
    "ecr:DescribeImageScanFindings",
)
_ECR_FULL = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": ["ecr:*", "cloudtrail:LookupEvents"], "Resource": "*"},
            {
                "Effect": "Allow",
                "Action": ["iam:CreateServiceLinkedRole"],
                "Resource": "*",
                "Condition": {"StringEquals": {"iam:AWSServiceName": ["replication.ecr.amazonaws.com"]}},
            },
        ],
    }
)

_ECR_PUBLIC_READ = (
    "ecr-public:GetAuthorizationToken",
    "sts:GetServiceBearerToken",
    "ecr-public:BatchCheckLayerAvailability",
    "ecr-public:GetRepositoryPolicy",
    "ecr-public:DescribeRepositories",
    "ecr-public:DescribeRegistries",
    "ecr-public:DescribeImages",
    "ecr-public:DescribeImageTags",
    "ecr-public:GetRepositoryCatalogData",
    "ecr-public:GetRegistryCatalogData",
)

BUILTIN_POLICIES: tuple[BuiltinPolicy, ...] = (
    BuiltinPolicy(
        "AmazonEC2ContainerRegistryReadOnly",
        "Provides read-only access to Amazon EC2 Container Registry repositories.",
        _allow(*_ECR_READ),
    ),
    BuiltinPolicy(
        "AmazonEC2ContainerRegistryPullOnly",
        "Provides access to pull images from Amazon EC2 Container Registry repositories.",
        _allow(
            "ecr:GetAuthorizationToken",
            "ecr:BatchGetImage",
            "ecr:GetDownloadUrlForLayer",
            "ecr:BatchImportUpstreamImage",
        ),
    ),
    BuiltinPolicy(
        "AmazonEC2ContainerRegistryPowerUser",
        "Provides full access to Amazon EC2 Container Registry repositories, but does not allow repository "
        "deletion or policy changes.",
        _allow(
            *_ECR_READ,
            "ecr:InitiateLayerUpload",
            "ecr:UploadLayerPart",
            "ecr:CompleteLayerUpload",
            "ecr:PutImage",
        ),
    ),
    BuiltinPolicy(
        "AmazonEC2ContainerRegistryFullAccess",
        "Provides administrative access to Amazon ECR resources",
        _ECR_FULL,
    ),
    BuiltinPolicy(
        "AmazonElasticContainerRegistryPublicReadOnly",
        "Provides read-only access to Amazon ECR Public repositories.",
        _allow(*_ECR_PUBLIC_READ),
    ),
    BuiltinPolicy(
        "AmazonElasticContainerRegistryPublicPowerUser",
        "Provides full access to Amazon ECR Public repositories, but does not allow repository deletion or "
        "policy changes.",
        _allow(
            *_ECR_PUBLIC_READ,
            "ecr-public:InitiateLayerUpload",
            "ecr-public:UploadLayerPart",
            "ecr-public:CompleteLayerUpload",
            "ecr-public:PutImage",
        ),
    ),
    BuiltinPolicy(
        "AmazonElasticContainerRegistryPublicFullAccess",
        "Provides administrative access to Amazon ECR Public repositories.",
        _allow("ecr-public:*", "sts:GetServiceBearerToken"),
    ),
)
