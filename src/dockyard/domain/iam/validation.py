"""Validation of a raw policy document, with the error texts AWS IAM answers with.

The checks run in IAM's order, so a document with several faults gets the message IAM would give:
syntax, version, legacy parsing (Effect spelling, dates, resource shapes), Sid uniqueness, presence of
actions, resource formats, action prefixes, presence of resources, principals, trust-policy rules.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dockyard.domain.iam import errors as text
from dockyard.domain.iam.conditions import BASE_OPERATORS, MAX_EPOCH, parse_date, split_operator
from dockyard.domain.iam.errors import MalformedPolicyDocument
from dockyard.domain.iam.principals import parse_principal

CURRENT_VERSION = "2012-10-17"
VERSIONS = frozenset({CURRENT_VERSION, "2008-10-17"})
_TOP_KEYS = frozenset({"Version", "Id", "Statement"})
_STATEMENT_KEYS = frozenset(
    {
        "Sid",
        "Effect",
        "Action",
        "NotAction",
        "Resource",
        "NotResource",
        "Principal",
        "NotPrincipal",
        "Condition",
    }
)
_PAIRS = (("Action", "NotAction"), ("Resource", "NotResource"), ("Principal", "NotPrincipal"))
PARTITIONS = frozenset(
    {"aws", "aws-cn", "aws-us-gov", "aws-iso", "aws-iso-b", "aws-iso-e", "aws-iso-f", "aws-eusc"}
)
_VENDOR = re.compile(r"[^a-zA-Z0-9\-.]")
_IAM_PATHS = (
    "user/", "federated-user/", "role/", "group/", "instance-profile/", "mfa/", "server-certificate/",
    "policy/", "sms-mfa/", "saml-provider/", "oidc-provider/", "report/", "access-report/",
)  # fmt: skip
TRUST_ACTIONS = frozenset(
    action.lower()
    for action in (
        "sts:AssumeRole", "sts:AssumeRoleWithSAML", "sts:AssumeRoleWithWebIdentity",
        "sts:DecodeAuthorizationMessage", "sts:GetAccessKeyInfo", "sts:GetCallerIdentity",
        "sts:GetFederationToken", "sts:GetServiceBearerToken", "sts:GetSessionToken",
        "sts:SetSourceIdentity", "sts:TagSession",
    )
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class KindRules:
    """What a kind of policy must and must not say."""

    principal: str  # "required" | "forbidden"
    resource: str  # "required" | "optional" | "forbidden"
    trust: bool = False


def syntax(reason: str) -> MalformedPolicyDocument:
    return MalformedPolicyDocument(text.SYNTAX_ERRORS, reason=reason)


def load(document: str | bytes | Mapping[str, Any]) -> Any:
    """Decode JSON text (or accept an already decoded mapping); non-JSON is a syntax error."""
    if isinstance(document, Mapping):
        return dict(document)
    try:
        return json.loads(document, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as error:
        raise syntax(f"not a JSON document: {error}") from None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def validate(raw: Any, rules: KindRules, *, require_current_version: bool = False) -> list[dict[str, Any]]:
    """Check a decoded document; return its statements (always a list) or raise MalformedPolicyDocument."""
    statements = _check_syntax(raw)
    if require_current_version and raw.get("Version") != CURRENT_VERSION:
        raise MalformedPolicyDocument(text.VERSION_TOO_OLD)
    resource_error = _check_legacy(statements)
    _check_sids(statements)
    for statement in statements:
        if not _present(statement, "Action") and not _present(statement, "NotAction"):
            raise MalformedPolicyDocument(text.MISSING_ACTIONS)
    if resource_error is not None:
        raise MalformedPolicyDocument(resource_error)
    for statement in statements:
        for action in _values(statement, "Action") + _values(statement, "NotAction"):
            _check_action(action)
    for statement in statements:
        _check_kind(statement, rules)
    return statements


def _check_syntax(raw: Any) -> list[dict[str, Any]]:
    if not isinstance(raw, dict):
        raise syntax("the document is not a JSON object")
    for key in raw:
        if key not in _TOP_KEYS:
            raise syntax(f"Unknown field {key}")
    if "Version" in raw and raw["Version"] not in VERSIONS:
        raise syntax(f"Version must be one of {sorted(VERSIONS)}")
    if "Id" in raw and not isinstance(raw["Id"], str):
        raise syntax("Id must be a string")
    body = raw.get("Statement")
    statements = [body] if isinstance(body, dict) else body
    if not isinstance(statements, list) or not statements:
        raise syntax("Statement must be an object or a non-empty list")
    for statement in statements:
        _check_statement_syntax(statement)
    return statements


def _check_statement_syntax(statement: Any) -> None:
    if not isinstance(statement, dict):
        raise syntax("a statement must be an object")
    for key in statement:
        if key not in _STATEMENT_KEYS:
            raise syntax(f"Unknown field {key}")
    for one, other in _PAIRS:
        if one in statement and other in statement:
            raise syntax(f"a statement cannot have both {one} and {other}")
    effect = statement.get("Effect")
    if not isinstance(effect, str) or effect.lower() not in ("allow", "deny"):
        raise syntax("Effect must be Allow or Deny")
    for key in ("Action", "NotAction", "Resource", "NotResource"):
        value = statement.get(key, "")
        items = value if isinstance(value, list) else [value]
        if not all(isinstance(item, str) for item in items):
            raise syntax(f"{key} must be a string or a list of strings")
    if "Sid" in statement and not isinstance(statement["Sid"], str):
        raise syntax("Sid must be a string")
    for key in ("Principal", "NotPrincipal"):
        if key in statement and not isinstance(statement[key], str | dict):
            raise syntax(f'{key} must be "*" or an object')
    if "Condition" in statement:
        _check_condition_syntax(statement["Condition"])


def _check_condition_syntax(condition: Any) -> None:
    if not isinstance(condition, dict):
        raise syntax("Condition must be an object")
    for operator, block in condition.items():
        if not isinstance(block, dict):
            raise syntax(f"the value of {operator} must be an object")
        for key, value in block.items():
            items = value if isinstance(value, list) else [value]
            if not key or not all(isinstance(item, str | bool | int | float) for item in items):
                raise syntax(f"{operator}/{key} must be a string, a number, a boolean or a list of them")
        if split_operator(operator)[1] not in BASE_OPERATORS and block:
            raise syntax(f"Unknown condition operator {operator}")


def _check_legacy(statements: list[dict[str, Any]]) -> str | None:
    """Effect spelling, dates and resource shapes; returns the first resource *format* error, if any."""
    resource_error: str | None = None
    for statement in statements:
        if statement["Effect"] not in ("Allow", "Deny"):
            raise MalformedPolicyDocument(text.LEGACY_PARSING, reason="Effect is case-sensitive")
        for operator, block in statement.get("Condition", {}).items():
            if split_operator(operator)[1].startswith("Date"):
                _check_dates(block)
    for statement in statements:
        for resource in _values(statement, "Resource") + _values(statement, "NotResource"):
            resource_error = resource_error or resource_format_error(resource)
            if resource_error is None and not _legacy_resource_ok(resource):
                raise MalformedPolicyDocument(text.LEGACY_PARSING, reason=f"Resource {resource}")
    return resource_error


def _check_dates(block: dict[str, Any]) -> None:
    for value in block.values():
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, bool) or (parse_date(str(item)) is None and not _huge_epoch(str(item))):
                raise MalformedPolicyDocument(text.LEGACY_PARSING, reason=f"invalid date {item!r}")


def _huge_epoch(value: str) -> bool:
    return value.isdigit() and int(value) <= MAX_EPOCH


def _legacy_resource_ok(resource: str) -> bool:
    if resource == "*":
        return True
    parts = resource.split(":")
    return (resource.count(":") >= 5 or "::" not in resource) and len(parts) > 2 and parts[2] != ""


def resource_format_error(resource: str) -> str | None:
    """AWS's complaint about a Resource value's shape, or None."""
    if resource == "*":
        return None
    _, colon, rest = resource.partition(":")
    if not colon:
        return f'Resource {resource} must be in ARN format or "*".'
    partition, colon, rest = rest.partition(":")
    if partition != "*" and partition not in PARTITIONS:
        return f'Partition "{partition}" is not valid for resource "arn:{partition}:{_fields(rest)}".'
    if not colon:
        return text.RESOURCE_VENDOR
    service, _, rest = rest.partition(":")
    region, _, rest = rest.partition(":")
    path = rest.partition(":")[2]
    if service == "iam" and region:
        return f"IAM resource {resource} cannot contain region information."
    if service == "s3" and region and not path.startswith("accesspoint/"):
        return f"Resource {resource} can not contain region information."
    if service == "iam" and not path.startswith(_IAM_PATHS) and path != "*":
        return f'IAM resource path must either be "*" or start with {", ".join(_IAM_PATHS)}.'
    return None


def _fields(rest: str) -> str:
    """The four ARN fields after the partition as IAM echoes them: missing ones become ``*``."""
    parts = rest.split(":")
    fields = [parts[0] if parts[0] or len(parts) > 1 else "*"]
    fields += [parts[1] if len(parts) > 1 else "*", parts[2] if len(parts) > 2 else "*"]
    fields.append(":".join(parts[3:]) if len(parts) > 3 else "*")
    return ":".join(fields)


def _check_sids(statements: list[dict[str, Any]]) -> None:
    seen: set[str] = set()
    for statement in statements:
        sid = statement.get("Sid")
        if sid and sid in seen:
            raise MalformedPolicyDocument(text.DUPLICATE_SID, reason=f"Sid {sid} appears twice")
        if sid:
            seen.add(sid)


def _check_action(action: str) -> None:
    parts = action.split(":")
    if len(parts) == 1 and parts[0] != "*":
        raise MalformedPolicyDocument(text.ACTION_VENDOR, reason=f"Invalid Action: {action}")
    if len(parts) > 2:
        raise MalformedPolicyDocument(text.ACTION_COLONS, reason=f"Invalid Action: {action}")
    if parts[0] != "*" and _VENDOR.search(parts[0]):
        raise MalformedPolicyDocument(f"Vendor {parts[0]} is not valid", reason=f"Invalid Action: {action}")


def _check_kind(statement: dict[str, Any], rules: KindRules) -> None:
    has_principal = "Principal" in statement or "NotPrincipal" in statement
    if rules.principal == "forbidden" and has_principal:
        raise MalformedPolicyDocument(text.PRINCIPAL_FORBIDDEN)
    if rules.principal == "required" and not has_principal:
        raise MalformedPolicyDocument(text.MISSING_PRINCIPAL)
    if has_principal:
        parse_principal(statement.get("Principal", statement.get("NotPrincipal")))
    has_resource = _present(statement, "Resource") or _present(statement, "NotResource")
    if rules.resource == "required" and not has_resource:
        raise MalformedPolicyDocument(text.MISSING_RESOURCES)
    if rules.resource == "forbidden" and ("Resource" in statement or "NotResource" in statement):
        raise MalformedPolicyDocument(text.RESOURCE_FORBIDDEN)
    if rules.trust:
        actions = [] if "NotAction" in statement else _values(statement, "Action")
        if not actions or any(action.lower() not in TRUST_ACTIONS for action in actions):
            raise MalformedPolicyDocument(text.TRUST_ACTIONS)


def _present(statement: dict[str, Any], key: str) -> bool:
    """A string (even empty, which later fails its format check) or a non-empty list."""
    return key in statement and statement[key] != []


def _values(statement: dict[str, Any], key: str) -> list[str]:
    value = statement.get(key)
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)
