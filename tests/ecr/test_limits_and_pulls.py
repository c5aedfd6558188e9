"""Rate limits per account and operation (ECR API and /v2/), and pull times written at most once a day."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from dockyard.config import Settings
from dockyard.services.ecr_images import PullRecorder
from dockyard.services.ecr_limits import ECR_QUOTAS, RateLimitConfig, RateLimiter

from .support import ACCOUNT, Server, serve


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp("limited")
    (data_dir / "dockyard.db").write_bytes(sqlite_template.read_bytes())
    limits = RateLimitConfig.parse("ecr,DescribeRegistry=3,BatchGetImage=3")
    with serve(Settings(data_dir=data_dir, access_log=False), rate_limits=limits) as running:
        yield running


def test_config_parsing() -> None:
    assert RateLimitConfig.parse("off").per_second == {}
    assert RateLimitConfig.parse("").per_second == {}
    ecr = RateLimitConfig.parse("ecr").per_second
    assert (ecr["GetAuthorizationToken"], ecr["BatchGetImage"], ecr["PutImage"]) == (500, 2000, 10)
    assert RateLimitConfig.parse("ecr,PutImage=50,BatchGetImage=0").per_second == {
        **{k: v for k, v in ECR_QUOTAS.items() if k != "BatchGetImage"},
        "PutImage": 50,
    }
    with pytest.raises(ValueError, match="not 'off'"):
        RateLimitConfig.parse("PutImage=fast")


async def test_limiter_counts_per_account_and_operation() -> None:
    limiter = RateLimiter(RateLimitConfig({"PutImage": 2}))
    assert [await limiter.allow("111111111111", "PutImage") for _ in range(3)] == [True, True, False]
    assert await limiter.allow("222222222222", "PutImage")
    assert await limiter.allow("111111111111", "BatchGetImage")
    assert not RateLimiter(RateLimitConfig()).enabled


def test_ecr_api_throttles(limited: Server) -> None:
    ecr = limited.ecr()
    outcomes = []
    for _ in range(10):
        try:
            ecr.describe_registry()
            outcomes.append("ok")
        except ClientError as exc:
            response: Any = exc.response
            assert response["ResponseMetadata"]["HTTPStatusCode"] == 400
            outcomes.append(response["Error"]["Code"])
    assert outcomes[:3] == ["ok"] * 3
    assert "ThrottlingException" in outcomes
    assert ecr.get_authorization_token()["authorizationData"]  # other operations have their own budget


def test_v2_throttles_with_toomanyrequests(limited: Server) -> None:
    limited.ecr().create_repository(repositoryName="limited/app")
    limited.push_image("limited/app", "v1")
    statuses = [limited.http.get("/v2/limited/app/manifests/v1").status_code for _ in range(10)]
    assert statuses[0] == 200
    assert 429 in statuses
    refused = next(
        r
        for r in (limited.http.get("/v2/limited/app/manifests/v1") for _ in range(5))
        if r.status_code == 429
    )
    assert refused.json()["errors"][0]["code"] == "TOOMANYREQUESTS"
    assert limited.http.get("/v2/limited/app/tags/list").status_code == 200  # not an ECR operation


class CountingStore:
    def __init__(self) -> None:
        self.recorded: dict[tuple[str, str], datetime] = {}
        self.reads = 0
        self.writes = 0

    async def pull_time(self, account: str, repository: str, digest: str) -> datetime | None:
        self.reads += 1
        return self.recorded.get((repository, digest))

    async def record_pull(
        self, account: str, repository: str, digest: str, now: datetime, stale_before: datetime
    ) -> None:
        self.writes += 1
        if self.recorded.get((repository, digest), stale_before - timedelta(1)) < stale_before:
            self.recorded[(repository, digest)] = now


class Clock:
    def __init__(self) -> None:
        self.moment = datetime(2030, 1, 1, tzinfo=UTC)

    def now(self) -> datetime:
        return self.moment


async def test_pull_time_is_written_at_most_once_a_day() -> None:
    store, clock = CountingStore(), Clock()
    recorder = PullRecorder(store, clock)  # type: ignore[arg-type]
    for _ in range(1000):
        await recorder(ACCOUNT, "app", "sha256:a")
    assert (store.reads, store.writes) == (1, 1)
    clock.moment += timedelta(hours=23)
    await recorder(ACCOUNT, "app", "sha256:a")
    assert store.writes == 1
    clock.moment += timedelta(hours=2)
    for _ in range(100):
        await recorder(ACCOUNT, "app", "sha256:a")
    assert store.writes == 2
    assert store.recorded[("app", "sha256:a")] == clock.moment
    other = PullRecorder(store, clock)  # another process: one read, no write (recorded an instant ago)
    await other(ACCOUNT, "app", "sha256:a")
    assert (store.reads, store.writes) == (3, 2)
