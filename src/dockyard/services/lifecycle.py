"""Lifecycle policies, the use case: put/get/delete a repository's policy, preview it, run it.

A preview and a run share one path (:meth:`Lifecycle.plan`: the repository's image facts, then the pure
evaluator of :mod:`dockyard.domain.lifecycle`), so a preview says exactly what a run at that instant does.
A run deletes through BatchDeleteImage's delete and records one event per expired image in the same
transaction (:class:`~dockyard.metadata.lifecycle_store.LifecycleStore`); the blobs left unreferenced are
the garbage collector's to reclaim. An image a running ECS task uses (``in_use``) is never expired.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from dockyard.domain.lifecycle import DEFAULT_ORPHAN_GRACE, Expiry, evaluate, parse_policy
from dockyard.metadata.lifecycle_store import (
    ExpiryRun,
    LifecycleEvent,
    LifecycleStore,
    StoredPolicy,
    StoredPreview,
)
from dockyard.ports import Clock
from dockyard.services.ecr import EcrRepositories, RegistryRef
from dockyard.services.ecr_types import EcrError, EcrRepository

log = logging.getLogger("dockyard.lifecycle")

Progress = Callable[[int, int], None]  # (images done, images to do)
InUse = Callable[[str, str], Awaitable[frozenset[str]]]


class LifecyclePolicyNotFound(EcrError):
    pass


class LifecyclePreviewNotFound(EcrError):
    pass


@dataclass(frozen=True, slots=True)
class LifecycleConfig:
    allow_keep_rules: bool = False  # the dockyardKeepRules extension
    orphan_grace: timedelta = DEFAULT_ORPHAN_GRACE


@dataclass(frozen=True, slots=True)
class Plan:
    repository: EcrRepository
    text: str
    expiries: list[Expiry]
    at: datetime


@dataclass(frozen=True, slots=True)
class RunReport:
    plan: Plan
    expired: list[Expiry]
    run_id: str


def preview_results(expiries: Sequence[Expiry]) -> list[dict[str, object]]:
    return [
        {
            "digest": e.digest,
            "tags": list(e.tags),
            "pushed_at": e.pushed_at.isoformat(),
            "rule": e.rule_priority,
        }
        for e in expiries
    ]


class Lifecycle:
    def __init__(
        self, repositories: EcrRepositories, store: LifecycleStore, clock: Clock, config: LifecycleConfig
    ) -> None:
        self.repositories = repositories
        self.store = store
        self.clock = clock
        self.config = config
        # (account, repository) -> digests running tasks use (ECS): never expired; None: none are
        self.in_use: InUse | None = None

    # -- the policy -----------------------------------------------------------------------------------

    def check(self, text: str) -> None:
        """:class:`~dockyard.domain.lifecycle.LifecyclePolicyInvalid` unless ECR (and this server's
        extensions) accept ``text``."""
        parse_policy(text, allow_keep_rules=self.config.allow_keep_rules)

    async def put(self, name: str, registry: RegistryRef, text: str) -> EcrRepository:
        repository = await self.repositories.get(name, registry)
        self.check(text)
        await self.store.put_policy(repository.id, text)
        return repository

    async def get(self, name: str, registry: RegistryRef) -> tuple[EcrRepository, StoredPolicy]:
        repository = await self.repositories.get(name, registry)
        found = await self.store.policy(repository.id)
        if found is None:
            raise self._no_policy(name, registry)
        return repository, found

    async def delete(self, name: str, registry: RegistryRef) -> tuple[EcrRepository, StoredPolicy]:
        repository = await self.repositories.get(name, registry)
        found = await self.store.delete_policy(repository.id)
        if found is None:
            raise self._no_policy(name, registry)
        return repository, found

    @staticmethod
    def _no_policy(name: str, registry: RegistryRef) -> LifecyclePolicyNotFound:
        return LifecyclePolicyNotFound(
            f"Lifecycle policy does not exist for the repository with name '{name}' "
            f"in the registry with id '{registry.id}'"
        )

    # -- previews -------------------------------------------------------------------------------------

    async def start_preview(self, name: str, registry: RegistryRef, text: str | None) -> tuple[Plan, str]:
        """Evaluate ``text`` (the stored policy when ``None``) now and keep the result; (plan, status)."""
        plan = await self.plan(name, registry, text)
        results = preview_results(plan.expiries)
        await self.store.save_preview(
            plan.repository.id, StoredPreview(plan.text, "COMPLETE", results, plan.at)
        )
        return plan, "COMPLETE"

    async def get_preview(self, name: str, registry: RegistryRef) -> tuple[EcrRepository, StoredPreview]:
        repository = await self.repositories.get(name, registry)
        found = await self.store.preview(repository.id)
        if found is None:
            raise LifecyclePreviewNotFound(
                f"Lifecycle policy preview does not exist for the repository with name '{name}' "
                f"in the registry with id '{registry.id}'"
            )
        return repository, found

    # -- evaluation and runs --------------------------------------------------------------------------

    async def plan(self, name: str, registry: RegistryRef, text: str | None = None) -> Plan:
        """What a run of ``text`` (default: the stored policy) would expire now."""
        repository = await self.repositories.get(name, registry)
        if text is None:
            stored = await self.store.policy(repository.id)
            if stored is None:
                raise self._no_policy(name, registry)
            text = stored.text
        policy = parse_policy(text, allow_keep_rules=self.config.allow_keep_rules)
        now = self.clock.now()
        images = await self.store.image_facts(repository.id)
        expiries = evaluate(policy, images, now, self.config.orphan_grace)
        if self.in_use is not None:
            used = await self.in_use(repository.account_id, repository.name)
            expiries = [expiry for expiry in expiries if expiry.digest not in used]
        return Plan(repository, text, expiries, now)

    async def run(self, name: str, registry: RegistryRef, progress: Progress | None = None) -> RunReport:
        """Expire what the stored policy selects now, recording an event for each image."""
        plan = await self.plan(name, registry)
        run = ExpiryRun(
            plan.repository.account_id,
            plan.repository.name,
            str(uuid.uuid4()),
            hashlib.sha256(plan.text.encode()).hexdigest(),
        )
        expired: list[Expiry] = []
        step = max(1, len(plan.expiries) // 100)
        for start in range(0, len(plan.expiries), step):
            chunk = plan.expiries[start : start + step]
            expired.extend(await self.store.expire(plan.repository.id, run, chunk, plan.at))
            if progress is not None:
                progress(start + len(chunk), len(plan.expiries))
        if not plan.expiries:
            await self.store.expire(plan.repository.id, run, [], plan.at)  # stamps lastEvaluatedAt
        if expired:
            log.info(
                "lifecycle expired images", extra={"repository": plan.repository.name, "count": len(expired)}
            )
        return RunReport(plan, expired, run.run_id)

    async def run_all(self) -> int:
        """Run every repository's policy (the scheduled job); images expired in all."""
        total = 0
        for account, name in await self.store.policy_repositories():
            try:
                total += len((await self.run(name, RegistryRef(account))).expired)
            except Exception:  # one repository's failure must not stop the others
                log.exception("lifecycle run failed", extra={"repository": name})
        return total

    async def events(
        self, account: str | None = None, repository: str | None = None, limit: int = 100
    ) -> list[LifecycleEvent]:
        return await self.store.events(account, repository, limit)
