"""IAM roles with their trust policies, and the OpenID Connect providers web identities come through."""

from __future__ import annotations

from typing import Any

from dockyard.domain.identity import iam_arn, oidc_provider_arn
from dockyard.http.iam.base import IamHandlers
from dockyard.http.iam.shapes import page, role_out, tags_in
from dockyard.services.access import Caller

Params = dict[str, Any]
Output = dict[str, Any]


class RoleHandlers(IamHandlers):
    OPERATIONS = (
        "CreateRole",
        "GetRole",
        "ListRoles",
        "DeleteRole",
        "UpdateAssumeRolePolicy",
        "CreateOpenIDConnectProvider",
        "GetOpenIDConnectProvider",
        "ListOpenIDConnectProviders",
        "DeleteOpenIDConnectProvider",
        "AddClientIDToOpenIDConnectProvider",
        "RemoveClientIDFromOpenIDConnectProvider",
        "UpdateOpenIDConnectProviderThumbprint",
    )

    # -- roles ----------------------------------------------------------------------------------------

    async def create_role(self, caller: Caller, params: Params) -> Output:
        name, path = params["RoleName"], params.get("Path", "/")
        await self.authorize(caller, "CreateRole", iam_arn(caller.account, "role", path, name))
        role = await self.identity.create_role(
            caller.account,
            name,
            params["AssumeRolePolicyDocument"],
            path,
            params.get("Description"),
            params.get("MaxSessionDuration", 3600),
            tags_in(params),
        )
        return {"Role": role_out(role, with_tags=True)}

    async def get_role(self, caller: Caller, params: Params) -> Output:
        await self.authorize_on(caller, "GetRole", "role", params["RoleName"])
        return {
            "Role": role_out(await self.identity.role(caller.account, params["RoleName"]), with_tags=True)
        }

    async def list_roles(self, caller: Caller, params: Params) -> Output:
        await self.authorize(caller, "ListRoles")
        roles = await self.identity.store.list_roles(caller.account, params.get("PathPrefix", "/"))
        return page([role_out(role) for role in roles], params, "Roles")

    async def delete_role(self, caller: Caller, params: Params) -> None:
        await self.authorize_on(caller, "DeleteRole", "role", params["RoleName"])
        await self.identity.role(caller.account, params["RoleName"])
        await self.identity.delete_role(caller.account, params["RoleName"])

    async def update_assume_role_policy(self, caller: Caller, params: Params) -> None:
        await self.authorize_on(caller, "UpdateAssumeRolePolicy", "role", params["RoleName"])
        await self.identity.update_trust_policy(caller.account, params["RoleName"], params["PolicyDocument"])

    # -- OpenID Connect providers ---------------------------------------------------------------------

    async def create_open_id_connect_provider(self, caller: Caller, params: Params) -> Output:
        url = params["Url"]
        await self.authorize(caller, "CreateOpenIDConnectProvider", oidc_provider_arn(caller.account, url))
        provider = await self.identity.create_oidc_provider(
            caller.account, url, params.get("ClientIDList", []), params.get("ThumbprintList", [])
        )
        return {"OpenIDConnectProviderArn": provider.arn}

    async def get_open_id_connect_provider(self, caller: Caller, params: Params) -> Output:
        arn = params["OpenIDConnectProviderArn"]
        await self.authorize(caller, "GetOpenIDConnectProvider", arn)
        provider = await self.identity.oidc_provider(caller.account, arn)
        return {
            "Url": provider.url,
            "ClientIDList": list(provider.client_ids),
            "ThumbprintList": list(provider.thumbprints),
            "CreateDate": provider.created_at,
        }

    async def list_open_id_connect_providers(self, caller: Caller, params: Params) -> Output:
        await self.authorize(caller, "ListOpenIDConnectProviders")
        providers = await self.identity.list_oidc_providers(caller.account)
        return {"OpenIDConnectProviderList": [{"Arn": provider.arn} for provider in providers]}

    async def delete_open_id_connect_provider(self, caller: Caller, params: Params) -> None:
        arn = params["OpenIDConnectProviderArn"]
        await self.authorize(caller, "DeleteOpenIDConnectProvider", arn)
        await self.identity.delete_oidc_provider(caller.account, arn)

    async def add_client_id_to_open_id_connect_provider(self, caller: Caller, params: Params) -> None:
        arn = params["OpenIDConnectProviderArn"]
        await self.authorize(caller, "AddClientIDToOpenIDConnectProvider", arn)
        await self.identity.set_oidc_client_ids(caller.account, arn, add=params["ClientID"], remove=None)

    async def remove_client_id_from_open_id_connect_provider(self, caller: Caller, params: Params) -> None:
        arn = params["OpenIDConnectProviderArn"]
        await self.authorize(caller, "RemoveClientIDFromOpenIDConnectProvider", arn)
        await self.identity.set_oidc_client_ids(caller.account, arn, add=None, remove=params["ClientID"])

    async def update_open_id_connect_provider_thumbprint(self, caller: Caller, params: Params) -> None:
        arn = params["OpenIDConnectProviderArn"]
        await self.authorize(caller, "UpdateOpenIDConnectProviderThumbprint", arn)
        await self.identity.set_oidc_thumbprints(caller.account, arn, params["ThumbprintList"])
