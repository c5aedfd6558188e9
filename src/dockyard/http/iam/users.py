"""IAM users, their access keys, and groups with their members."""

from __future__ import annotations

from typing import Any

from dockyard.domain.identity import iam_arn
from dockyard.http.aws.errors import AwsError
from dockyard.http.iam.base import IamHandlers
from dockyard.http.iam.shapes import access_key_out, group_out, page, tags_in, user_out
from dockyard.services.access import Caller

Params = dict[str, Any]
Output = dict[str, Any]


class UserHandlers(IamHandlers):
    OPERATIONS = (
        "CreateUser",
        "GetUser",
        "ListUsers",
        "DeleteUser",
        "CreateAccessKey",
        "ListAccessKeys",
        "UpdateAccessKey",
        "DeleteAccessKey",
        "CreateGroup",
        "GetGroup",
        "ListGroups",
        "DeleteGroup",
        "AddUserToGroup",
        "RemoveUserFromGroup",
        "ListGroupsForUser",
    )

    # -- users ----------------------------------------------------------------------------------------

    async def create_user(self, caller: Caller, params: Params) -> Output:
        name, path = params["UserName"], params.get("Path", "/")
        await self.authorize(caller, "CreateUser", iam_arn(caller.account, "user", path, name))
        user = await self.identity.create_user(caller.account, name, path, tags_in(params))
        return {"User": user_out(user, with_tags=True)}

    async def get_user(self, caller: Caller, params: Params) -> Output:
        name = params.get("UserName") or caller.principal.username
        if name is None and caller.is_root:
            arn = caller.principal.arn
            await self.authorize(caller, "GetUser", arn)
            created = (await self.identity.account(caller.account)).created_at
            return {"User": {"Path": "/", "UserId": caller.account, "Arn": arn, "CreateDate": created}}
        if name is None:
            raise AwsError("ValidationError", "Must specify userName when calling with non-User credentials")
        await self.authorize_on(caller, "GetUser", "user", name)
        return {"User": user_out(await self.identity.user(caller.account, name), with_tags=True)}

    async def list_users(self, caller: Caller, params: Params) -> Output:
        await self.authorize(caller, "ListUsers")
        users = await self.identity.store.list_users(caller.account, params.get("PathPrefix", "/"))
        return page([user_out(user) for user in users], params, "Users")

    async def delete_user(self, caller: Caller, params: Params) -> None:
        await self.authorize_on(caller, "DeleteUser", "user", params["UserName"])
        await self.identity.user(caller.account, params["UserName"])
        await self.identity.delete_user(caller.account, params["UserName"])

    # -- access keys ----------------------------------------------------------------------------------

    async def create_access_key(self, caller: Caller, params: Params) -> Output:
        owner = await self.key_owner(caller, params, "CreateAccessKey")
        issued = await self.identity.create_access_key(caller.account, owner)
        return {"AccessKey": access_key_out(issued.key, issued.secret)}

    async def list_access_keys(self, caller: Caller, params: Params) -> Output:
        owner = await self.key_owner(caller, params, "ListAccessKeys")
        keys = await self.identity.list_access_keys(caller.account, owner)
        return page([access_key_out(key) for key in keys], params, "AccessKeyMetadata")

    async def update_access_key(self, caller: Caller, params: Params) -> None:
        owner = await self.key_owner(caller, params, "UpdateAccessKey")
        await self.identity.update_access_key(caller.account, owner, params["AccessKeyId"], params["Status"])

    async def delete_access_key(self, caller: Caller, params: Params) -> None:
        owner = await self.key_owner(caller, params, "DeleteAccessKey")
        await self.identity.delete_access_key(caller.account, owner, params["AccessKeyId"])

    # -- groups ---------------------------------------------------------------------------------------

    async def create_group(self, caller: Caller, params: Params) -> Output:
        name, path = params["GroupName"], params.get("Path", "/")
        await self.authorize(caller, "CreateGroup", iam_arn(caller.account, "group", path, name))
        return {"Group": group_out(await self.identity.create_group(caller.account, name, path))}

    async def get_group(self, caller: Caller, params: Params) -> Output:
        name = params["GroupName"]
        await self.authorize_on(caller, "GetGroup", "group", name)
        group = await self.identity.group(caller.account, name)
        members = await self.identity.store.group_members(caller.account, name)
        return {"Group": group_out(group), **page([user_out(user) for user in members], params, "Users")}

    async def list_groups(self, caller: Caller, params: Params) -> Output:
        await self.authorize(caller, "ListGroups")
        groups = await self.identity.store.list_groups(caller.account, params.get("PathPrefix", "/"))
        return page([group_out(group) for group in groups], params, "Groups")

    async def delete_group(self, caller: Caller, params: Params) -> None:
        await self.authorize_on(caller, "DeleteGroup", "group", params["GroupName"])
        await self.identity.group(caller.account, params["GroupName"])
        await self.identity.delete_group(caller.account, params["GroupName"])

    async def add_user_to_group(self, caller: Caller, params: Params) -> None:
        await self.authorize_on(caller, "AddUserToGroup", "group", params["GroupName"])
        await self.identity.add_user_to_group(caller.account, params["GroupName"], params["UserName"])

    async def remove_user_from_group(self, caller: Caller, params: Params) -> None:
        await self.authorize_on(caller, "RemoveUserFromGroup", "group", params["GroupName"])
        await self.identity.remove_user_from_group(caller.account, params["GroupName"], params["UserName"])

    async def list_groups_for_user(self, caller: Caller, params: Params) -> Output:
        name = params["UserName"]
        await self.authorize_on(caller, "ListGroupsForUser", "user", name)
        await self.identity.user(caller.account, name)
        groups = await self.identity.store.groups_for_user(caller.account, name)
        return page([group_out(group) for group in groups], params, "Groups")
