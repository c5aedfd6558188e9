"""ECR's lifecycle-policy operations: Put/Get/DeleteLifecyclePolicy, Start/GetLifecyclePolicyPreview.

Registered beside :class:`~dockyard.http.ecr.handlers.EcrHandlers`' operations (same rate limit and
authorization); parameters arrive validated against botocore's model, outputs are shaped by it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from dockyard.http.ecr.auth import EcrCaller
from dockyard.http.ecr.handlers import Operation, Output, Params
from dockyard.services.ecr import RegistryRef, parameter_error
from dockyard.services.ecr_tokens import PageTokens
from dockyard.services.ecr_types import EcrRepository
from dockyard.services.lifecycle import Lifecycle

DEFAULT_PAGE = 100
_OPERATION = "GetLifecyclePolicyPreview"


def _registry(caller: EcrCaller, params: Params) -> RegistryRef:
    return RegistryRef(caller.account, params.get("registryId"))


def _where(found: EcrRepository) -> Output:
    return {"registryId": found.account_id, "repositoryName": found.name}


class LifecycleHandlers:
    def __init__(self, lifecycle: Lifecycle, pages: PageTokens) -> None:
        self.lifecycle = lifecycle
        self.pages = pages

    def operations(self) -> dict[str, Operation]:
        return {
            "PutLifecyclePolicy": Operation(self.put, "repository"),
            "GetLifecyclePolicy": Operation(self.get, "repository"),
            "DeleteLifecyclePolicy": Operation(self.delete, "repository"),
            "StartLifecyclePolicyPreview": Operation(self.start_preview, "repository"),
            "GetLifecyclePolicyPreview": Operation(self.get_preview, "repository"),
        }

    async def put(self, caller: EcrCaller, params: Params) -> Output:
        text = params["lifecyclePolicyText"]
        found = await self.lifecycle.put(params["repositoryName"], _registry(caller, params), text)
        return {**_where(found), "lifecyclePolicyText": text}

    async def get(self, caller: EcrCaller, params: Params) -> Output:
        found, policy = await self.lifecycle.get(params["repositoryName"], _registry(caller, params))
        return {
            **_where(found),
            "lifecyclePolicyText": policy.text,
            "lastEvaluatedAt": policy.last_evaluated_at,
        }

    async def delete(self, caller: EcrCaller, params: Params) -> Output:
        found, policy = await self.lifecycle.delete(params["repositoryName"], _registry(caller, params))
        return {
            **_where(found),
            "lifecyclePolicyText": policy.text,
            "lastEvaluatedAt": policy.last_evaluated_at,
        }

    async def start_preview(self, caller: EcrCaller, params: Params) -> Output:
        name, registry = params["repositoryName"], _registry(caller, params)
        plan, status = await self.lifecycle.start_preview(name, registry, params.get("lifecyclePolicyText"))
        return {**_where(plan.repository), "lifecyclePolicyText": plan.text, "status": status}

    async def get_preview(self, caller: EcrCaller, params: Params) -> Output:
        found, preview = await self.lifecycle.get_preview(params["repositoryName"], _registry(caller, params))
        selected = _filtered(preview.results, params)
        scope = f"{found.account_id}/{found.name}"
        start = 0
        if params.get("nextToken"):
            try:
                start = int(self.pages.read(params["nextToken"], _OPERATION, scope))
            except ValueError:
                raise parameter_error("nextToken", "Invalid nextToken") from None
        limit = params.get("maxResults") or DEFAULT_PAGE
        page = selected[start : start + limit]
        more = start + limit < len(selected)
        return {
            **_where(found),
            "lifecyclePolicyText": preview.text,
            "status": preview.status,
            "nextToken": self.pages.issue(_OPERATION, scope, start + limit) if more else None,
            "previewResults": [_result(r) for r in page],
            "summary": {"expiringImageTotalCount": len(preview.results)},
        }


def _filtered(results: list[dict[str, Any]], params: Params) -> list[dict[str, Any]]:
    status = (params.get("filter") or {}).get("tagStatus", "ANY")
    if status == "TAGGED":
        results = [r for r in results if r["tags"]]
    elif status == "UNTAGGED":
        results = [r for r in results if not r["tags"]]
    ids = params.get("imageIds")
    if ids:
        digests = {i["imageDigest"] for i in ids if i.get("imageDigest")}
        tags = {i["imageTag"] for i in ids if i.get("imageTag")}
        results = [r for r in results if r["digest"] in digests or tags.intersection(r["tags"])]
    return results


def _result(row: dict[str, Any]) -> Output:
    return {
        "imageTags": row["tags"] or None,
        "imageDigest": row["digest"],
        "imagePushedAt": datetime.fromisoformat(row["pushed_at"]),
        "action": {"type": "EXPIRE"},
        "appliedRulePriority": row["rule"],
    }
