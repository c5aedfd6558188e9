"""Lifecycle evaluation of one repository with 100,000 images (target: under 10 s).

    .venv/bin/python -m bench.lifecycle_eval [--images 100000] [--no-sqlite]

Images: a mix of tagged releases (``v1.N``), branch builds (``feature-N-sha``), untagged images, multi-arch
indexes with two children each, and signatures (referrers) of a tenth of the images; push times spread over
a year, pull times on a third. The policy has four rules (prefix, pattern, untagged by age, any by count)
and the ``dockyardKeepRules`` extension. Prints the time to evaluate and how many images expire; then (unless
``--no-sqlite``) writes the same images into a fresh SQLite database in a temporary directory and times what
a preview or run does before deleting anything: loading the repository's image facts
(``LifecycleStore.image_facts``) and ``Lifecycle.plan`` (load plus evaluation), whose result must equal the
in-memory evaluation's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from dockyard.app import build_services, ecr_api, migrate
from dockyard.config import Settings
from dockyard.domain.lifecycle import Expiry, ImageFacts, evaluate, parse_policy
from dockyard.metadata.ecr_tables import ecr_image_pulls
from dockyard.metadata.tables import manifest_references, manifests, tags
from dockyard.metadata.units import units_for
from dockyard.services.ecr import RegistryRef

NOW = datetime(2026, 11, 27, tzinfo=UTC)
ACCOUNT, REPOSITORY = "123456789012", "bench/lifecycle"
INDEX, MANIFEST = "application/vnd.oci.image.index.v1+json", "application/vnd.oci.image.manifest.v1+json"
POLICY = {
    "rules": [
        {
            "rulePriority": 1,
            "selection": {
                "tagStatus": "tagged",
                "tagPrefixList": ["v1."],
                "countType": "imageCountMoreThan",
                "countNumber": 500,
            },
            "action": {"type": "expire"},
        },
        {
            "rulePriority": 2,
            "selection": {
                "tagStatus": "tagged",
                "tagPatternList": ["feature-*-*"],
                "countType": "sinceImagePushed",
                "countUnit": "days",
                "countNumber": 30,
            },
            "action": {"type": "expire"},
        },
        {
            "rulePriority": 3,
            "selection": {
                "tagStatus": "untagged",
                "countType": "sinceImagePushed",
                "countUnit": "days",
                "countNumber": 14,
            },
            "action": {"type": "expire"},
        },
        {
            "rulePriority": 4,
            "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 20000},
            "action": {"type": "expire"},
        },
    ],
    "dockyardKeepRules": [{"tagPatternList": ["*-lts"]}, {"pulledWithinDays": 7}],
}


def images(count: int, rng: random.Random) -> list[ImageFacts]:
    found: list[ImageFacts] = []
    n = 0
    while len(found) < count:
        n += 1
        pushed = NOW - timedelta(seconds=rng.randrange(365 * 86400))
        pulled = NOW - timedelta(days=rng.randrange(60)) if rng.random() < 0.33 else None
        kind = rng.random()
        digest = f"sha256:{n:064x}"
        if kind < 0.05:  # a multi-arch index and its two children
            children = [f"sha256:{n:032x}{c:032x}" for c in (1, 2)]
            found.append(ImageFacts(digest, pushed, (f"v1.{n}",), pulled))
            found.extend(ImageFacts(c, pushed, (), None, frozenset({digest})) for c in children)
            continue
        if kind < 0.35:
            tags: tuple[str, ...] = (f"v1.{n}",) if rng.random() < 0.9 else (f"v1.{n}", f"v1.{n}-lts")
        elif kind < 0.7:
            tags = (f"feature-{n % 300}-{n:x}",)
        else:
            tags = ()
        found.append(ImageFacts(digest, pushed, tags, pulled))
        if rng.random() < 0.1:
            found.append(ImageFacts(f"sha256:{n:048x}{0:016x}", pushed, (), None, frozenset(), digest))
    return found[:count]


class FixedClock:
    def now(self) -> datetime:
        return NOW


def rows(facts: list[ImageFacts], repository_id: int) -> dict[Any, list[dict[str, Any]]]:
    """The images as the store keeps them: manifests, tags, index references and pull times."""
    ids = {f.digest: n for n, f in enumerate(facts, start=1)}
    indexes = {p for f in facts for p in f.parents}
    found: dict[Any, list[dict[str, Any]]] = {
        manifests: [],
        tags: [],
        manifest_references: [],
        ecr_image_pulls: [],
    }
    for f in facts:
        found[manifests].append(
            {
                "id": ids[f.digest],
                "repository_id": repository_id,
                "digest": f.digest,
                "media_type": INDEX if f.digest in indexes else MANIFEST,
                "subject_digest": f.subject,
                "size": 2,
                "content": b"{}",
                "created_at": f.pushed_at,
            }
        )
        found[tags].extend(
            {
                "repository_id": repository_id,
                "name": t,
                "manifest_id": ids[f.digest],
                "updated_at": f.pushed_at,
            }
            for t in f.tags
        )
        found[manifest_references].extend(
            {"manifest_id": ids[p], "digest": f.digest, "kind": "manifest"} for p in f.parents
        )
        if f.last_pulled_at is not None:
            found[ecr_image_pulls].append({"manifest_id": ids[f.digest], "last_pulled_at": f.last_pulled_at})
    return found


async def write(engine: AsyncEngine, facts: list[ImageFacts], repository_id: int) -> None:
    """One write unit (one ``BEGIN IMMEDIATE`` transaction on SQLite), as the stores write."""
    found = rows(facts, repository_id)

    def insert(conn: Connection) -> None:
        for table, values in found.items():
            for start in range(0, len(values), 20_000):
                conn.execute(table.insert(), values[start : start + 20_000])

    await units_for(engine).write(insert)


async def from_sqlite(facts: list[ImageFacts], expected: list[Expiry]) -> None:
    """Time loading the facts from SQLite, and ``Lifecycle.plan`` (load + evaluate), on a fresh database."""
    with tempfile.TemporaryDirectory(prefix="dockyard-lifecycle-bench-") as directory:
        settings = Settings(data_dir=Path(directory), lifecycle_keep_rules=True, access_log=False)
        await migrate(settings)
        services = build_services(settings, FixedClock())
        try:
            repository = await services.registry.create_repository(ACCOUNT, REPOSITORY)
            started = time.perf_counter()
            await write(services.engine, facts, repository.id)
            print(f"wrote {len(facts)} images to SQLite in {time.perf_counter() - started:.2f} s")
            lifecycle = ecr_api(settings, services).lifecycle
            started = time.perf_counter()
            loaded = await lifecycle.store.image_facts(repository.id)
            load = time.perf_counter() - started
            started = time.perf_counter()
            plan = await lifecycle.plan(REPOSITORY, RegistryRef(ACCOUNT), json.dumps(POLICY))
            total = time.perf_counter() - started
        finally:
            await services.close()
    assert len(loaded) == len(facts)
    assert plan.expiries == expected, "the facts read back from SQLite evaluate differently"
    print(f"loaded {len(loaded)} images' facts from SQLite in {load:.2f} s")
    print(f"Lifecycle.plan (load + evaluate): {len(plan.expiries)} expire in {total:.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=100_000)
    parser.add_argument("--no-sqlite", action="store_true", help="only the in-memory evaluation")
    args = parser.parse_args()
    policy = parse_policy(json.dumps(POLICY), allow_keep_rules=True)
    facts = images(args.images, random.Random(7))
    started = time.perf_counter()
    expired = evaluate(policy, facts, NOW)
    elapsed = time.perf_counter() - started
    print(
        f"{len(facts)} images, {len(policy.rules)} rules: {len(expired)} expire; evaluated in {elapsed:.2f} s"
    )
    if not args.no_sqlite:
        asyncio.run(from_sqlite(facts, expired))


if __name__ == "__main__":
    main()
