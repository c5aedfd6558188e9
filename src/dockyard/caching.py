"""The one cache pattern of the project: an LRU that is dropped whenever a change signal moves.

A value is kept only when the signal held still while it was loaded, so a value read before a concurrent
write lives at most until that writer's bump (which precedes the writer's response). With ``getsizeof``
the LRU is bounded by weight, and a single value heavier than an eighth of it is not kept at all.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from cachetools import LRUCache

from dockyard.ports import ChangeSignal

T = TypeVar("T")


class SignalCache:
    def __init__(
        self, signal: ChangeSignal, size: int = 4096, *, getsizeof: Callable[[Any], int] | None = None
    ) -> None:
        self._signal = signal
        self._seen = signal.current()
        self._cache: LRUCache[Any, Any] = LRUCache(size, getsizeof=getsizeof)
        self._heaviest = size // 8 if getsizeof is not None else None

    def generation(self) -> int:
        """The signal now, dropping the cache if it moved: pass it to :meth:`put` after a load."""
        before = self._signal.current()
        if before != self._seen:
            self._cache.clear()
            self._seen = before
        return before

    def peek(self, key: Any) -> Any:
        """The cached value of ``key``, or ``None``."""
        self.generation()
        return self._cache.get(key)

    def put(self, key: Any, value: Any, generation: int) -> None:
        if self._signal.current() != generation or generation != self._seen:
            return
        if self._heaviest is None or self._cache.getsizeof(value) < self._heaviest:
            self._cache[key] = value

    async def get(self, key: Any, load: Callable[[], Awaitable[T]]) -> T:
        before = self.generation()
        if key in self._cache:
            hit: T = self._cache[key]
            return hit
        value = await load()
        self.put(key, value, before)
        return value
