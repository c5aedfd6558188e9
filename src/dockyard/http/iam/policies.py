"""IAM policies: inline policies of users, groups and roles; managed policies with their versions; the
attachments of managed policies to users, groups and roles."""

from __future__ import annotations

from functools import partial
from typing import Any

from dockyard.domain.identity import policy_arn
from dockyard.http.aws.endpoint import Handler
from dockyard.http.iam.base import IamHandlers
from dockyard.http.iam.shapes import encoded, page, policy_out, version_out
from dockyard.services.access import Caller

Params = dict[str, Any]
Output = dict[str, Any]
KINDS = {"User": "user", "Group": "group", "Role": "role"}
_SCOPES = {"All": "All", "AWS": "AWS", "Local": "Local"}


def _path_of(arn: str) -> str:
    """A managed policy's path from its ARN (``.../policy/service-role/X`` → ``/service-role/``)."""
    resource = arn.split(":", 5)[-1].removeprefix("policy")
    return resource.rsplit("/", 1)[0] + "/"


class PolicyHandlers(IamHandlers):
    OPERATIONS = (
        "CreatePolicy",
        "GetPolicy",
        "DeletePolicy",
        "ListPolicies",
        "CreatePolicyVersion",
        "GetPolicyVersion",
        "DeletePolicyVersion",
        "ListPolicyVersions",
        "SetDefaultPolicyVersion",
        "ListEntitiesForPolicy",
    )

    def handlers(self) -> dict[str, Handler[Caller]]:
        """The managed-policy operations, and the inline and attachment operations of each entity kind."""
        out = super().handlers()
        for name, kind in KINDS.items():
            out[f"Put{name}Policy"] = partial(self.put_inline, kind, name)
            out[f"Get{name}Policy"] = partial(self.get_inline, kind, name)
            out[f"Delete{name}Policy"] = partial(self.delete_inline, kind, name)
            out[f"List{name}Policies"] = partial(self.list_inline, kind, name)
            out[f"Attach{name}Policy"] = partial(self.attach, kind, name)
            out[f"Detach{name}Policy"] = partial(self.detach, kind, name)
            out[f"ListAttached{name}Policies"] = partial(self.list_attached, kind, name)
        return out

    # -- inline ---------------------------------------------------------------------------------------

    async def put_inline(self, kind: str, name: str, caller: Caller, params: Params) -> None:
        owner = params[f"{name}Name"]
        await self.authorize_on(caller, f"Put{name}Policy", kind, owner)
        await self.identity.put_inline(
            caller.account, kind, owner, params["PolicyName"], params["PolicyDocument"]
        )

    async def get_inline(self, kind: str, name: str, caller: Caller, params: Params) -> Output:
        owner, policy = params[f"{name}Name"], params["PolicyName"]
        await self.authorize_on(caller, f"Get{name}Policy", kind, owner)
        document = await self.identity.get_inline(caller.account, kind, owner, policy)
        return {f"{name}Name": owner, "PolicyName": policy, "PolicyDocument": encoded(document)}

    async def delete_inline(self, kind: str, name: str, caller: Caller, params: Params) -> None:
        owner = params[f"{name}Name"]
        await self.authorize_on(caller, f"Delete{name}Policy", kind, owner)
        await self.identity.delete_inline(caller.account, kind, owner, params["PolicyName"])

    async def list_inline(self, kind: str, name: str, caller: Caller, params: Params) -> Output:
        owner = params[f"{name}Name"]
        await self.authorize_on(caller, f"List{name}Policies", kind, owner)
        names = await self.identity.list_inline(caller.account, kind, owner)
        return page(names, params, "PolicyNames")

    # -- attachments ----------------------------------------------------------------------------------

    async def attach(self, kind: str, name: str, caller: Caller, params: Params) -> None:
        owner = params[f"{name}Name"]
        await self.authorize_on(caller, f"Attach{name}Policy", kind, owner)
        await self.identity.attach(caller.account, kind, owner, params["PolicyArn"])

    async def detach(self, kind: str, name: str, caller: Caller, params: Params) -> None:
        owner = params[f"{name}Name"]
        await self.authorize_on(caller, f"Detach{name}Policy", kind, owner)
        await self.identity.detach(caller.account, kind, owner, params["PolicyArn"])

    async def list_attached(self, kind: str, name: str, caller: Caller, params: Params) -> Output:
        owner = params[f"{name}Name"]
        await self.authorize_on(caller, f"ListAttached{name}Policies", kind, owner)
        prefix = params.get("PathPrefix", "/")
        attached = await self.identity.attached(caller.account, kind, owner)
        items = [
            {"PolicyName": policy, "PolicyArn": arn}
            for arn, policy in attached
            if _path_of(arn).startswith(prefix)
        ]
        return page(items, params, "AttachedPolicies")

    # -- managed policies -----------------------------------------------------------------------------

    async def create_policy(self, caller: Caller, params: Params) -> Output:
        name, path = params["PolicyName"], params.get("Path", "/")
        await self.authorize(caller, "CreatePolicy", policy_arn(caller.account, path, name))
        policy = await self.identity.create_policy(
            caller.account, name, params["PolicyDocument"], path, params.get("Description")
        )
        return {"Policy": policy_out(policy)}

    async def get_policy(self, caller: Caller, params: Params) -> Output:
        await self.authorize(caller, "GetPolicy", params["PolicyArn"])
        return {"Policy": policy_out(await self.identity.policy(caller.account, params["PolicyArn"]))}

    async def delete_policy(self, caller: Caller, params: Params) -> None:
        await self.authorize(caller, "DeletePolicy", params["PolicyArn"])
        await self.identity.delete_policy(caller.account, params["PolicyArn"])

    async def list_policies(self, caller: Caller, params: Params) -> Output:
        await self.authorize(caller, "ListPolicies")
        policies = await self.identity.policies.list_policies(
            caller.account,
            _SCOPES.get(params.get("Scope", "All"), "All"),
            bool(params.get("OnlyAttached", False)),
            params.get("PathPrefix", "/"),
        )
        return page([policy_out(policy) for policy in policies], params, "Policies")

    async def create_policy_version(self, caller: Caller, params: Params) -> Output:
        arn = params["PolicyArn"]
        await self.authorize(caller, "CreatePolicyVersion", arn)
        version = await self.identity.create_policy_version(
            caller.account, arn, params["PolicyDocument"], bool(params.get("SetAsDefault", False))
        )
        return {"PolicyVersion": version_out(version, with_document=False)}

    async def get_policy_version(self, caller: Caller, params: Params) -> Output:
        arn = params["PolicyArn"]
        await self.authorize(caller, "GetPolicyVersion", arn)
        version = await self.identity.policy_version(caller.account, arn, params["VersionId"])
        return {"PolicyVersion": version_out(version)}

    async def delete_policy_version(self, caller: Caller, params: Params) -> None:
        arn = params["PolicyArn"]
        await self.authorize(caller, "DeletePolicyVersion", arn)
        await self.identity.delete_policy_version(caller.account, arn, params["VersionId"])

    async def list_policy_versions(self, caller: Caller, params: Params) -> Output:
        arn = params["PolicyArn"]
        await self.authorize(caller, "ListPolicyVersions", arn)
        await self.identity.policy(caller.account, arn)
        versions = await self.identity.policies.list_versions(arn)
        return page([version_out(v, with_document=False) for v in versions], params, "Versions")

    async def set_default_policy_version(self, caller: Caller, params: Params) -> None:
        arn = params["PolicyArn"]
        await self.authorize(caller, "SetDefaultPolicyVersion", arn)
        await self.identity.set_default_version(caller.account, arn, params["VersionId"])

    async def list_entities_for_policy(self, caller: Caller, params: Params) -> Output:
        arn = params["PolicyArn"]
        await self.authorize(caller, "ListEntitiesForPolicy", arn)
        wanted = params.get("EntityFilter")
        found: dict[str, list[dict[str, str]]] = {"PolicyGroups": [], "PolicyUsers": [], "PolicyRoles": []}
        for kind, owner in await self.identity.entities_for_policy(caller.account, arn):
            if wanted not in (None, kind.capitalize()):
                continue
            entity = await self._entity(caller.account, kind, owner)
            if entity is not None:
                found[f"Policy{kind.capitalize()}s"].append(entity)
        return {**found, "IsTruncated": False}

    async def _entity(self, account: str, kind: str, name: str) -> dict[str, str] | None:
        store = self.identity.store
        if kind == "user":
            user = await store.get_user(account, name)
            return None if user is None else {"UserName": user.name, "UserId": user.user_id}
        if kind == "group":
            group = await store.get_group(account, name)
            return None if group is None else {"GroupName": group.name, "GroupId": group.group_id}
        role = await store.get_role(account, name)
        return None if role is None else {"RoleName": role.name, "RoleId": role.role_id}
