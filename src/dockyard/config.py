"""Settings, read once at start: defaults < config file (TOML) < ``DOCKYARD_*`` environment < CLI flags."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

SETTINGS_ENV = "DOCKYARD_SETTINGS_JSON"


class Settings(BaseSettings):
    """Every setting is also ``DOCKYARD_<NAME>`` in the environment and ``name = …`` in the config file."""

    model_config = SettingsConfigDict(env_prefix="DOCKYARD_", extra="forbid", frozen=True)

    host: str = "127.0.0.1"
    port: int = Field(5000, ge=0, le=65535)
    data_dir: Path = Path("data")
    database_url: str | None = Field(
        None, description="SQLAlchemy/PostgreSQL DSN; SQLite under data_dir if unset"
    )
    tls_cert: Path | None = None
    tls_key: Path | None = None
    server: Literal["uvicorn", "granian"] = "granian"
    workers: int = Field(1, ge=1, le=64)
    create_on_push: bool = Field(True, description="create a repository on first push (False: NAME_UNKNOWN)")
    upload_expiry_hours: float = Field(24.0, gt=0)
    access_log: bool = True
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    shutdown_timeout: float = Field(30.0, ge=0, description="seconds to finish in-flight requests on SIGTERM")
    region: str = Field(
        "us-east-1", pattern=r"^[a-z]{2}(-[a-z]+)+-\d+$", description="the one AWS region this server is"
    )
    domain: str = Field(
        "dockyard.localhost",
        pattern=r"^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$",
        description="registry host names are <account id>.dkr.<domain>",
    )
    default_account: str | None = Field(
        None, pattern=r"^\d{12}$", description="account for other host names (default: the first account)"
    )
    auth: Literal["iam", "none"] = Field(
        "iam",
        description="iam: /v2/ needs a registry password (GetAuthorizationToken) and IAM allows each "
        "request; none: anonymous full access to /v2/ (local trials, conformance without credentials)",
    )
    ecr_rate_limits: str = Field(
        "off",
        description="ECR API rate limits: off, ecr (ECR's published quotas) or Op=N/second,... (per process)",
    )

    @property
    def blob_root(self) -> Path:
        return self.data_dir / "storage"


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Settings from every source, CLI ``overrides`` (``None`` values ignored) winning."""
    given = {key: value for key, value in overrides.items() if value is not None}

    class _Sourced(Settings):
        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            if config_file is None:
                return (init_settings, env_settings)
            return (
                init_settings,
                env_settings,
                TomlConfigSettingsSource(settings_cls, toml_file=config_file),
            )

    if config_file is not None and not config_file.is_file():
        raise FileNotFoundError(f"config file not found: {config_file}")
    return Settings.model_validate(_Sourced(**given).model_dump())


def settings_from_json(text: str) -> Settings:
    """Settings handed to a server worker process by ``dockyard serve``; the environment is not re-read."""
    return Settings.model_validate_json(text)
