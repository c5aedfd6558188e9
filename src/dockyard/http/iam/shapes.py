"""Identity records as IAM's output shapes, and IAM's ``Marker``/``MaxItems`` pagination.

Policy documents go out URL-encoded, as IAM sends them (botocore decodes ``policyDocumentType`` values
back into dictionaries for boto3 and the CLI).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar
from urllib.parse import quote

from dockyard.domain.identity import (
    AccessKey,
    Group,
    InvalidInput,
    ManagedPolicy,
    PolicyVersion,
    Role,
    User,
)

T = TypeVar("T")
DEFAULT_MAX_ITEMS = 100


def encoded(document: str) -> str:
    return quote(document, safe="")


def tags_out(tags: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"Key": key, "Value": value} for key, value in tags.items()]


def tags_in(params: Mapping[str, Any]) -> dict[str, str]:
    return {tag["Key"]: tag["Value"] for tag in params.get("Tags", [])}


def user_out(user: User, *, with_tags: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "Path": user.path,
        "UserName": user.name,
        "UserId": user.user_id,
        "Arn": user.arn,
        "CreateDate": user.created_at,
    }
    if with_tags and user.tags:
        out["Tags"] = tags_out(user.tags)
    return out


def group_out(group: Group) -> dict[str, Any]:
    return {
        "Path": group.path,
        "GroupName": group.name,
        "GroupId": group.group_id,
        "Arn": group.arn,
        "CreateDate": group.created_at,
    }


def role_out(role: Role, *, with_tags: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "Path": role.path,
        "RoleName": role.name,
        "RoleId": role.role_id,
        "Arn": role.arn,
        "CreateDate": role.created_at,
        "AssumeRolePolicyDocument": encoded(role.trust_policy),
        "Description": role.description,
        "MaxSessionDuration": role.max_session_duration,
    }
    if with_tags and role.tags:
        out["Tags"] = tags_out(role.tags)
    return out


def access_key_out(key: AccessKey, secret: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "UserName": key.user_name,
        "AccessKeyId": key.access_key_id,
        "Status": key.status,
        "CreateDate": key.created_at,
    }
    if secret is not None:
        out["SecretAccessKey"] = secret
    return out


def policy_out(policy: ManagedPolicy) -> dict[str, Any]:
    return {
        "PolicyName": policy.name,
        "PolicyId": policy.policy_id,
        "Arn": policy.arn,
        "Path": policy.path,
        "DefaultVersionId": policy.default_version,
        "AttachmentCount": policy.attachment_count,
        "PermissionsBoundaryUsageCount": 0,
        "IsAttachable": True,
        "Description": policy.description,
        "CreateDate": policy.created_at,
        "UpdateDate": policy.updated_at,
    }


def version_out(version: PolicyVersion, *, with_document: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {
        "VersionId": version.version_id,
        "IsDefaultVersion": version.is_default,
        "CreateDate": version.created_at,
    }
    if with_document:
        out["Document"] = encoded(version.document)
    return out


def page(items: Sequence[T], params: Mapping[str, Any], key: str) -> dict[str, Any]:
    """``{key: items[marker:marker + MaxItems], "IsTruncated": …, "Marker": …}``; the marker is opaque."""
    start = _marker(params.get("Marker"))
    size = int(params.get("MaxItems") or DEFAULT_MAX_ITEMS)
    chosen = list(items[start : start + size])
    out: dict[str, Any] = {key: chosen, "IsTruncated": start + size < len(items)}
    if out["IsTruncated"]:
        out["Marker"] = base64.urlsafe_b64encode(str(start + size).encode()).decode()
    return out


def _marker(marker: str | None) -> int:
    if not marker:
        return 0
    try:
        return int(base64.urlsafe_b64decode(marker.encode()).decode())
    except ValueError:
        raise InvalidInput("Invalid Marker.") from None
