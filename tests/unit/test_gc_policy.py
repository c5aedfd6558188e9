"""Garbage collection's policy values and settings (``docs/gc.md``): the grace and what it must outlast."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from dockyard.app import gc_policy
from dockyard.cli_gc import human_bytes
from dockyard.config import Settings
from dockyard.domain.gc import GcPlan, GcPolicy, RepositoryUsage


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("DOCKYARD_"):
            monkeypatch.delenv(key)


def test_the_cutoff_is_the_grace_before_now() -> None:
    now = datetime(2026, 1, 2, tzinfo=UTC)
    assert GcPolicy(grace=timedelta(hours=3)).cutoff(now) == datetime(2026, 1, 1, 21, tzinfo=UTC)


@pytest.mark.parametrize(
    "values",
    [
        {"grace": timedelta(seconds=-1)},
        {"orphan_after": timedelta(0)},
        {"batch": 0},
    ],
)
def test_a_policy_that_could_delete_too_early_or_never_is_refused(values: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="grace"):
        GcPolicy(**values)  # type: ignore[arg-type]


def test_the_grace_may_not_be_shorter_than_a_presigned_url_lives() -> None:
    with pytest.raises(ValidationError, match="gc_grace_seconds"):
        Settings(gc_grace_seconds=600, redirect_ttl_seconds=1200)
    assert Settings(gc_grace_seconds=1200, redirect_ttl_seconds=1200).gc_grace_seconds == 1200


def test_the_settings_make_the_policy() -> None:
    settings = Settings(gc_grace_seconds=7200, job_lease_seconds=10)
    assert gc_policy(settings) == GcPolicy(grace=timedelta(hours=2), orphan_after=timedelta(seconds=40))
    assert Settings().gc_grace_seconds == 86400
    assert Settings().gc_interval_seconds == 3600


def test_plan_and_usage_totals() -> None:
    plan = GcPlan(links=[("111122223333/app", "sha256:a")], blobs=[("sha256:b", 10), ("sha256:c", 5)])
    assert plan.bytes == 15
    assert RepositoryUsage("app", blob_bytes=100, blobs=2, manifest_bytes=7).total == 107


@pytest.mark.parametrize(
    ("size", "shown"), [(0, "0 B"), (1023, "1023 B"), (1024, "1.0 KiB"), (5 * 1024**3 + 1, "5.0 GiB")]
)
def test_human_bytes(size: int, shown: str) -> None:
    assert human_bytes(size) == shown
