"""Request rate limits per account and ECR operation, on the ``limits`` library.

A spec is a comma-separated list of ``off`` (no limits: the default, so nothing throttles the tests or the
bench), ``ecr`` (ECR's published per-account quotas, below) and ``<Operation>=<requests per second>``
overrides, e.g. ``ecr,PutImage=50``. Counting uses a sliding-window counter.

Where the counts live decides what a limit means: the default storage (``memory://``) keeps them in each
server process, so with N workers or replicas an account may make up to N times the limit. A shared
``limits`` storage (``async+redis://host:6379``, with ``limits[async-redis]`` installed) makes one limit
for every process and replica; it is not installed or tested here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import limits
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from limits.storage import storage_from_string

# Amazon ECR service quotas, "rate of <API> requests" per account and region, per second.
ECR_QUOTAS: Mapping[str, int] = {
    "BatchCheckLayerAvailability": 1000,
    "BatchGetImage": 2000,
    "CompleteLayerUpload": 100,
    "GetAuthorizationToken": 500,
    "GetDownloadUrlForLayer": 3000,
    "InitiateLayerUpload": 100,
    "PutImage": 10,
    "UploadLayerPart": 500,
}
PRESETS: Mapping[str, Mapping[str, int]] = {"off": {}, "ecr": ECR_QUOTAS}


@dataclass(frozen=True)
class RateLimitConfig:
    per_second: Mapping[str, int] = field(default_factory=dict)
    storage_uri: str = "async+memory://"

    @classmethod
    def parse(cls, spec: str, storage_uri: str = "async+memory://") -> RateLimitConfig:
        """``off``, ``ecr`` and ``Operation=N`` items, later items winning; ``ValueError`` when malformed."""
        rates: dict[str, int] = {}
        for item in (part.strip() for part in spec.split(",")):
            if not item:
                continue
            if item in PRESETS:
                rates.update(PRESETS[item])
                continue
            operation, equals, amount = item.partition("=")
            if not equals or not operation.strip().isalpha() or not amount.strip().isdigit():
                raise ValueError(f"rate limit {item!r} is not 'off', 'ecr' or Operation=requests-per-second")
            rates[operation.strip()] = int(amount)
        return cls({op: n for op, n in rates.items() if n > 0}, storage_uri)


class RateLimiter:
    """``await limiter.allow(account, operation)``: False when the caller is over its limit."""

    def __init__(self, config: RateLimitConfig) -> None:
        self.config = config
        self._items = {op: limits.RateLimitItemPerSecond(n) for op, n in config.per_second.items()}
        self._strategy = (
            SlidingWindowCounterRateLimiter(storage_from_string(config.storage_uri)) if self._items else None
        )

    @property
    def enabled(self) -> bool:
        return self._strategy is not None

    async def allow(self, account: str, operation: str) -> bool:
        item = self._items.get(operation)
        if item is None or self._strategy is None:
            return True
        return await self._strategy.hit(item, "ecr", account, operation)
