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

# The ECS roles' policies as AWS publishes them today (AmazonEC2ContainerServiceforEC2Role: version v10,
# 2026-02-12; AmazonECSTaskExecutionRolePolicy: v1). The node agent uses the instance role's for
# registration and polling, the execution role's for pulls and for shipping container output to Logs.
_ECS_INSTANCE_ROLE = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": [
                    "ec2:DescribeTags",
                    "ecs:CreateCluster",
                    "ecs:DeregisterContainerInstance",
                    "ecs:DiscoverPollEndpoint",
                    "ecs:Poll",
                    "ecs:RegisterContainerInstance",
                    "ecs:StartTelemetrySession",
                    "ecs:UpdateContainerInstancesState",
                    "ecs:Submit*",
                    "ecr:GetAuthorizationToken",
                    "ecr:BatchCheckLayerAvailability",
                    "ecr:GetDownloadUrlForLayer",
                    "ecr:BatchGetImage",
                    "logs:CreateLogStream",
                    "logs:PutLogEvents",
                ],
                "Resource": "*",
            },
            {
                "Effect": "Allow",
                "Action": "ecs:TagResource",
                "Resource": "*",
                "Condition": {
                    "StringEquals": {"ecs:CreateAction": ["CreateCluster", "RegisterContainerInstance"]}
                },
            },
            {
                "Effect": "Allow",
                "Action": ["ecs:ListTagsForResource"],
                "Resource": ["arn:aws:ecs:*:*:task/*/*", "arn:aws:ecs:*:*:container-instance/*/*"],
            },
        ],
    }
)
_ECS_TASK_EXECUTION = _allow(
    "ecr:GetAuthorizationToken",
    "ecr:BatchCheckLayerAvailability",
    "ecr:GetDownloadUrlForLayer",
    "ecr:BatchGetImage",
    "logs:CreateLogStream",
    "logs:PutLogEvents",
)
_SERVICE_ROLE = "/service-role/"

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
    BuiltinPolicy(
        "AmazonECSTaskExecutionRolePolicy",
        "Provides access to other AWS service resources that are required to run Amazon ECS tasks",
        _ECS_TASK_EXECUTION,
        _SERVICE_ROLE,
    ),
    BuiltinPolicy(
        "AmazonEC2ContainerServiceforEC2Role",
        "Default policy for the Amazon EC2 Role for Amazon EC2 Container Service.",
        _ECS_INSTANCE_ROLE,
        _SERVICE_ROLE,
    ),
)
