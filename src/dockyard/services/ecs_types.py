"""What the ECS services share: their configuration, pages, failures, and ``nextToken`` handling."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Generic, TypeVar

from dockyard.domain.ecs.errors import InvalidParameter
from dockyard.services.ecr_tokens import PageTokens

T = TypeVar("T")
MAX_RESULTS = 100


@dataclass(frozen=True, slots=True)
class EcsConfig:
    region: str
    agent_timeout: timedelta = timedelta(seconds=30)  # no poll for this long: agentConnected false
    poll_interval: float = 1.0  # seconds between a waiting poll's looks at the database
    default_wait: int = 20
    max_wait: int = 30


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    next_token: str | None = None


@dataclass(frozen=True, slots=True)
class Failure:
    """One entry of an ECS ``failures`` list."""

    arn: str
    reason: str
    detail: str | None = None


@dataclass
class Pager:
    """``nextToken`` values of one listing (signed, bound to the operation and the account/cluster)."""

    tokens: PageTokens
    operation: str
    scope: str
    limit: int = field(default=MAX_RESULTS)

    @classmethod
    def of(cls, tokens: PageTokens, operation: str, scope: str, max_results: int | None) -> Pager:
        if max_results is not None and not 1 <= max_results <= MAX_RESULTS:
            raise InvalidParameter(f"maxResults must be between 1 and {MAX_RESULTS}.")
        return cls(tokens, operation, scope, max_results or MAX_RESULTS)

    def position(self, token: str | None) -> Any:
        if token is None:
            return None
        try:
            return self.tokens.read(token, self.operation, self.scope)
        except ValueError:
            raise InvalidParameter("The specified nextToken is invalid.") from None

    def page(self, items: list[T], key: Callable[[T], Any]) -> Page[T]:
        """``items`` (fetched with one more than the limit) as a page: the extra one means another page,
        which starts after ``key`` of this page's last item."""
        if len(items) <= self.limit:
            return Page(items)
        kept = items[: self.limit]
        return Page(kept, self.tokens.issue(self.operation, self.scope, key(kept[-1])))
