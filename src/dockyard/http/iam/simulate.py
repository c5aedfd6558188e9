"""SimulatePrincipalPolicy and SimulateCustomPolicy, answered by the same evaluator that authorises requests.

Each result names the statements that decided it (``MatchedStatements``: the policy's name and type, and
where the statement is in its document), so a user can see which policy allows a pull, or which explicit
deny refuses it; an implicit deny matches nothing, as on AWS.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from dockyard.domain.iam.context import Principal, RequestContext
from dockyard.domain.iam.evaluation import Decision, PolicyType, evaluate
from dockyard.domain.iam.policy import Policy, PolicyKind, parse_policy
from dockyard.domain.identity import InvalidInput, NoSuchEntity
from dockyard.http.iam.base import IamHandlers
from dockyard.http.iam.shapes import page
from dockyard.services.access import Caller

Params = dict[str, Any]
Output = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Source:
    """A policy under simulation, and how the simulator names it."""

    policy_id: str
    policy_type: str  # user | group | role | aws-managed | user-managed | resource | none
    document: str
    policy: Policy


class SimulationHandlers(IamHandlers):
    OPERATIONS = ("SimulatePrincipalPolicy", "SimulateCustomPolicy")

    async def simulate_principal_policy(self, caller: Caller, params: Params) -> Output:
        source_arn = params["PolicySourceArn"]
        await self.authorize(caller, "SimulatePrincipalPolicy", source_arn)
        principal, kind, name = await self._source_principal(caller.account, source_arn)
        named = await self.access.named_policies(caller.account, kind, name)
        sources = [Source(n.name, n.source, n.document, policy) for n, policy in named]
        sources += _inputs(params.get("PolicyInputList", []), PolicyKind.IDENTITY, "PolicyInputList")
        if params.get("CallerArn"):
            principal = _principal(params["CallerArn"])
        return _simulate(principal, sources, params)

    async def simulate_custom_policy(self, caller: Caller, params: Params) -> Output:
        await self.authorize(caller, "SimulateCustomPolicy")
        sources = _inputs(params["PolicyInputList"], PolicyKind.IDENTITY, "PolicyInputList")
        arn = params.get("CallerArn") or f"arn:aws:iam::{caller.account}:user/SimulatedUser"
        return _simulate(_principal(arn), sources, params)

    async def _source_principal(self, account: str, arn: str) -> tuple[Principal, str, str]:
        parts = arn.split(":", 5)
        resource = parts[5] if len(parts) == 6 and parts[4] == account and parts[2] == "iam" else ""
        kind, _, rest = resource.partition("/")
        name = rest.rsplit("/", 1)[-1]
        store = self.identity.store
        if kind == "user" and (user := await store.get_user(account, name)) is not None:
            return (
                Principal.user(account, name, path=user.path, userid=user.user_id, tags=user.tags),
                kind,
                name,
            )
        if kind == "role" and (role := await store.get_role(account, name)) is not None:
            principal = Principal.role(account, name, path=role.path, role_id=role.role_id, tags=role.tags)
            return principal, kind, name
        if kind == "group" and (group := await store.get_group(account, name)) is not None:
            return Principal.user(account, name, path=group.path, userid=group.group_id), kind, name
        raise NoSuchEntity(f"The entity {arn} cannot be found.")


def _principal(arn: str) -> Principal:
    try:
        return Principal.from_arn(arn)
    except ValueError:
        raise InvalidInput(f"Invalid CallerArn: {arn}") from None


def _inputs(documents: Sequence[str], kind: PolicyKind, label: str) -> list[Source]:
    return [
        Source(f"{label}.{index}", "none", document, parse_policy(document, kind))
        for index, document in enumerate(documents, 1)
    ]


def _simulate(principal: Principal, sources: list[Source], params: Params) -> Output:
    resource_sources = []
    if params.get("ResourcePolicy"):
        document = params["ResourcePolicy"]
        resource_sources = [
            Source("ResourcePolicy", "resource", document, parse_policy(document, PolicyKind.RESOURCE))
        ]
    boundaries = _inputs(
        params.get("PermissionsBoundaryPolicyInputList", []), PolicyKind.IDENTITY, "Boundary"
    )
    keys = {
        entry["ContextKeyName"]: entry.get("ContextKeyValues", [])
        for entry in params.get("ContextEntries", [])
    }
    results = []
    for action in params["ActionNames"]:
        for resource in params.get("ResourceArns") or ["*"]:
            context = RequestContext(
                principal, action, resource, resource_account=params.get("ResourceOwner"), keys=keys
            )
            decision = evaluate(
                context,
                [source.policy for source in sources],
                [source.policy for source in resource_sources],
                permissions_boundary=boundaries[0].policy if boundaries else None,
            )
            by_type = {
                PolicyType.IDENTITY: sources,
                PolicyType.RESOURCE: resource_sources,
                PolicyType.BOUNDARY: boundaries,
            }
            results.append(_result(action, resource, decision, by_type))
    return page(results, params, "EvaluationResults")


def _result(
    action: str, resource: str, decision: Decision, by_type: dict[PolicyType, list[Source]]
) -> dict[str, Any]:
    if decision.allowed:
        verdict = "allowed"
    elif decision.reason.explicit:
        verdict = "explicitDeny"
    else:
        verdict = "implicitDeny"
    matched = []
    for statement in decision.statements:
        candidates = by_type.get(statement.policy_type, [])
        if statement.policy_index >= len(candidates):
            continue
        source = candidates[statement.policy_index]
        entry: dict[str, Any] = {"SourcePolicyId": source.policy_id, "SourcePolicyType": source.policy_type}
        spans = statement_spans(source.document)
        if statement.statement_index < len(spans):
            entry["StartPosition"], entry["EndPosition"] = spans[statement.statement_index]
        matched.append(entry)
    return {
        "EvalActionName": action,
        "EvalResourceName": resource,
        "EvalDecision": verdict,
        "MatchedStatements": matched,
        "MissingContextValues": [],
    }


Position = dict[str, int]


def statement_spans(text: str) -> list[tuple[Position, Position]]:
    """Where each statement of a policy document starts and ends (1-based line and column), or nothing
    when the text cannot be read that way."""
    try:
        offsets = _statement_offsets(text)
    except (ValueError, IndexError):
        return []
    return [(_position(text, start), _position(text, end)) for start, end in offsets]


def _statement_offsets(text: str) -> list[tuple[int, int]]:
    decoder = json.JSONDecoder()
    at = _skip(text, 0)
    if text[at] != "{":
        return []
    at += 1
    while True:
        at = _skip(text, at)
        if text[at] == "}":
            return []
        key, at = decoder.raw_decode(text, at)
        at = _skip(text, _skip(text, at) + 1)  # past the colon
        if key == "Statement":
            return _elements(text, at, decoder)
        _, at = decoder.raw_decode(text, at)
        at = _skip(text, at)
        if text[at] == ",":
            at += 1


def _elements(text: str, at: int, decoder: json.JSONDecoder) -> list[tuple[int, int]]:
    if text[at] != "[":
        _, end = decoder.raw_decode(text, at)
        return [(at, end)]
    spans: list[tuple[int, int]] = []
    at += 1
    while True:
        at = _skip(text, at)
        if text[at] == "]":
            return spans
        _, end = decoder.raw_decode(text, at)
        spans.append((at, end))
        at = _skip(text, end)
        if text[at] == ",":
            at += 1


def _skip(text: str, at: int) -> int:
    while text[at] in " \t\r\n":
        at += 1
    return at


def _position(text: str, offset: int) -> Position:
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return {"Line": line, "Column": column}
