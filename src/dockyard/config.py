"""Settings, read once at start: defaults < config file (TOML) < ``DOCKYARD_*`` environment < CLI flags."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator
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
    housekeeping_interval_seconds: float = Field(
        600.0, gt=0, description="how often the upload and session expiry jobs run (on one replica)"
    )
    job_lease_seconds: float = Field(
        30.0, ge=1, description="a background job's lease: how soon another replica takes over a dead one's"
    )
    gc_interval_seconds: float = Field(
        3600.0, gt=0, description="how often garbage collection runs (on one replica); docs/gc.md"
    )
    gc_grace_seconds: float = Field(
        86400.0,
        ge=0,
        description="how long an unreferenced blob, or a blob link no manifest uses, is kept before GC "
        "reclaims it; at least redirect_ttl_seconds (a presigned URL outlives no blob)",
    )
    lifecycle_interval_seconds: float = Field(
        3600.0, gt=0, description="how often lifecycle policies are run (on one replica); docs/lifecycle.md"
    )
    lifecycle_orphan_grace_hours: float = Field(
        24.0,
        ge=0,
        description="how long a referrer whose subject was never pushed is kept from lifecycle rules",
    )
    lifecycle_keep_rules: bool = Field(
        False, description="accept the dockyardKeepRules extension in lifecycle policies (not ECR's)"
    )
    scan_concurrency: int = Field(
        2, ge=0, le=64, description="image scans run at once on this replica (0: this replica scans none)"
    )
    scan_on_demand_interval_hours: float = Field(
        24.0, ge=0, description="StartImageScan allowed once per image per this many hours (0: no limit)"
    )
    scan_memory_limit_mib: int = Field(
        2048, ge=256, description="address-space limit of each scanner process (untrusted layers)"
    )
    scan_reevaluate_interval_seconds: float = Field(
        300.0, gt=0, description="how often stored inventories are re-matched after a database import"
    )
    ecs_agent_timeout_seconds: float = Field(
        30.0, gt=0, description="a container instance with no poll for this long shows agentConnected false"
    )
    ecs_poll_interval_seconds: float = Field(
        1.0, gt=0, le=30, description="how often a waiting ECS agent poll looks for other replicas' work"
    )
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
    public_alias: str = Field(
        "random",
        pattern=r"^[a-z][a-z0-9]+(?:[._-][a-z0-9]+)*$",
        max_length=50,
        description="alias of an account's public registry (public.<domain>/<alias>/...), given at first "
        "use: random (8 random letters and digits, like ECR Public's) or an alias for the default account",
    )
    ecr_rate_limits: str = Field(
        "off",
        description="ECR API rate limits: off, ecr (ECR's published quotas) or Op=N/second,... (per process)",
    )

    storage: Literal["filesystem", "s3"] = Field(
        "filesystem", description="where blobs live: filesystem (<data_dir>/storage) or s3 (s3_* settings)"
    )
    s3_bucket: str | None = Field(None, description="the bucket (required with storage = s3)")
    s3_prefix: str = Field("", description="key prefix inside the bucket, e.g. registry/")
    s3_endpoint_url: str | None = Field(None, description="S3-compatible endpoint (MinIO, Ceph); unset: AWS")
    s3_region: str | None = Field(None, description="the bucket's region; unset: the AWS chain's")
    s3_addressing_style: Literal["auto", "path", "virtual"] = "auto"
    s3_access_key_id: str | None = Field(None, description="unset: the AWS chain (env, profile, role)")
    s3_secret_access_key: str | None = Field(None, repr=False)
    s3_part_size_mib: int = Field(10, ge=5, le=5120, description="multipart upload part size")
    redirect: bool = Field(
        True, description="blob GETs answer 307 to a presigned URL when storage has them; false: proxy"
    )
    redirect_ttl_seconds: int = Field(1200, ge=1, le=604800, description="lifetime of a presigned URL")

    @model_validator(mode="after")
    def _storage_complete(self) -> Settings:
        if self.storage == "s3" and not self.s3_bucket:
            raise ValueError("storage = s3 needs s3_bucket")
        if (self.s3_access_key_id is None) != (self.s3_secret_access_key is None):
            raise ValueError("s3_access_key_id and s3_secret_access_key go together")
        if self.gc_grace_seconds < self.redirect_ttl_seconds:
            raise ValueError("gc_grace_seconds must be at least redirect_ttl_seconds")
        return self

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


def handed_settings() -> Settings:
    """The settings ``dockyard serve`` put in :data:`SETTINGS_ENV` for the processes it starts; without
    them, the defaults and the environment."""
    raw = os.environ.get(SETTINGS_ENV)
    return settings_from_json(raw) if raw else Settings()
