"""The test-only offset clock (``DOCKYARD_TEST_CLOCK_FILE``): honoured only with ``DOCKYARD_TEST_MODE=1``,
announced by a warning, re-read when the file changes, and what the composition root wires in."""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from dockyard.app import build_services
from dockyard.clock import (
    TEST_CLOCK_FILE_ENV,
    TEST_MODE_ENV,
    OffsetFileClock,
    SystemClock,
    clock_from_environment,
)
from dockyard.config import Settings

BASE = datetime(2026, 1, 1, tzinfo=UTC)


class FixedClock:
    def now(self) -> datetime:
        return BASE


def write_offset(path: Path, seconds: float | str) -> None:
    staging = path.with_suffix(".tmp")
    staging.write_text(str(seconds))
    os.replace(staging, path)


def test_no_clock_file_is_the_system_clock(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, "dockyard.clock"):
        assert isinstance(clock_from_environment({TEST_MODE_ENV: "1"}), SystemClock)
    assert caplog.records == []


@pytest.mark.parametrize("mode", [None, "0", "true", "yes", ""])
def test_clock_file_without_test_mode_is_ignored_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, mode: str | None
) -> None:
    path = tmp_path / "offset"
    write_offset(path, -86400)
    env = {TEST_CLOCK_FILE_ENV: str(path)} | ({} if mode is None else {TEST_MODE_ENV: mode})
    with caplog.at_level(logging.WARNING, "dockyard.clock"):
        clock = clock_from_environment(env)
    assert isinstance(clock, SystemClock)
    assert abs(clock.now() - datetime.now(UTC)) < timedelta(minutes=1)
    assert [r.levelno for r in caplog.records] == [logging.WARNING]
    assert "ignored" in caplog.records[0].getMessage()


def test_test_mode_honours_the_file_and_says_so(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "offset"
    write_offset(path, -3 * 86400)
    with caplog.at_level(logging.WARNING, "dockyard.clock"):
        clock = clock_from_environment({TEST_CLOCK_FILE_ENV: str(path), TEST_MODE_ENV: "1"})
    assert isinstance(clock, OffsetFileClock)
    assert "TEST MODE" in caplog.records[0].getMessage()
    assert abs(clock.now() - (datetime.now(UTC) - timedelta(days=3))) < timedelta(minutes=1)


def test_offset_follows_the_file(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "offset"
    clock = OffsetFileClock(path, FixedClock())
    assert clock.now() == BASE  # no file yet: no offset
    write_offset(path, 90.5)
    assert clock.now() == BASE + timedelta(seconds=90.5)
    assert clock.now() == BASE + timedelta(seconds=90.5)  # unchanged file: the cached offset
    write_offset(path, -7 * 86400)
    assert clock.now() == BASE - timedelta(days=7)
    write_offset(path, "")
    assert clock.now() == BASE  # empty: zero
    write_offset(path, 60)
    assert clock.now() == BASE + timedelta(seconds=60)
    with caplog.at_level(logging.WARNING, "dockyard.clock"):
        write_offset(path, "soon")
        assert clock.now() == BASE + timedelta(seconds=60)  # garbage: the last good offset, and a warning
    assert "not seconds" in caplog.records[0].getMessage()
    path.unlink()
    assert clock.now() == BASE


async def test_composition_root_wires_it_only_in_test_mode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "offset"
    write_offset(path, -86400)
    monkeypatch.setenv(TEST_CLOCK_FILE_ENV, str(path))
    monkeypatch.delenv(TEST_MODE_ENV, raising=False)
    plain = build_services(Settings(data_dir=tmp_path / "a"))
    await plain.close()
    assert isinstance(plain.clock, SystemClock)
    monkeypatch.setenv(TEST_MODE_ENV, "1")
    offset = build_services(Settings(data_dir=tmp_path / "b"))
    await offset.close()
    assert isinstance(offset.clock, OffsetFileClock)
    assert abs(offset.clock.now() - (datetime.now(UTC) - timedelta(days=1))) < timedelta(minutes=1)
