"""Lifecycle over the real store (SQLite): for random repositories pushed through the registry services at
chosen moments (tags that move, pulls, image indexes, referrers with and without their subject) and random
valid policies, the preview lists exactly what a run then deletes, the store loses exactly those images, and
a second run deletes nothing."""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from dockyard.app import Services, build_services, ecr_api
from dockyard.config import Settings
from dockyard.domain.digest import Digest
from dockyard.services.ecr import RegistryRef
from dockyard.services.lifecycle import Lifecycle

ACCOUNT = "123456789012"
REPO = "prop/app"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
START = datetime(2026, 3, 1, tzinfo=UTC)
TAGS = ["prod-1", "prod-2", "beta-1", "dev", "v1", "v2-lts"]


class MovableClock:
    def __init__(self) -> None:
        self.current = START

    def now(self) -> datetime:
        return self.current


# -- what to push ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Push:
    """One push at ``hour`` (hours after START): an image, an index of earlier pushes, or a referrer of an
    earlier push (``subject`` -1: of a digest never pushed); under ``tags``, pulled at ``pulled_hour``."""

    hour: int
    kind: str
    tags: tuple[str, ...] = ()
    children: tuple[int, ...] = ()
    subject: int | None = None
    pulled_hour: int | None = None


@st.composite
def pushes(draw: st.DrawFn) -> list[Push]:
    found: list[Push] = []
    hour = 0
    for n in range(draw(st.integers(1, 10))):
        hour += draw(st.integers(0, 24 * 6))
        kind = draw(st.sampled_from(["image", "image", "image", "index", "referrer"])) if n else "image"
        images = [i for i, p in enumerate(found) if p.kind == "image"]
        children = (
            tuple(draw(st.sets(st.sampled_from(images), min_size=1, max_size=2))) if kind == "index" else ()
        )
        subject = draw(st.sampled_from([-1, *range(n)])) if kind == "referrer" else None
        tags = tuple(draw(st.sets(st.sampled_from(TAGS), max_size=2))) if kind != "referrer" else ()
        pulled = draw(st.none() | st.integers(hour, hour + 24 * 20))
        found.append(Push(hour, kind, tags, children, subject, pulled))
    return found


@st.composite
def policies(draw: st.DrawFn) -> str:
    statuses = draw(st.lists(st.sampled_from(["tagged", "tagged", "untagged"]), min_size=1, max_size=4))
    if draw(st.booleans()):
        statuses[-1] = "any"
    rules: list[dict[str, Any]] = []
    for priority, status in enumerate(statuses, start=1):
        if status == "untagged" and any(r["selection"]["tagStatus"] == "untagged" for r in rules):
            status = "tagged"
        selection: dict[str, Any] = {"tagStatus": status}
        if status == "tagged":
            entries = draw(st.lists(st.sampled_from(["prod", "beta", "v", "dev"]), min_size=1, max_size=2))
            if draw(st.booleans()):
                selection["tagPrefixList"] = entries
            else:
                selection["tagPatternList"] = [f"{e}*" for e in entries]
        count_type = draw(st.sampled_from(["imageCountMoreThan", "sinceImagePushed", "sinceImagePulled"]))
        selection |= {"countType": count_type, "countNumber": draw(st.integers(1, 20))}
        if count_type != "imageCountMoreThan":
            selection["countUnit"] = "days"
        rules.append({"rulePriority": priority * 3, "selection": selection, "action": {"type": "expire"}})
    document: dict[str, Any] = {"rules": rules}
    keep = draw(
        st.lists(st.sampled_from([{"tagPatternList": ["*-lts"]}, {"pulledWithinDays": 5}]), max_size=2)
    )
    if keep:
        document["dockyardKeepRules"] = keep
    return json.dumps(document, indent=2).ljust(100)


# -- the repository, pushed through the services -----------------------------------------------------------


@dataclass
class Repository:
    services: Services
    lifecycle: Lifecycle
    clock: MovableClock
    digests: list[str] = field(default_factory=list)  # by push number
    bodies: dict[str, bytes] = field(default_factory=dict)

    async def blob(self, data: bytes) -> dict[str, Any]:
        digest = Digest.of(data)

        async def chunks() -> AsyncIterator[bytes]:
            yield data

        await self.services.registry.upload_blob(ACCOUNT, REPO, digest, chunks(), len(data))
        return {"mediaType": "application/octet-stream", "digest": str(digest), "size": len(data)}

    async def push(self, n: int, push: Push) -> None:
        self.clock.current = START + timedelta(hours=push.hour)
        document: dict[str, Any] = {"schemaVersion": 2}
        if push.kind == "index":
            document |= {"mediaType": OCI_INDEX, "manifests": [self.descriptor(c) for c in push.children]}
        else:
            config = await self.blob(json.dumps({"n": n}).encode())
            layer = await self.blob(b"a layer all images share")
            document |= {"mediaType": OCI_MANIFEST, "config": config, "layers": [layer]}
        if push.subject is not None:
            absent = {"mediaType": OCI_MANIFEST, "digest": str(Digest.of(b"never pushed")), "size": 12}
            document["subject"] = absent if push.subject < 0 else self.descriptor(push.subject)
        body = json.dumps(document).encode()
        digest = str(Digest.of(body))
        for reference in push.tags or (digest,):
            await self.services.manifests.put(ACCOUNT, REPO, reference, body, document["mediaType"])
        self.digests.append(digest)
        self.bodies[digest] = body

    def descriptor(self, n: int) -> dict[str, Any]:
        body = self.bodies[self.digests[n]]
        media_type = json.loads(body)["mediaType"]
        return {"mediaType": media_type, "digest": self.digests[n], "size": len(body)}


async def scenario(template: Path, plan: list[Push], text: str) -> None:
    with tempfile.TemporaryDirectory(prefix="dockyard-lifecycle-prop-") as directory:
        data_dir = Path(directory)
        shutil.copyfile(template, data_dir / "dockyard.db")
        config = Settings(data_dir=data_dir, auth="none", lifecycle_keep_rules=True, access_log=False)
        clock = MovableClock()
        services = build_services(config, clock)
        try:
            repository = Repository(services, ecr_api(config, services).lifecycle, clock)
            await check(repository, plan, text)
        finally:
            await services.close()


async def check(repository: Repository, plan: list[Push], text: str) -> None:
    for n, push in enumerate(plan):
        await repository.push(n, push)
    for n, push in sorted(enumerate(plan), key=lambda p: p[1].pulled_hour or 0):
        if push.pulled_hour is not None:
            repository.clock.current = START + timedelta(hours=push.pulled_hour)
            await repository.services.manifests.get(ACCOUNT, REPO, repository.digests[n])
    lifecycle, registry = repository.lifecycle, RegistryRef(ACCOUNT)
    repository.clock.current = START + timedelta(hours=max(p.hour for p in plan) + 24 * 8)
    repo_id = (await lifecycle.repositories.get(REPO, registry)).id
    before = {f.digest for f in await lifecycle.store.image_facts(repo_id)}
    await lifecycle.put(REPO, registry, text)
    await lifecycle.start_preview(REPO, registry, None)
    preview = (await lifecycle.get_preview(REPO, registry))[1].results
    report = await lifecycle.run(REPO, registry)
    assert [(e.digest, e.rule_priority) for e in report.expired] == [
        (r["digest"], r["rule"]) for r in preview
    ]
    after = {f.digest for f in await lifecycle.store.image_facts(repo_id)}
    assert after == before - {e.digest for e in report.expired}
    event(
        f"expired {min(len(report.expired), 3)}+"
        if len(report.expired) >= 3
        else f"expired {len(report.expired)}"
    )
    assert (await lifecycle.run(REPO, registry)).expired == []
    assert {f.digest for f in await lifecycle.store.image_facts(repo_id)} == after


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(plan=pushes(), text=policies())
def test_preview_is_what_a_run_deletes_and_a_second_run_deletes_nothing(
    sqlite_template: Path, plan: list[Push], text: str
) -> None:
    asyncio.run(scenario(sqlite_template, plan, text))
