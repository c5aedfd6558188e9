"""ECR Public operations: model-validated parameters in, a service call, a dict shaped by the output model.

Each operation is authorised first with its IAM action ``ecr-public:<Op>`` on the resource it touches (a
public repository ARN, the registry ARN, or ``*``); GetAuthorizationToken also needs
``sts:GetServiceBearerToken``, as on AWS.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from dockyard.http.aws.endpoint import Handler
from dockyard.http.ecr.auth import Authorizer, EcrCaller
from dockyard.http.ecr.handlers import PolicyGuard
from dockyard.services.ecr import check_policy, parameter_error
from dockyard.services.ecr_images import artifact_media_type
from dockyard.services.ecr_public import EcrPublic, TagDetail
from dockyard.services.ecr_public_types import CatalogData, PublicRegistry, PublicRepository
from dockyard.services.ecr_types import ImageDetail, ImageId, ImageRow

Params = dict[str, Any]
Output = dict[str, Any]
Scope = Literal["repository", "repositories", "arn", "registry", "any"]
EXTRA_ACTIONS = {"GetAuthorizationToken": ("sts:GetServiceBearerToken",)}


@dataclass(frozen=True, slots=True)
class Operation:
    run: Callable[[EcrCaller, Params], Awaitable[Output | None]]
    scope: Scope


def _account(caller: EcrCaller, params: Params) -> str:
    return str(params.get("registryId") or caller.account)


def catalog_input(params: Params) -> CatalogData:
    """``RepositoryCatalogDataInput`` as catalog data; the logo is not kept (see the README)."""
    given = params.get("catalogData") or {}
    if "logoImageBlob" in given:
        raise parameter_error("catalogData.logoImageBlob", "logo images are not supported by this registry")
    architectures, systems = given.get("architectures"), given.get("operatingSystems")
    return CatalogData(
        given.get("description"),
        given.get("aboutText"),
        given.get("usageText"),
        None if architectures is None else tuple(architectures),
        None if systems is None else tuple(systems),
    )


def catalog_output(catalog: CatalogData) -> Output:
    return {
        "description": catalog.description,
        "aboutText": catalog.about_text,
        "usageText": catalog.usage_text,
        "architectures": None if catalog.architectures is None else list(catalog.architectures),
        "operatingSystems": None if catalog.operating_systems is None else list(catalog.operating_systems),
        "marketplaceCertified": False,
    }


def _referenced(row: ImageRow, size: int) -> Output:
    return {
        "imageDigest": row.digest,
        "imageSizeInBytes": size,
        "imagePushedAt": row.pushed_at,
        "imageManifestMediaType": row.media_type,
        "artifactMediaType": artifact_media_type(row),
    }


class EcrPublicHandlers:
    def __init__(self, public: EcrPublic, authorizer: Authorizer, policy_guard: PolicyGuard | None = None):
        self.public = public
        self.authorizer = authorizer
        self.policy_guard = policy_guard

    def operations(self) -> dict[str, Operation]:
        repo: Scope = "repository"
        return {
            "CreateRepository": Operation(self.create_repository, repo),
            "DescribeRepositories": Operation(self.describe_repositories, "repositories"),
            "DeleteRepository": Operation(self.delete_repository, repo),
            "GetAuthorizationToken": Operation(self.get_authorization_token, "any"),
            "PutRepositoryCatalogData": Operation(self.put_repository_catalog_data, repo),
            "GetRepositoryCatalogData": Operation(self.get_repository_catalog_data, repo),
            "DescribeImages": Operation(self.describe_images, repo),
            "DescribeImageTags": Operation(self.describe_image_tags, repo),
            "PutRegistryCatalogData": Operation(self.put_registry_catalog_data, "registry"),
            "GetRegistryCatalogData": Operation(self.get_registry_catalog_data, "registry"),
            "DescribeRegistries": Operation(self.describe_registries, "any"),
            "SetRepositoryPolicy": Operation(self.set_repository_policy, repo),
            "GetRepositoryPolicy": Operation(self.get_repository_policy, repo),
            "DeleteRepositoryPolicy": Operation(self.delete_repository_policy, repo),
            "TagResource": Operation(self.tag_resource, "arn"),
            "UntagResource": Operation(self.untag_resource, "arn"),
            "ListTagsForResource": Operation(self.list_tags_for_resource, "arn"),
        }

    def handlers(self) -> dict[str, Handler[EcrCaller]]:
        return {name: self.bound(name, op) for name, op in self.operations().items()}

    def bound(self, name: str, op: Operation) -> Handler[EcrCaller]:
        actions = (f"ecr-public:{name}", *EXTRA_ACTIONS.get(name, ()))

        async def handle(caller: EcrCaller, params: Params) -> Mapping[str, Any] | None:
            for resource in self.resources(op.scope, caller, params):
                for action in actions:
                    await self.authorizer(caller.identity, action, resource)
            return await op.run(caller, params)

        return handle

    def resources(self, scope: Scope, caller: EcrCaller, params: Params) -> list[str]:
        account = _account(caller, params)
        if scope == "repository":
            return [self.public.arn(account, params["repositoryName"])]
        if scope == "repositories":
            names = params.get("repositoryNames") or ["*"]
            return [self.public.arn(account, name) for name in dict.fromkeys(names)]
        if scope == "arn":
            return [params["resourceArn"]]
        if scope == "registry":
            return [self.public.registry_arn(account)]
        return ["*"]

    # -- output shapes --------------------------------------------------------------------------------

    def repository(self, found: PublicRepository) -> Output:
        return {
            "repositoryArn": self.public.arn(found.account_id, found.name),
            "registryId": found.account_id,
            "repositoryName": found.name,
            "repositoryUri": self.public.uri(found.alias, found.name),
            "createdAt": found.created_at,
        }

    @staticmethod
    def detail(found: PublicRepository, image: ImageDetail) -> Output:
        return {
            "registryId": found.account_id,
            "repositoryName": found.name,
            "imageTags": list(image.tags) or None,
            **_referenced(image.row, image.size),
        }

    @staticmethod
    def tag_detail(detail: TagDetail) -> Output:
        row = detail.row
        return {
            "imageTag": row.tag,
            "createdAt": row.updated_at,
            "imageDetail": _referenced(row.image, detail.size),
        }

    def registry(self, found: PublicRegistry) -> Output:
        alias = {
            "name": found.alias,
            "status": "ACTIVE",
            "primaryRegistryAlias": True,
            "defaultRegistryAlias": True,
        }
        return {
            "registryId": found.account_id,
            "registryArn": self.public.registry_arn(found.account_id),
            "registryUri": self.public.uri(found.alias),
            "verified": False,
            "aliases": [alias],
        }

    @staticmethod
    def where(found: PublicRepository) -> Output:
        return {"registryId": found.account_id, "repositoryName": found.name}

    # -- repositories ---------------------------------------------------------------------------------

    async def create_repository(self, caller: EcrCaller, params: Params) -> Output:
        tags = [(t["Key"], t["Value"]) for t in params.get("tags", [])]
        created = await self.public.create(
            caller.account, params["repositoryName"], catalog_input(params), tags
        )
        return {"repository": self.repository(created), "catalogData": catalog_output(created.catalog)}

    async def describe_repositories(self, caller: EcrCaller, params: Params) -> Output:
        account, names = _account(caller, params), params.get("repositoryNames")
        if names:
            if "maxResults" in params or "nextToken" in params:
                raise parameter_error(
                    "maxResults", "maxResults and nextToken cannot be used with repositoryNames"
                )
            return {"repositories": [self.repository(r) for r in await self.public.describe(account, names)]}
        if account == caller.account:
            await self.public.registry(account)  # first use makes the registry
        page = await self.public.page(account, params.get("nextToken"), params.get("maxResults"))
        return {"repositories": [self.repository(r) for r in page.items], "nextToken": page.next_token}

    async def delete_repository(self, caller: EcrCaller, params: Params) -> Output:
        deleted = await self.public.delete(
            _account(caller, params), params["repositoryName"], bool(params.get("force", False))
        )
        return {"repository": self.repository(deleted)}

    async def put_repository_catalog_data(self, caller: EcrCaller, params: Params) -> Output:
        found = await self.public.put_catalog(
            _account(caller, params), params["repositoryName"], catalog_input(params)
        )
        return {"catalogData": catalog_output(found.catalog)}

    async def get_repository_catalog_data(self, caller: EcrCaller, params: Params) -> Output:
        found = await self.public.get(_account(caller, params), params["repositoryName"])
        return {"catalogData": catalog_output(found.catalog)}

    # -- registry -------------------------------------------------------------------------------------

    async def get_authorization_token(self, caller: EcrCaller, params: Params) -> Output:
        await self.public.registry(caller.account)
        token, expires = self.public.authorization(caller.account, caller.principal, caller.access_key_id)
        return {"authorizationData": {"authorizationToken": token, "expiresAt": expires}}

    async def put_registry_catalog_data(self, caller: EcrCaller, params: Params) -> Output:
        found = await self.public.registry(caller.account)
        if "displayName" in params:
            found = await self.public.put_display_name(caller.account, params["displayName"])
        return {"registryCatalogData": {"displayName": found.display_name}}

    async def get_registry_catalog_data(self, caller: EcrCaller, params: Params) -> Output:
        found = await self.public.registry(caller.account)
        return {"registryCatalogData": {"displayName": found.display_name}}

    async def describe_registries(self, caller: EcrCaller, params: Params) -> Output:
        if params.get("nextToken") is not None:
            raise parameter_error("nextToken", "Invalid NextToken")
        return {"registries": [self.registry(await self.public.registry(caller.account))]}

    # -- repository policy ----------------------------------------------------------------------------

    async def set_repository_policy(self, caller: EcrCaller, params: Params) -> Output:
        """ECR's lock-out guard: without ``force``, a policy that would stop the caller from setting
        another one is refused."""
        text, name, account = params["policyText"], params["repositoryName"], _account(caller, params)
        await self.public.get(account, name)
        check_policy(text, "repository")
        guard = self.policy_guard
        if (
            not params.get("force")
            and guard is not None
            and not await guard(caller.identity, account, name, text)
        ):
            raise parameter_error(
                "policyText",
                "The repository policy would prevent you from setting a repository policy in the future; "
                "set force to apply it anyway",
            )
        found = await self.public.set_policy(account, name, text)
        return {**self.where(found), "policyText": text}

    async def get_repository_policy(self, caller: EcrCaller, params: Params) -> Output:
        found, text = await self.public.policy(_account(caller, params), params["repositoryName"])
        return {**self.where(found), "policyText": text}

    async def delete_repository_policy(self, caller: EcrCaller, params: Params) -> Output:
        found, text = await self.public.delete_policy(_account(caller, params), params["repositoryName"])
        return {**self.where(found), "policyText": text}

    # -- resource tags --------------------------------------------------------------------------------

    async def tag_resource(self, caller: EcrCaller, params: Params) -> None:
        await self.public.tag(params["resourceArn"], [(t["Key"], t["Value"]) for t in params["tags"]])

    async def untag_resource(self, caller: EcrCaller, params: Params) -> None:
        await self.public.untag(params["resourceArn"], params["tagKeys"])

    async def list_tags_for_resource(self, caller: EcrCaller, params: Params) -> Output:
        found = await self.public.tags_of(params["resourceArn"])
        return {"tags": [{"Key": key, "Value": value} for key, value in found]}

    # -- images ---------------------------------------------------------------------------------------

    async def describe_images(self, caller: EcrCaller, params: Params) -> Output:
        account, name = _account(caller, params), params["repositoryName"]
        if params.get("imageIds"):
            if "maxResults" in params or "nextToken" in params:
                raise parameter_error("imageIds", "maxResults and nextToken cannot be used with imageIds")
            ids = [ImageId(i.get("imageDigest"), i.get("imageTag")) for i in params["imageIds"]]
            found, details = await self.public.describe_image_ids(account, name, ids)
            return {"imageDetails": [self.detail(found, d) for d in details]}
        found, page = await self.public.describe_images(
            account, name, params.get("nextToken"), params.get("maxResults")
        )
        return {"imageDetails": [self.detail(found, d) for d in page.items], "nextToken": page.next_token}

    async def describe_image_tags(self, caller: EcrCaller, params: Params) -> Output:
        _, page = await self.public.image_tags(
            _account(caller, params),
            params["repositoryName"],
            params.get("nextToken"),
            params.get("maxResults"),
        )
        return {"imageTagDetails": [self.tag_detail(d) for d in page.items], "nextToken": page.next_token}
