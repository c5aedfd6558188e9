"""Settings precedence: defaults < TOML config file < ``DOCKYARD_*`` environment < command-line flags."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from dockyard.config import Settings, load_settings, settings_from_json


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("DOCKYARD_"):
            monkeypatch.delenv(key)


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "dockyard.toml"
    path.write_text(
        'host = "0.0.0.0"\nport = 6000\nworkers = 3\nlog_level = "warning"\n'
        f'data_dir = "{tmp_path / "from-file"}"\ncreate_on_push = false\n'
    )
    return path


def test_defaults() -> None:
    settings = load_settings()
    assert (settings.host, settings.port, settings.workers, settings.create_on_push) == (
        "127.0.0.1",
        5000,
        1,
        True,
    )
    assert settings.database_url is None


def test_file_over_defaults(config_file: Path, tmp_path: Path) -> None:
    settings = load_settings(config_file)
    assert (settings.host, settings.port, settings.workers, settings.log_level) == (
        "0.0.0.0",
        6000,
        3,
        "warning",
    )
    assert settings.data_dir == tmp_path / "from-file"
    assert settings.create_on_push is False
    assert settings.blob_root == tmp_path / "from-file" / "storage"


def test_environment_over_file(config_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKYARD_PORT", "7000")
    monkeypatch.setenv("DOCKYARD_CREATE_ON_PUSH", "true")
    settings = load_settings(config_file)
    assert settings.port == 7000
    assert settings.create_on_push is True
    assert settings.workers == 3  # still from the file


def test_flags_over_environment_and_file(
    config_file: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DOCKYARD_PORT", "7000")
    monkeypatch.setenv("DOCKYARD_WORKERS", "4")
    settings = load_settings(config_file, port=8000, data_dir=tmp_path / "flag", host=None)
    assert settings.port == 8000
    assert settings.data_dir == tmp_path / "flag"
    assert settings.workers == 4
    assert settings.host == "0.0.0.0"  # a flag left unset (None) does not override


def test_environment_without_a_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKYARD_DATABASE_URL", "postgresql://db/registry")
    assert load_settings().database_url == "postgresql://db/registry"


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_settings(tmp_path / "absent.toml")


@pytest.mark.parametrize(
    "content", ["prot = 5000\n", "port = 70000\n", 'log_level = "loud"\n', "workers = 0\n"]
)
def test_bad_config_file(tmp_path: Path, content: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(content)
    with pytest.raises(ValidationError):
        load_settings(path)


def test_bad_environment_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKYARD_PORT", "not-a-port")
    with pytest.raises(ValidationError):
        load_settings()


def test_settings_round_trip_to_workers(config_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings(config_file, port=9000)
    monkeypatch.setenv("DOCKYARD_PORT", "1234")  # a worker does not re-read the environment
    assert settings_from_json(settings.model_dump_json()) == settings
    assert isinstance(settings, Settings)
