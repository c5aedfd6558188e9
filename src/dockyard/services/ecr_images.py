"""ECR's image use cases over the one model of an image the ``/v2/`` API also serves: ListImages,
DescribeImages, BatchGetImage, BatchDeleteImage, PutImage, ListImageReferrers, and pull times.

``BatchDeleteImage`` by tag removes the image with its last tag (ECR); ``DELETE /v2/<name>/manifests/<tag>``
only untags (OCI). A pull (a manifest read over either API) refreshes ``lastRecordedPullTime`` at most once
a day per image: a process remembers what it recorded, so most pulls touch no database at all.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from cachetools import LRUCache

from dockyard.domain.digest import Digest
from dockyard.domain.errors import (
    DigestInvalid,
    ManifestBlobUnknown,
    ManifestInvalid,
    ManifestTooLarge,
    Unsupported,
)
from dockyard.domain.manifest import DOCKER_MANIFEST, base_media_type
from dockyard.domain.records import ManifestRecord, Referrer
from dockyard.domain.reference import TAG_PATTERN
from dockyard.metadata.ecr_image_store import EcrImageStore, ImageIdRow, TagStatus
from dockyard.ports import Clock
from dockyard.services.ecr import EcrRepositories, RegistryRef, parameter_error
from dockyard.services.ecr_tokens import PageTokens
from dockyard.services.ecr_types import (
    EcrRepository,
    ImageAlreadyExists,
    ImageDetail,
    ImageDigestMismatch,
    ImageFailure,
    ImageId,
    ImageNotFound,
    ImageRow,
    LayersNotFound,
    Page,
    ReferencedImagesNotFound,
)
from dockyard.services.manifests import ManifestService

log = logging.getLogger("dockyard.ecr")
DEFAULT_PAGE = 100
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
PULL_INTERVAL = timedelta(days=1)
NOT_FOUND = "Requested image not found"


class PullRecorder:
    """``lastRecordedPullTime``: written at most once a day per image, read at most once a day per process."""

    def __init__(self, store: EcrImageStore, clock: Clock, remembered: int = 100_000) -> None:
        self._store = store
        self._clock = clock
        self._seen: LRUCache[tuple[str, str, str], datetime] = LRUCache(remembered)

    async def __call__(self, account: str, repository: str, digest: str) -> None:
        now = self._clock.now()
        key = (account, repository, digest)
        last = self._seen.get(key)
        if last is not None and now - last < PULL_INTERVAL:
            return
        try:
            recorded = await self._store.pull_time(account, repository, digest)
            if recorded is None or now - recorded >= PULL_INTERVAL:
                await self._store.record_pull(account, repository, digest, now, now - PULL_INTERVAL)
                recorded = now
            self._seen[key] = recorded
        except Exception:  # a pull never fails for want of its statistics
            log.exception("recording a pull failed", extra={"repository": repository})


@dataclass(frozen=True, slots=True)
class Resolved:
    found: list[tuple[ImageId, ImageRow]]
    failures: list[ImageFailure]


@dataclass(frozen=True, slots=True)
class PulledImage:
    image_id: ImageId
    record: ManifestRecord


def artifact_media_type(row: ImageRow) -> str | None:
    """ECR's ``artifactMediaType``: the artifact type, else the config's media type (none for an index)."""
    if row.artifact_type:
        return row.artifact_type
    return DOCKER_CONFIG if row.media_type == DOCKER_MANIFEST else None


def _check_id(image_id: ImageId) -> ImageFailure | None:
    if image_id.digest is None and image_id.tag is None:
        reason = "Invalid request parameters: both tag and digest cannot be null"
        return ImageFailure(image_id, "MissingDigestAndTag", reason)
    if image_id.digest is not None:
        try:
            Digest.parse(image_id.digest)
        except (DigestInvalid, Unsupported):
            reason = (
                f"Invalid request parameters: image digest '{image_id.digest[:200]}' is not a valid digest"
            )
            return ImageFailure(image_id, "InvalidImageDigest", reason)
    if image_id.tag is not None and not TAG_PATTERN.match(image_id.tag):
        reason = f"Invalid request parameters: image tag '{image_id.tag[:300]}' is not a valid tag"
        return ImageFailure(image_id, "InvalidImageTag", reason)
    return None


class EcrImages:
    def __init__(
        self,
        repositories: EcrRepositories,
        store: EcrImageStore,
        manifests: ManifestService,
        pages: PageTokens,
        pulls: PullRecorder,
    ) -> None:
        self.repositories = repositories
        self.store = store
        self.manifests = manifests
        self.pages = pages
        self.pulls = pulls

    # -- resolving image ids --------------------------------------------------------------------------

    async def resolve(self, repository: EcrRepository, ids: Sequence[ImageId]) -> Resolved:
        """The images ``ids`` name (each once), and a failure for each id that names none."""
        unique = list(dict.fromkeys(ids))
        failures = [failure for i in unique if (failure := _check_id(i)) is not None]
        valid = [i for i in unique if _check_id(i) is None]
        by_tag = await self.store.images_by_tag(repository.id, {i.tag for i in valid if i.tag})
        by_digest = await self.store.images_by_digest(
            repository.id, {i.digest for i in valid if i.digest and not i.tag}
        )
        found = []
        for image_id in valid:
            row = by_tag.get(image_id.tag) if image_id.tag else by_digest.get(str(image_id.digest))
            if row is None:
                failures.append(ImageFailure(image_id, "ImageNotFound", NOT_FOUND))
            elif image_id.digest is not None and image_id.digest != row.digest:
                reason = "Invalid request parameters: given tag does not map to the given digest"
                failures.append(ImageFailure(image_id, "ImageTagDoesNotMatchDigest", reason))
            else:
                found.append((image_id, row))
        return Resolved(found, failures)

    # -- listings -------------------------------------------------------------------------------------

    def _after(self, token: str | None, operation: str, repository: EcrRepository) -> object:
        if token is None:
            return None
        try:
            return self.pages.read(token, operation, str(repository.id))
        except ValueError:
            raise parameter_error("nextToken", "Invalid NextToken") from None

    async def list_ids(
        self, name: str, registry: RegistryRef, status: TagStatus, token: str | None, limit: int | None
    ) -> tuple[EcrRepository, Page[ImageIdRow]]:
        repository = await self.repositories.get(name, registry)
        after = self._after(token, "ListImages", repository)
        if after is not None and not (isinstance(after, list) and len(after) == 2):
            raise parameter_error("nextToken", "Invalid NextToken")
        size = limit or DEFAULT_PAGE
        start = None if after is None else (int(after[0]), str(after[1]))
        rows = await self.store.image_id_page(repository.id, start, size + 1, status)
        if len(rows) <= size:
            return repository, Page(rows)
        rows = rows[:size]
        position = [rows[-1].manifest_id, rows[-1].tag or ""]
        return repository, Page(rows, self.pages.issue("ListImages", str(repository.id), position))

    async def describe(
        self,
        name: str,
        registry: RegistryRef,
        status: TagStatus,
        token: str | None,
        limit: int | None,
    ) -> tuple[EcrRepository, Page[ImageDetail]]:
        repository = await self.repositories.get(name, registry)
        after = self._after(token, "DescribeImages", repository)
        if after is not None and not isinstance(after, int):
            raise parameter_error("nextToken", "Invalid NextToken")
        size = limit or DEFAULT_PAGE
        rows = await self.store.image_page(repository.id, after, size + 1, status)
        next_token = None
        if len(rows) > size:
            rows = rows[:size]
            next_token = self.pages.issue("DescribeImages", str(repository.id), rows[-1].id)
        return repository, Page(await self.details(repository, rows), next_token)

    async def describe_ids(
        self, name: str, registry: RegistryRef, ids: Sequence[ImageId]
    ) -> tuple[EcrRepository, list[ImageDetail]]:
        repository = await self.repositories.get(name, registry)
        resolved = await self.resolve(repository, ids)
        for failure in resolved.failures:
            if failure.code != "ImageNotFound":
                raise parameter_error("imageIds", failure.reason)
            shown = failure.image_id
            raise ImageNotFound(
                f"The image with imageId {{imageDigest:'{shown.digest or 'null'}', "
                f"imageTag:'{shown.tag or 'null'}'}} does not "
                f"exist within the repository with name '{name}' in the registry with id "
                f"'{repository.account_id}'"
            )
        rows = list({row.id: row for _, row in resolved.found}.values())
        return repository, await self.details(repository, rows)

    async def details(self, repository: EcrRepository, rows: Sequence[ImageRow]) -> list[ImageDetail]:
        facts = await self.store.image_facts(repository.id, [row.id for row in rows])
        return [
            ImageDetail(
                row, tuple(facts.tags.get(row.id, ())), facts.sizes.get(row.id, 0), facts.pulls.get(row.id)
            )
            for row in rows
        ]

    # -- pulls, deletes, pushes -----------------------------------------------------------------------

    async def batch_get(
        self, name: str, registry: RegistryRef, ids: Sequence[ImageId], accepted: Sequence[str] | None
    ) -> tuple[EcrRepository, list[PulledImage], list[ImageFailure]]:
        repository = await self.repositories.get(name, registry)
        resolved = await self.resolve(repository, ids)
        images, failures = [], list(resolved.failures)
        wanted = None if not accepted else {t.lower() for t in accepted}
        for image_id, row in resolved.found:
            if wanted is not None and row.media_type not in wanted:
                reason = (
                    f"The image's manifest media type {row.media_type} is not among the accepted media types"
                )
                failures.append(ImageFailure(image_id, "ImageNotFound", reason))
                continue
            record = await self.manifests.get(repository.account_id, name, row.digest)
            images.append(PulledImage(ImageId(row.digest, image_id.tag), record))
        return repository, images, failures

    async def batch_delete(
        self, name: str, registry: RegistryRef, ids: Sequence[ImageId]
    ) -> tuple[EcrRepository, list[ImageId], list[ImageFailure]]:
        repository = await self.repositories.get(name, registry)
        deleted: list[ImageId] = []
        failures = [failure for i in dict.fromkeys(ids) if (failure := _check_id(i)) is not None]
        for image_id in dict.fromkeys(i for i in ids if _check_id(i) is None):
            failure = await self._delete_one(repository, image_id, deleted)
            if failure is not None:
                failures.append(failure)
        return repository, deleted, failures

    async def _delete_one(
        self, repository: EcrRepository, image_id: ImageId, deleted: list[ImageId]
    ) -> ImageFailure | None:
        if image_id.tag is not None:
            if image_id.digest is not None:
                row = (await self.store.images_by_tag(repository.id, [image_id.tag])).get(image_id.tag)
                if row is not None and row.digest != image_id.digest:
                    reason = "Invalid request parameters: given tag does not map to the given digest"
                    return ImageFailure(image_id, "ImageTagDoesNotMatchDigest", reason)
            outcome = await self.store.delete_image_tag(repository.id, image_id.tag)
        else:
            outcome = await self.store.delete_image(repository.id, str(image_id.digest))
        if not outcome.found:
            return ImageFailure(image_id, "ImageNotFound", NOT_FOUND)
        if outcome.referenced_by:
            reason = f"Requested image referenced by manifest list: [{', '.join(outcome.referenced_by)}]"
            return ImageFailure(image_id, "ImageReferencedByManifestList", reason)
        deleted.extend(ImageId(outcome.digest, tag) for tag in outcome.tags)
        if not outcome.tags:
            deleted.append(ImageId(outcome.digest))
        return None

    async def put(
        self,
        name: str,
        registry: RegistryRef,
        manifest: str,
        media_type: str | None,
        tag: str | None,
        digest: str | None,
    ) -> tuple[EcrRepository, PulledImage]:
        repository = await self.repositories.get(name, registry)
        body = manifest.encode()
        actual = self._check_digest(body, digest)
        await self._check_existing(repository, actual, tag)
        try:
            await self.manifests.put(
                repository.account_id, name, tag or actual, body, self._content_type(media_type)
            )
        except ManifestBlobUnknown as exc:
            raise self._missing(repository, exc) from None
        except (ManifestInvalid, ManifestTooLarge) as exc:
            raise parameter_error("imageManifest", exc.text) from None
        record = await self.manifests.get(repository.account_id, name, actual)
        return repository, PulledImage(ImageId(actual, tag), record)

    @staticmethod
    def _check_digest(body: bytes, claimed: str | None) -> str:
        if claimed is None:
            return str(Digest.of(body))
        try:
            parsed = Digest.parse(claimed)
        except (DigestInvalid, Unsupported):
            raise parameter_error("imageDigest", "Invalid image digest") from None
        actual = Digest.of(body, parsed.algorithm)
        if actual != parsed:
            raise ImageDigestMismatch(
                f"The provided image digest '{claimed}' does not match the digest of the manifest '{actual}'"
            )
        return str(actual)

    @staticmethod
    def _content_type(media_type: str | None) -> str | None:
        return base_media_type(media_type) if media_type else None

    async def _check_existing(self, repository: EcrRepository, digest: str, tag: str | None) -> None:
        """ECR's ImageAlreadyExistsException; an immutable tag is refused by the manifest push itself."""
        if tag is not None:
            row = (await self.store.images_by_tag(repository.id, [tag])).get(tag)
            if (
                row is None
                or row.digest != digest
                or await self.repositories.is_immutable(repository.id, tag)
            ):
                return
            shown = f"Image with digest '{digest}' and tag '{tag}'"
        else:
            if not await self.store.images_by_digest(repository.id, [digest]):
                return
            shown = f"Image with digest '{digest}'"
        raise ImageAlreadyExists(
            f"{shown} already exists in the repository with name '{repository.name}' in registry with id "
            f"'{repository.account_id}'"
        )

    @staticmethod
    def _missing(repository: EcrRepository, exc: ManifestBlobUnknown) -> Exception:
        digest = exc.detail.get("digest")
        where = f"repository with name '{repository.name}' in registry with id '{repository.account_id}'"
        if exc.detail.get("kind") == "manifest":
            return ReferencedImagesNotFound(
                f"Images with digests '[{digest}]' referenced by the manifest list "
                f"do not exist in the {where}"
            )
        return LayersNotFound(
            f"Layers with digests '[{digest}]' required for pushing image into {where} do not exist"
        )

    async def referrers(
        self,
        name: str,
        registry: RegistryRef,
        subject: str,
        artifact_types: Sequence[str],
        status: str,
        token: str | None,
        limit: int | None,
    ) -> tuple[EcrRepository, Page[Referrer]]:
        repository = await self.repositories.get(name, registry)
        try:
            parsed = Digest.parse(subject)
        except (DigestInvalid, Unsupported):
            raise parameter_error("subjectId.imageDigest", "Invalid image digest") from None
        start = self._after(token, f"ListImageReferrers {subject}", repository) or 0
        if not isinstance(start, int):
            raise parameter_error("nextToken", "Invalid NextToken")
        found = (
            []
            if status in ("ARCHIVED", "ACTIVATING")
            else await self.manifests.referrers(repository.account_id, name, parsed, None)
        )
        if artifact_types:
            found = [r for r in found if r.artifact_type in set(artifact_types)]
        size = limit or 50
        page = found[start : start + size]
        more = start + size < len(found)
        next_token = (
            self.pages.issue(f"ListImageReferrers {subject}", str(repository.id), start + size)
            if more
            else None
        )
        return repository, Page(page, next_token)
