"""Settings: one pydantic-settings model read from a TOML file, with environment overrides.

Precedence (highest first): keyword arguments, `BALINT_...` environment variables (nested
with `__`, e.g. `BALINT_ZOOM__WEBHOOK_SECRET_TOKENS='["a","b"]'`), the TOML file, built-in
defaults. Secrets are `SecretStr` and never printed. `load_settings` turns every problem
into a `ConfigError` naming the file, the key and what was expected.

Nothing here is read at import time: callers build `Settings` explicitly.
"""

from __future__ import annotations

import tomllib
from datetime import time
from pathlib import Path
from typing import Any, ClassVar, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from bot.errors import ConfigError

__all__ = [
    "DEFAULT_CONFIG_PATH",
    "AgendaSettings",
    "BillingSettings",
    "BotSettings",
    "GroupSettings",
    "LogSettings",
    "ServerSettings",
    "Settings",
    "StorageSettings",
    "ZoomSettings",
    "load_settings",
]

DEFAULT_CONFIG_PATH = Path("balint-bot.toml")


Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ZoomSettings(_Section):
    webhook_secret_tokens: list[SecretStr] = Field(default_factory=list)
    api_base_url: str = "https://api.zoom.us/v2"
    oauth_url: str = "https://zoom.us/oauth/token"
    account_id: str = ""
    client_id: str = ""
    client_secret: SecretStr = SecretStr("")
    sdk_key: str = ""
    sdk_secret: SecretStr = SecretStr("")
    bot_user_id: str = ""
    bot_name: str = "Balint Companion"


class StorageSettings(_Section):
    url: str = "sqlite:///balint-bot.db"


class ServerSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    webhook_path: str = Field(default="/zoom/webhook", pattern=r"^/")
    timestamp_window_seconds: int = Field(default=7200, ge=60)
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    # this replica's stable name for database leases ("" = the host name)
    instance_id: str = Field(default="", max_length=200, pattern=r"^[A-Za-z0-9._:@-]*$")
    # limits of the listener (see config.example.toml and docs/configuration.md)
    header_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    body_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    keep_alive_seconds: int = Field(default=5, ge=1, le=300)
    max_concurrent_requests: int = Field(default=64, ge=1, le=10_000)
    max_connections: int = Field(default=0, ge=0, le=1_000_000)
    journal_timeout_seconds: float = Field(default=0.7, ge=0.05, le=2.5)
    trusted_proxies: list[str] = Field(default_factory=list)


class GroupSettings(_Section):
    name: str = "Balint group"
    meeting_id: str = ""
    timezone: str = "America/Toronto"
    weekday: Weekday = "wednesday"
    start_time: time = time(19, 0)
    roster: str = ""

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        """Every command reads the group's clock: a zone this system lacks is refused at once."""
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                "not a time zone this system knows (an IANA name like America/Toronto; "
                "install the tzdata package if the system has none)"
            ) from None
        return value


class AgendaSettings(_Section):
    """The session's shape; see config.example.toml for what each key means."""

    meditation_minutes: int = Field(default=10, ge=0, le=60)
    length_minutes: int = Field(default=105, ge=15, le=600)
    reflection_minutes: int = Field(default=15, ge=0, le=120)
    opens_minutes_before: int = Field(default=15, ge=0, le=120)
    warning_minutes: list[int] = Field(default_factory=lambda: [10, 2])
    max_cases: int = Field(default=2, ge=1, le=10)
    hold_during_meditation: bool = True
    enforce_mirror: bool = True
    rename_in_waiting_room: bool = False
    presentation_budget_minutes: int = Field(default=10, ge=0)
    questions_budget_minutes: int = Field(default=10, ge=0)
    discussion_budget_minutes: int = Field(default=25, ge=0)
    mirror_reminder_seconds: int = Field(default=60, ge=10)
    messages: dict[str, str] = Field(default_factory=dict)


class BotSettings(_Section):
    meeting_adapter: Literal["simulator", "sdk", "none"] = "simulator"
    # longest the meeting worker (serve's, or the join process's) waits for one database call
    database_timeout_seconds: float = Field(default=10.0, ge=0.1, le=300)


class BillingSettings(_Section):
    provider_number: str = ""
    group_number: str = "0000"
    specialty: Literal["00", "19"] = "00"
    moh_office: str = "N"
    fee_codes: Literal["gp", "psychiatry"] = "gp"
    modality_item: Literal["", "K300A"] = ""
    count_reflection: bool = False


class LogSettings(_Section):
    format: Literal["text", "json"] = "text"
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


class Settings(BaseSettings):
    """All of balint-bot's settings. Build with `load_settings(path)`."""

    model_config = SettingsConfigDict(
        env_prefix="BALINT_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    zoom: ZoomSettings = Field(default_factory=ZoomSettings)
    storage: StorageSettings = Field(default_factory=StorageSettings)
    server: ServerSettings = Field(default_factory=ServerSettings)
    group: GroupSettings = Field(default_factory=GroupSettings)
    agenda: AgendaSettings = Field(default_factory=AgendaSettings)
    bot: BotSettings = Field(default_factory=BotSettings)
    billing: BillingSettings = Field(default_factory=BillingSettings)
    log: LogSettings = Field(default_factory=LogSettings)
    #: Key for PHI at rest (`BALINT_DATA_KEY`); never put it in the file.
    data_key: SecretStr | None = None
    #: Older data keys, comma-separated (`BALINT_DATA_KEY_PREVIOUS`), for `keys rotate`.
    data_key_previous: SecretStr | None = None

    _toml_path: ClassVar[Path | None] = None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,  # noqa: ARG003 (no .env files)
        file_secret_settings: PydanticBaseSettingsSource,  # noqa: ARG003 (no secret dirs)
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if cls._toml_path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=cls._toml_path))
        return tuple(sources)


def load_settings(path: Path | None = None, **overrides: Any) -> Settings:
    """Read settings from `path` (default `./balint-bot.toml` if it exists) and the environment.

    Raises:
        ConfigError: the file is missing (when named explicitly), is not valid TOML, or a key
            is unknown or has the wrong type. The message names the file, key and expectation.
    """
    explicit = path is not None
    toml_path = path if path is not None else DEFAULT_CONFIG_PATH
    source = str(toml_path)
    if not toml_path.exists():
        if explicit:
            raise ConfigError(f"{source}: no such configuration file")
        toml_path_or_none: Path | None = None
        source = "built-in defaults and environment"
    else:
        toml_path_or_none = toml_path
        try:
            tomllib.loads(toml_path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as bad:
            raise ConfigError(f"{source}: not valid TOML: {bad}") from None
    Settings._toml_path = toml_path_or_none
    try:
        return Settings(**overrides)
    except ValidationError as invalid:
        problems = "; ".join(
            f"key {'.'.join(str(part) for part in err['loc'])}: {err['msg']}"
            + (f" (got {err['input']!r})" if _printable(err) else "")
            for err in invalid.errors()
        )
        raise ConfigError(f"{source}: {problems}") from None
    finally:
        Settings._toml_path = None


def _printable(err: Any) -> bool:
    """Show the offending value unless it may be a secret or is a whole section."""
    loc = ".".join(str(part) for part in err.get("loc", ()))
    secretish = any(word in loc for word in ("secret", "token", "key", "password"))
    return not secretish and isinstance(err.get("input"), str | int | float | bool)
