"""Manifest use cases: push (validate, check references, tag), pull, delete, referrers."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from dockyard.domain.digest import Digest, is_digest
from dockyard.domain.errors import DigestInvalid, ManifestUnknown, NameUnknown, TagImmutable
from dockyard.domain.manifest import parse_manifest
from dockyard.domain.records import ManifestRecord, NewManifest, Referrer, Repository
from dockyard.domain.reference import TAG_PATTERN, validate_name, validate_tag
from dockyard.ports import TagRules
from dockyard.services.registry import RegistryService

PullListener = Callable[[str, str, str], Awaitable[None]]  # (account, repository, digest), after a read
# (account, repository, digest, media type), after a manifest is stored (e.g. scan on push)
PushListener = Callable[[str, Repository, str, str], Awaitable[None]]
log = logging.getLogger("dockyard.manifests")


def immutable_tag_message(tag: str, repository: str) -> str:
    """ECR's text, which docker prints after "tag invalid: " and PutImage sends as it is."""
    return (
        f"The image tag '{tag}' already exists in the '{repository}' repository and cannot be overwritten "
        "because the repository is immutable."
    )


@dataclass(frozen=True, slots=True)
class PushedManifest:
    digest: str
    subject: str | None


class ManifestService:
    def __init__(self, registry: RegistryService) -> None:
        self._registry = registry
        self._store = registry.store
        self.tag_rules: TagRules | None = None  # set by the ECR control plane (tag immutability)
        self.pull_listeners: list[PullListener] = []  # e.g. ECR's lastRecordedPullTime
        self.push_listeners: list[PushListener] = []

    async def put(
        self, account: str, name: str, reference: str, body: bytes, content_type: str | None
    ) -> PushedManifest:
        """Store ``body`` under ``reference`` (a tag or the body's own digest)."""
        validate_name(name)
        tag: str | None = None
        if is_digest(reference):
            claimed = Digest.parse(reference)
            digest = Digest.of(body, claimed.algorithm)
            if digest != claimed:
                raise DigestInvalid("manifest digest did not match the reference", digest=reference)
        else:
            tag = validate_tag(reference)
            digest = Digest.of(body)
        parsed = parse_manifest(body, content_type)
        repository = await self._registry.repository_for_push(account, name)
        subject = None if parsed.subject is None else str(parsed.subject.digest)
        record = ManifestRecord(
            digest=str(digest),
            media_type=parsed.media_type,
            content=body,
            artifact_type=parsed.artifact_type,
            subject=subject,
            annotations=parsed.annotations,
        )
        new = NewManifest(
            record=record,
            blob_references=tuple(str(d) for d in parsed.blob_references),
            manifest_references=tuple(str(d) for d in parsed.manifest_references),
            tag=tag,
        )
        await self._store_manifest(name, repository, new)
        for listener in self.push_listeners:
            try:
                await listener(account, repository, str(digest), parsed.media_type)
            except Exception:  # the push has succeeded; what follows it must not undo that
                log.exception("push listener failed", extra={"digest": str(digest)})
        return PushedManifest(str(digest), subject)

    async def _store_manifest(self, name: str, repository: Repository, new: NewManifest) -> None:
        tag = new.tag
        rules = self.tag_rules
        immutable = tag is not None and rules is not None and await rules.is_immutable(repository.id, tag)
        try:
            await self._store.put_manifest(repository.id, new, immutable_tag=immutable)
        except TagImmutable:
            assert tag is not None
            raise TagImmutable(immutable_tag_message(tag, name), tag=tag) from None

    async def get(self, account: str, name: str, reference: str) -> ManifestRecord:
        validate_name(name)
        if is_digest(reference):
            record = await self._store.get_manifest(account, name, str(Digest.parse(reference)))
        elif TAG_PATTERN.match(reference):
            record = await self._store.get_tagged_manifest(account, name, reference)
        else:
            record = None  # a tag that breaks the grammar can never have been pushed
        if record is None:
            await self._registry.repository(account, name)
            raise ManifestUnknown("manifest unknown", reference=reference)
        for listener in self.pull_listeners:
            await listener(account, name, record.digest)
        return record

    async def delete(self, account: str, name: str, reference: str) -> None:
        """Delete by digest removes the manifest and its tags; delete by tag removes only the tag."""
        repository = await self._registry.repository(account, name)
        if is_digest(reference):
            deleted = await self._store.delete_manifest(repository.id, str(Digest.parse(reference)))
        elif TAG_PATTERN.match(reference):
            deleted = await self._store.delete_tag(repository.id, reference)
        else:
            deleted = False
        if not deleted:
            raise ManifestUnknown("manifest unknown", reference=reference)

    async def referrers(
        self, account: str, name: str, subject: Digest, artifact_type: str | None
    ) -> list[Referrer]:
        try:
            repository = await self._registry.repository(account, name)
        except NameUnknown:
            return []
        found = await self._store.list_referrers(repository.id, str(subject))
        if artifact_type is not None:
            found = [r for r in found if r.artifact_type == artifact_type]
        return found
