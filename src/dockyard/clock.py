"""The system clock behind the :class:`~dockyard.ports.Clock` port (tests inject their own)."""

from __future__ import annotations

from datetime import UTC, datetime


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)
