"""Clocks the tests set by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class StepClock:
    """A clock that moves only when told to."""

    def __init__(self, start: datetime = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)) -> None:
        self.current = start

    def now(self) -> datetime:
        return self.current

    def advance(self, seconds: float = 1) -> None:
        self.current += timedelta(seconds=seconds)
