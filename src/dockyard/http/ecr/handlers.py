"""ECR operations: model-validated parameters in, a service call, a dict shaped by the output model out.

Each operation is served through :meth:`EcrHandlers.bound`: rate limit (per account and operation), then
authorization of its IAM action on each resource it touches, then the handler.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from dockyard.domain.records import Referrer
from dockyard.http.aws.endpoint import Handler
from dockyard.http.ecr.auth import Authorizer, EcrCaller
from dockyard.metadata.ecr_image_store import ImageIdRow, TagStatus
from dockyard.services.ecr import EcrRepositories, RegistryRef, check_policy, parameter_error, settings_from
from dockyard.services.ecr_images import EcrImages, PulledImage, artifact_media_type
from dockyard.services.ecr_layers import EcrLayers, LayerFailure, LayerState
from dockyard.services.ecr_limits import RateLimiter
from dockyard.services.ecr_types import (
    EcrRepository,
    ImageDetail,
    ImageFailure,
    ImageId,
    ImageRow,
    Mutability,
    Throttled,
)

Params = dict[str, Any]
Output = dict[str, Any]
Scope = Literal["repository", "repositories", "arn", "registry"]
# Operations whose IAM action is not ecr:<Operation> (AWS documents ListImageReferrers as BatchGetImage's).
ACTIONS = {"ListImageReferrers": "ecr:BatchGetImage"}
# (caller identity, account, repository, new policy text) -> may the caller still set the policy afterwards?
PolicyGuard = Callable[[Any, str, str, str], Awaitable[bool]]


@dataclass(frozen=True, slots=True)
class Operation:
    run: Callable[[EcrCaller, Params], Awaitable[Output | None]]
    scope: Scope


def _registry(caller: EcrCaller, params: Params) -> RegistryRef:
    return RegistryRef(caller.account, params.get("registryId"))


def _image_id(image_id: ImageId) -> Output:
    return {"imageDigest": image_id.digest, "imageTag": image_id.tag}


def _image_ids(params: Params) -> list[ImageId]:
    return [ImageId(i.get("imageDigest"), i.get("imageTag")) for i in params.get("imageIds", [])]


def _failure(failure: ImageFailure) -> Output:
    return {
        "imageId": _image_id(failure.image_id),
        "failureCode": failure.code,
        "failureReason": failure.reason,
    }


def _tags(pairs: list[tuple[str, str]]) -> list[Output]:
    return [{"Key": key, "Value": value} for key, value in pairs]


class EcrHandlers:
    def __init__(
        self,
        repositories: EcrRepositories,
        images: EcrImages,
        layers: EcrLayers,
        authorizer: Authorizer,
        limiter: RateLimiter,
        policy_guard: PolicyGuard | None = None,
        extra: Mapping[str, Operation] | None = None,
    ) -> None:
        self.extra = dict(extra or {})  # operations served by other handler classes (lifecycle)
        # DescribeImages' fields owned elsewhere (the scan summary), per image digest
        self.image_extras: Callable[[Sequence[ImageRow]], Awaitable[dict[str, Output]]] | None = None
        self.repositories = repositories
        self.images = images
        self.layers = layers
        self.authorizer = authorizer
        self.limiter = limiter
        self.policy_guard = policy_guard

    # -- dispatch -------------------------------------------------------------------------------------

    def operations(self) -> dict[str, Operation]:
        repo: Scope = "repository"
        return {
            "CreateRepository": Operation(self.create_repository, repo),
            "DescribeRepositories": Operation(self.describe_repositories, "repositories"),
            "DeleteRepository": Operation(self.delete_repository, repo),
            "PutImageTagMutability": Operation(self.put_image_tag_mutability, repo),
            "PutImageScanningConfiguration": Operation(self.put_image_scanning_configuration, repo),
            "SetRepositoryPolicy": Operation(self.set_repository_policy, repo),
            "GetRepositoryPolicy": Operation(self.get_repository_policy, repo),
            "DeleteRepositoryPolicy": Operation(self.delete_repository_policy, repo),
            "TagResource": Operation(self.tag_resource, "arn"),
            "UntagResource": Operation(self.untag_resource, "arn"),
            "ListTagsForResource": Operation(self.list_tags_for_resource, "arn"),
            "DescribeRegistry": Operation(self.describe_registry, "registry"),
            "PutRegistryPolicy": Operation(self.put_registry_policy, "registry"),
            "GetRegistryPolicy": Operation(self.get_registry_policy, "registry"),
            "DeleteRegistryPolicy": Operation(self.delete_registry_policy, "registry"),
            "GetAuthorizationToken": Operation(self.get_authorization_token, "registry"),
            "ListImages": Operation(self.list_images, repo),
            "DescribeImages": Operation(self.describe_images, repo),
            "BatchGetImage": Operation(self.batch_get_image, repo),
            "BatchDeleteImage": Operation(self.batch_delete_image, repo),
            "PutImage": Operation(self.put_image, repo),
            "ListImageReferrers": Operation(self.list_image_referrers, repo),
            "BatchCheckLayerAvailability": Operation(self.batch_check_layer_availability, repo),
            "GetDownloadUrlForLayer": Operation(self.get_download_url_for_layer, repo),
            "InitiateLayerUpload": Operation(self.initiate_layer_upload, repo),
            "UploadLayerPart": Operation(self.upload_layer_part, repo),
            "CompleteLayerUpload": Operation(self.complete_layer_upload, repo),
            **self.extra,
        }

    def handlers(self) -> dict[str, Handler[EcrCaller]]:
        return {name: self.bound(name, op) for name, op in self.operations().items()}

    def bound(self, name: str, op: Operation) -> Handler[EcrCaller]:
        action = ACTIONS.get(name, f"ecr:{name}")

        async def handle(caller: EcrCaller, params: Params) -> Mapping[str, Any] | None:
            if not await self.limiter.allow(caller.account, name):
                raise Throttled("Rate exceeded")
            for resource in self.resources(op.scope, caller, params):
                await self.authorizer(caller.identity, action, resource)
            return await op.run(caller, params)

        return handle

    def resources(self, scope: Scope, caller: EcrCaller, params: Params) -> list[str]:
        """The ARNs an operation is authorised on."""
        account = params.get("registryId") or caller.account
        if scope == "repository":
            return [self.repositories.arn(account, params["repositoryName"])]
        if scope == "repositories":
            names = params.get("repositoryNames") or ["*"]
            return [self.repositories.arn(account, name) for name in dict.fromkeys(names)]
        if scope == "arn":
            return [params["resourceArn"]]
        return ["*"]

    # -- output shapes --------------------------------------------------------------------------------

    def repository(self, found: EcrRepository) -> Output:
        settings = found.settings
        filters = [{"filterType": "WILDCARD", "filter": f} for f in settings.exclusion_filters]
        return {
            "repositoryArn": self.repositories.arn(found.account_id, found.name),
            "registryId": found.account_id,
            "repositoryName": found.name,
            "repositoryUri": self.repositories.uri(found.account_id, found.name),
            "createdAt": found.created_at,
            "imageTagMutability": settings.mutability.value,
            "imageTagMutabilityExclusionFilters": filters or None,
            "imageScanningConfiguration": {"scanOnPush": settings.scan_on_push},
            "encryptionConfiguration": {
                "encryptionType": settings.encryption_type,
                "kmsKey": settings.kms_key,
            },
        }

    @staticmethod
    def detail(found: EcrRepository, image: ImageDetail) -> Output:
        row = image.row
        return {
            "registryId": found.account_id,
            "repositoryName": found.name,
            "imageDigest": row.digest,
            "imageTags": list(image.tags) or None,
            "imageSizeInBytes": image.size,
            "imagePushedAt": row.pushed_at,
            "imageManifestMediaType": row.media_type,
            "artifactMediaType": artifact_media_type(row),
            "lastRecordedPullTime": image.last_pull,
            "subjectManifestDigest": row.subject,
        }

    @staticmethod
    def image(found: EcrRepository, image: PulledImage) -> Output:
        return {
            "registryId": found.account_id,
            "repositoryName": found.name,
            "imageId": _image_id(image.image_id),
            "imageManifest": image.record.content.decode("utf-8", errors="replace"),
            "imageManifestMediaType": image.record.media_type,
        }

    @staticmethod
    def where(found: EcrRepository) -> Output:
        return {"registryId": found.account_id, "repositoryName": found.name}

    # -- repositories ---------------------------------------------------------------------------------

    async def create_repository(self, caller: EcrCaller, params: Params) -> Output:
        account = params.get("registryId") or caller.account
        tags = [(t["Key"], t["Value"]) for t in params.get("tags", [])]
        created = await self.repositories.create(
            params["repositoryName"], account, settings_from(params), tags
        )
        return {"repository": self.repository(created)}

    async def describe_repositories(self, caller: EcrCaller, params: Params) -> Output:
        names = params.get("repositoryNames")
        if names:
            if "maxResults" in params or "nextToken" in params:
                raise parameter_error(
                    "maxResults", "maxResults and nextToken cannot be used with repositoryNames"
                )
            found = await self.repositories.describe(names, _registry(caller, params))
            return {"repositories": [self.repository(r) for r in found]}
        page = await self.repositories.page(
            _registry(caller, params), params.get("nextToken"), params.get("maxResults")
        )
        return {"repositories": [self.repository(r) for r in page.items], "nextToken": page.next_token}

    async def delete_repository(self, caller: EcrCaller, params: Params) -> Output:
        name, force = params["repositoryName"], bool(params.get("force", False))
        return {
            "repository": self.repository(
                await self.repositories.delete(name, _registry(caller, params), force)
            )
        }

    async def put_image_tag_mutability(self, caller: EcrCaller, params: Params) -> Output:
        filters = [f["filter"] for f in params.get("imageTagMutabilityExclusionFilters", [])]
        mutability = Mutability(params["imageTagMutability"])
        found = await self.repositories.set_mutability(
            params["repositoryName"], _registry(caller, params), mutability, filters
        )
        output = self.repository(found)
        keys = ("registryId", "repositoryName", "imageTagMutability", "imageTagMutabilityExclusionFilters")
        return {key: output[key] for key in keys}

    async def put_image_scanning_configuration(self, caller: EcrCaller, params: Params) -> Output:
        scan = bool(params["imageScanningConfiguration"].get("scanOnPush", False))
        found = await self.repositories.set_scan_on_push(
            params["repositoryName"], _registry(caller, params), scan
        )
        return {
            **self.where(found),
            "imageScanningConfiguration": {"scanOnPush": found.settings.scan_on_push},
        }

    async def set_repository_policy(self, caller: EcrCaller, params: Params) -> Output:
        """ECR's lock-out guard: without ``force``, a valid policy that would stop the caller from setting
        another one is refused."""
        text, name, registry = params["policyText"], params["repositoryName"], _registry(caller, params)
        await self.repositories.get(name, registry)
        check_policy(text, "repository")
        guard = self.policy_guard
        if (
            not params.get("force")
            and guard is not None
            and not await guard(caller.identity, registry.id, name, text)
        ):
            raise parameter_error(
                "policyText",
                "The repository policy would prevent you from setting a repository policy in the future; "
                "set force to apply it anyway",
            )
        found = await self.repositories.set_policy(name, registry, text)
        return {**self.where(found), "policyText": text}

    async def get_repository_policy(self, caller: EcrCaller, params: Params) -> Output:
        found, text = await self.repositories.policy(params["repositoryName"], _registry(caller, params))
        return {**self.where(found), "policyText": text}

    async def delete_repository_policy(self, caller: EcrCaller, params: Params) -> Output:
        found, text = await self.repositories.delete_policy(
            params["repositoryName"], _registry(caller, params)
        )
        return {**self.where(found), "policyText": text}

    async def tag_resource(self, caller: EcrCaller, params: Params) -> None:
        await self.repositories.tag(params["resourceArn"], [(t["Key"], t["Value"]) for t in params["tags"]])

    async def untag_resource(self, caller: EcrCaller, params: Params) -> None:
        await self.repositories.untag(params["resourceArn"], params["tagKeys"])

    async def list_tags_for_resource(self, caller: EcrCaller, params: Params) -> Output:
        return {"tags": _tags(await self.repositories.tags_of(params["resourceArn"]))}

    # -- registry -------------------------------------------------------------------------------------

    async def describe_registry(self, caller: EcrCaller, params: Params) -> Output:
        return {"registryId": caller.account, "replicationConfiguration": {"rules": []}}

    async def put_registry_policy(self, caller: EcrCaller, params: Params) -> Output:
        await self.repositories.put_registry_policy(caller.account, params["policyText"])
        return {"registryId": caller.account, "policyText": params["policyText"]}

    async def get_registry_policy(self, caller: EcrCaller, params: Params) -> Output:
        return {
            "registryId": caller.account,
            "policyText": await self.repositories.registry_policy(caller.account),
        }

    async def delete_registry_policy(self, caller: EcrCaller, params: Params) -> Output:
        text = await self.repositories.delete_registry_policy(caller.account)
        return {"registryId": caller.account, "policyText": text}

    async def get_authorization_token(self, caller: EcrCaller, params: Params) -> Output:
        accounts = params.get("registryIds") or [caller.account]
        found = self.repositories.authorization(accounts, caller.principal, caller.access_key_id)
        data = [
            {"authorizationToken": a.token, "expiresAt": a.expires_at, "proxyEndpoint": a.proxy_endpoint}
            for a in found
        ]
        return {"authorizationData": data}

    # -- images ---------------------------------------------------------------------------------------

    async def list_images(self, caller: EcrCaller, params: Params) -> Output:
        status, archived = _filters(params)
        _, page = await self.images.list_ids(
            params["repositoryName"],
            _registry(caller, params),
            status,
            params.get("nextToken"),
            params.get("maxResults"),
        )
        rows: list[ImageIdRow] = [] if archived else page.items
        return {"imageIds": [_image_id(ImageId(r.digest, r.tag)) for r in rows], "nextToken": page.next_token}

    async def describe_images(self, caller: EcrCaller, params: Params) -> Output:
        registry, name = _registry(caller, params), params["repositoryName"]
        if params.get("imageIds"):
            if "maxResults" in params or "nextToken" in params:
                raise parameter_error("imageIds", "maxResults and nextToken cannot be used with imageIds")
            found, details = await self.images.describe_ids(name, registry, _image_ids(params))
            return {"imageDetails": await self._details(found, details)}
        status, archived = _filters(params)
        found, page = await self.images.describe(
            name, registry, status, params.get("nextToken"), params.get("maxResults")
        )
        details = [] if archived else page.items
        return {"imageDetails": await self._details(found, details), "nextToken": page.next_token}

    async def _details(self, found: EcrRepository, details: Sequence[ImageDetail]) -> list[Output]:
        shown = [self.detail(found, d) for d in details]
        if self.image_extras is not None and details:
            extras = await self.image_extras([d.row for d in details])
            for output in shown:
                output.update(extras.get(output["imageDigest"], {}))
        return shown

    async def batch_get_image(self, caller: EcrCaller, params: Params) -> Output:
        found, images, failures = await self.images.batch_get(
            params["repositoryName"],
            _registry(caller, params),
            _image_ids(params),
            params.get("acceptedMediaTypes"),
        )
        return {"images": [self.image(found, i) for i in images], "failures": [_failure(f) for f in failures]}

    async def batch_delete_image(self, caller: EcrCaller, params: Params) -> Output:
        _, deleted, failures = await self.images.batch_delete(
            params["repositoryName"], _registry(caller, params), _image_ids(params)
        )
        return {"imageIds": [_image_id(i) for i in deleted], "failures": [_failure(f) for f in failures]}

    async def put_image(self, caller: EcrCaller, params: Params) -> Output:
        found, image = await self.images.put(
            params["repositoryName"],
            _registry(caller, params),
            params["imageManifest"],
            params.get("imageManifestMediaType"),
            params.get("imageTag"),
            params.get("imageDigest"),
        )
        return {"image": self.image(found, image)}

    async def list_image_referrers(self, caller: EcrCaller, params: Params) -> Output:
        filters = params.get("filter", {})
        _, page = await self.images.referrers(
            params["repositoryName"],
            _registry(caller, params),
            params["subjectId"]["imageDigest"],
            filters.get("artifactTypes", []),
            filters.get("artifactStatus", "ACTIVE"),
            params.get("nextToken"),
            params.get("maxResults"),
        )
        return {"referrers": [_referrer(r) for r in page.items], "nextToken": page.next_token}

    # -- layers ---------------------------------------------------------------------------------------

    async def batch_check_layer_availability(self, caller: EcrCaller, params: Params) -> Output:
        _, layers, failures = await self.layers.availability(
            params["repositoryName"], _registry(caller, params), params["layerDigests"]
        )
        return {
            "layers": [_layer(layer) for layer in layers],
            "failures": [_layer_failure(f) for f in failures],
        }

    async def get_download_url_for_layer(self, caller: EcrCaller, params: Params) -> Output:
        digest = params["layerDigest"]
        url = await self.layers.download_url(
            params["repositoryName"], _registry(caller, params), digest, caller.base_url
        )
        return {"downloadUrl": url, "layerDigest": digest}

    async def initiate_layer_upload(self, caller: EcrCaller, params: Params) -> Output:
        _, upload_id, part_size = await self.layers.initiate(
            params["repositoryName"], _registry(caller, params)
        )
        return {"uploadId": upload_id, "partSize": part_size}

    async def upload_layer_part(self, caller: EcrCaller, params: Params) -> Output:
        found, last = await self.layers.upload_part(
            params["repositoryName"],
            _registry(caller, params),
            params["uploadId"],
            params["partFirstByte"],
            params["partLastByte"],
            params["layerPartBlob"],
        )
        return {**self.where(found), "uploadId": params["uploadId"], "lastByteReceived": last}

    async def complete_layer_upload(self, caller: EcrCaller, params: Params) -> Output:
        found, digest = await self.layers.complete(
            params["repositoryName"], _registry(caller, params), params["uploadId"], params["layerDigests"]
        )
        return {**self.where(found), "uploadId": params["uploadId"], "layerDigest": digest}


def _filters(params: Params) -> tuple[TagStatus, bool]:
    """The tagStatus filter, and whether the imageStatus filter excludes every (active) image."""
    filters = params.get("filter", {})
    status: TagStatus = filters.get("tagStatus", "ANY")
    return status, filters.get("imageStatus") in ("ARCHIVED", "ACTIVATING")


def _referrer(found: Referrer) -> Output:
    return {
        "digest": found.digest,
        "mediaType": found.media_type,
        "artifactType": found.artifact_type,
        "size": found.size,
        "annotations": found.annotations or None,
        "artifactStatus": "ACTIVE",
    }


def _layer(layer: LayerState) -> Output:
    if layer.size is None:
        return {"layerDigest": layer.digest, "layerAvailability": "UNAVAILABLE"}
    return {"layerDigest": layer.digest, "layerAvailability": "AVAILABLE", "layerSize": layer.size}


def _layer_failure(failure: LayerFailure) -> Output:
    return {"layerDigest": failure.digest, "failureCode": failure.code, "failureReason": failure.reason}
