"""The IAM policy language: a validated document parsed into frozen values.

``parse_policy(document, kind)`` accepts JSON text or an already decoded mapping. Kinds:

- ``identity``: attached to users, groups and roles (and used as permissions boundaries and session
  policies). ``Principal`` is forbidden; ``Resource`` (or ``NotResource``) is required.
- ``resource``: attached to a resource, such as an ECR repository policy. ``Principal`` (or
  ``NotPrincipal``) is required; ``Resource`` may be omitted and then means the resource the policy is
  attached to.
- ``trust``: a role's trust policy. ``Principal`` is required, ``Resource`` is forbidden, and actions are
  limited to the STS actions a trust policy can grant.

``Version`` may be ``2012-10-17``, ``2008-10-17`` or absent; only ``2012-10-17`` substitutes policy
variables (elsewhere ``${aws:username}`` is literal text). ``require_current_version`` makes anything but
``2012-10-17`` an error, as IAM's CreatePolicy does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from dockyard.domain.iam.conditions import BASE_OPERATORS, Condition, split_operator
from dockyard.domain.iam.principals import PrincipalSpec, parse_principal
from dockyard.domain.iam.validation import CURRENT_VERSION, KindRules, load, validate


class PolicyKind(StrEnum):
    IDENTITY = "identity"
    RESOURCE = "resource"
    TRUST = "trust"


class Effect(StrEnum):
    ALLOW = "Allow"
    DENY = "Deny"


_RULES = {
    PolicyKind.IDENTITY: KindRules(principal="forbidden", resource="required"),
    PolicyKind.RESOURCE: KindRules(principal="required", resource="optional"),
    PolicyKind.TRUST: KindRules(principal="required", resource="forbidden", trust=True),
}


@dataclass(frozen=True, slots=True)
class ValueSet:
    """``Action``/``NotAction`` or ``Resource``/``NotResource``: the patterns, and whether it is a Not."""

    values: tuple[str, ...]
    negated: bool = False


@dataclass(frozen=True, slots=True)
class Statement:
    effect: Effect
    action: ValueSet
    resource: ValueSet | None = None  # None: the resource the (resource-based) policy is attached to
    principal: PrincipalSpec | None = None  # None in identity-based policies
    conditions: tuple[Condition, ...] = ()
    sid: str | None = None


@dataclass(frozen=True, slots=True)
class Policy:
    statements: tuple[Statement, ...]
    kind: PolicyKind = PolicyKind.IDENTITY
    version: str | None = None
    id: str | None = None

    @property
    def variables_enabled(self) -> bool:
        return self.version == CURRENT_VERSION


def parse_policy(
    document: str | bytes | Mapping[str, Any],
    kind: PolicyKind | str = PolicyKind.IDENTITY,
    *,
    require_current_version: bool = False,
) -> Policy:
    """Validate and parse a policy document; raises ``MalformedPolicyDocument`` with AWS's wording."""
    kind = PolicyKind(kind)
    raw = load(document)
    statements = validate(raw, _RULES[kind], require_current_version=require_current_version)
    return Policy(
        statements=tuple(_statement(statement) for statement in statements),
        kind=kind,
        version=raw.get("Version"),
        id=raw.get("Id"),
    )


def _statement(raw: dict[str, Any]) -> Statement:
    resource = None
    if "Resource" in raw or "NotResource" in raw:
        resource = _value_set(raw, "Resource")
    principal = None
    if "Principal" in raw or "NotPrincipal" in raw:
        negated = "NotPrincipal" in raw
        principal = parse_principal(raw["NotPrincipal" if negated else "Principal"], negated=negated)
    return Statement(
        effect=Effect(raw["Effect"]),
        action=_value_set(raw, "Action"),
        resource=resource,
        principal=principal,
        conditions=_conditions(raw.get("Condition", {})),
        sid=raw.get("Sid"),
    )


def _value_set(raw: dict[str, Any], element: str) -> ValueSet:
    negated = f"Not{element}" in raw
    value = raw[f"Not{element}" if negated else element]
    return ValueSet(tuple([value] if isinstance(value, str) else value), negated)


def _conditions(raw: dict[str, dict[str, Any]]) -> tuple[Condition, ...]:
    conditions: list[Condition] = []
    for operator, block in raw.items():
        qualifier, base, if_exists = split_operator(operator)
        if base not in BASE_OPERATORS:
            continue  # an unknown operator with an empty block: IAM accepts and ignores it
        for key, value in block.items():
            values = tuple(_condition_text(item) for item in (value if isinstance(value, list) else [value]))
            conditions.append(Condition(operator, base, key, values, qualifier, if_exists))
    return tuple(conditions)


def _condition_text(value: str | bool | float) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
