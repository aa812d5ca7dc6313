"""Settings: one pydantic-settings model read from a TOML file, with environment overrides.

Precedence (highest first): keyword arguments, `BALINT_...` environment variables (nested
with `__`, e.g. `BALINT_ZOOM__WEBHOOK_SECRET_TOKENS='["a","b"]'`), the TOML file, built-in
defaults. Secrets are `SecretStr` and never printed. `load_settings` turns every problem
into a `ConfigError` naming the file, the key and what was expected.

Nothing here is read at import time: callers build `Settings` explicitly.
"""

from __future__ import annotations

import os
import tomllib
from datetime import date, time
from pathlib import Path
from typing import Any, ClassVar, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from bot.errors import ConfigError
from phases.calendar import WEEKDAYS, CalendarError, DayRange, MonthlyDay
from webhooks.meetings import meeting_number

__all__ = [
    "DEFAULT_CONFIG_PATH",
    "AgendaSettings",
    "BillingSettings",
    "BotSettings",
    "ConsoleSettings",
    "CalendarSettings",
    "GroupSettings",
    "ModuleSettings",
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
    # how many processes run the meetings beside the receiver (`serve`; not in sdk mode)
    meeting_workers: int = Field(default=1, ge=1, le=64)


class ModuleSettings(_Section):
    """One closed module: its start month and, optionally, its number of sessions."""

    start_month: int = Field(ge=1, le=12)
    #: its first N regular sessions; omitted = every regular session until the next module
    sessions: int | None = Field(default=None, ge=1, le=60)


def _ontario_modules() -> list[ModuleSettings]:
    return [ModuleSettings(start_month=month) for month in (9, 1, 4)]


class CalendarSettings(_Section):
    """When the group meets (`[group.calendar]`; see `phases.calendar` and
    docs/configuration.md). The weekly day and the start time stay `[group] weekday` and
    `start_time`; the length is `[agenda] length_minutes`. The defaults are the Ontario
    group's: modules from September, January and April, no sessions in July and August."""

    cadence: Literal["weekly", "monthly"] = "weekly"
    #: monthly only: "first thursday", "last friday", ... or a day of the month (15)
    day: str | int = ""
    modules: list[ModuleSettings] = Field(default_factory=_ontario_modules)
    breaks: list[str] = Field(default_factory=lambda: ["july-august"])
    holidays: list[str | date] = Field(default_factory=list)
    #: a meeting starting this long before a planned start is that session (at least the
    #: social opening, `[agenda] opens_minutes_before`, is always taken)
    match_before_minutes: int = Field(default=60, ge=0, le=720)

    @field_validator("day")
    @classmethod
    def _day(cls, value: str | int) -> str | int:
        if value != "":
            try:
                MonthlyDay.parse(value)
            except CalendarError as bad:
                raise ValueError(str(bad)) from None
        return value

    @field_validator("breaks", "holidays")
    @classmethod
    def _days(cls, values: list[Any]) -> list[Any]:
        for value in values:
            try:
                DayRange.parse(value)
            except CalendarError as bad:
                raise ValueError(str(bad)) from None
        return values

    @model_validator(mode="after")
    def _consistent(self) -> CalendarSettings:
        if self.cadence == "monthly" and self.day == "":
            raise ValueError('a monthly cadence needs its day, like day = "first thursday"')
        if self.cadence == "weekly" and self.day != "":
            raise ValueError("day is for a monthly cadence; a weekly group uses [group] weekday")
        months = [module.start_month for module in self.modules]
        if len(set(months)) != len(months):
            raise ValueError(f"two modules start in the same month: {months}")
        return self


class GroupSettings(_Section):
    """One group: `[group]` in a file of one group, each `[[groups]]` entry in a file of
    several (docs/configuration.md, "Several groups"). A group's own `agenda` and `billing`
    tables, when given, replace the file's `[agenda]` and `[billing]` for that group
    (whole tables, not key by key: a group's billing rules hang together)."""

    name: str = Field(default="Balint group", min_length=1, max_length=200)
    meeting_id: str = ""
    #: more meeting numbers of the same group (a second recurring meeting, a replacement
    #: meeting); webhooks of each are the group's. The SDK bot joins `meeting_id`, else the
    #: first of these.
    meeting_ids: list[str] = Field(default_factory=list)
    timezone: str = "America/Toronto"
    weekday: Weekday = "wednesday"
    start_time: time = time(19, 0)
    roster: str = ""
    # A member matched by display name alone is admitted (a name never grants facilitator
    # rights); false holds them for the facilitators (docs/identity.md).
    admit_by_name: bool = True
    # The group runs closed modules: only members enrolled in the current one are admitted.
    closed_modules: bool = True
    calendar: CalendarSettings = Field(default_factory=CalendarSettings)
    #: the folder this group's exports are written to (`--out`), offered for download to its
    #: own facilitators only; "" = `[console] exports_dir` if the service has one group, else
    #: none (`Settings.for_group`)
    exports_dir: str = ""
    #: this group's own agenda and billing (None: the file's `[agenda]`, `[billing]`)
    agenda: AgendaSettings | None = None
    billing: BillingSettings | None = None

    def meeting_numbers(self) -> tuple[str, ...]:
        """The group's meeting numbers, digits only, `meeting_id` first, each once."""
        numbers: list[str] = []
        for text in (self.meeting_id, *self.meeting_ids):
            number = meeting_number(text)
            if number and number not in numbers:
                numbers.append(number)
        return tuple(numbers)

    def key_of(self, number: str) -> str:
        """The key that gives meeting `number`: `meeting_id`, or `meeting_ids[i]`."""
        if meeting_number(self.meeting_id) == number:
            return "meeting_id"
        listed = [meeting_number(text) for text in self.meeting_ids]
        return f"meeting_ids[{listed.index(number)}]" if number in listed else "meeting_ids"

    @model_validator(mode="after")
    def _one_weekday(self) -> GroupSettings:
        """A monthly "first thursday" names its weekday; a weekday set apart must agree."""
        calendar = self.calendar
        if calendar.cadence != "monthly" or "weekday" not in self.model_fields_set:
            return self
        day = MonthlyDay.parse(calendar.day)
        if day.ordinal and WEEKDAYS[day.weekday] != self.weekday:
            raise ValueError(
                f"weekday is {self.weekday} but calendar.day is {calendar.day!r}: "
                "leave weekday out for a monthly group, or make them agree"
            )
        return self

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        """Every command reads the group's clock: a zone this system lacks is refused at once.

        The only check of the zone: `bot.calendar.group_zone` and every other reader rely on it.
        """
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                "not an IANA time zone this system knows (like America/Toronto; "
                "install the tzdata package if the system has none)"
            ) from None
        return value

    @field_validator("start_time")
    @classmethod
    def _local_start(cls, value: time) -> time:
        """The start time is on the group's clock (`timezone`); "19:00+01:00" is refused."""
        if value.tzinfo is not None:
            raise ValueError("give the time without a zone: it is on the group's clock (timezone)")
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
    overrun_grace_minutes: int = Field(default=10, ge=0, le=120)
    ask_location: bool = False
    location_reminder_minutes: int = Field(default=10, ge=0, le=600)
    webcam_reminder_minutes: int = Field(default=0, ge=0, le=600)
    messages: dict[str, str] = Field(default_factory=dict)


class BotSettings(_Section):
    meeting_adapter: Literal["simulator", "sdk", "none"] = "simulator"
    # longest the meeting worker (serve's, or the join process's) waits for one database call
    database_timeout_seconds: float = Field(default=10.0, ge=0.1, le=300)


class BillingSettings(_Section):
    """OHIP billing; see docs/billing.md for every rule and config.example.toml per key."""

    provider_number: str = ""
    group_number: str = "0000"
    specialty: Literal["00", "19"] = "00"
    # the Ministry office the provider is registered with (tech spec §1.2): no default
    moh_office: Literal["", "D", "E", "F", "G", "J", "N", "P", "R", "U"] = ""
    fee_codes: Literal["gp", "psychiatry"] = "gp"
    # K300A video / K301A telephone per member from Zoom; "none" only on the Ministry's word
    modality_item: Literal["auto", "none"] = "auto"
    count_reflection: bool = False
    cme_reflection: Literal["everyone", "trains_to_lead", "nobody"] = "everyone"
    # the roster facilitator who holds provider_number; their presence bounds every claim
    physician: str = Field(default="", max_length=200)
    # who counts toward the group size that picks the band
    group_size: Literal["members", "billable_members", "members_and_guests", "everyone"] = "members"

    @model_validator(mode="after")
    def _family_matches_specialty(self) -> BillingSettings:
        family = {"00": "gp", "19": "psychiatry"}[self.specialty]
        if self.fee_codes != family:
            raise ValueError(
                f"fee_codes {self.fee_codes!r} does not agree with specialty {self.specialty!r} "
                f"(specialty {self.specialty} bills the {family!r} group codes)"
            )
        return self


class ConsoleSettings(_Section):
    """The facilitator's console (`bot.console`); see docs/console.md."""

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(default=8001, ge=1, le=65535)
    #: the address a browser reaches the console at (links, the Zoom redirect, Secure cookies)
    public_url: str = Field(default="", pattern=r"^(|https?://[^/?#\s]+(/[^?#\s]*)?)$")
    link_minutes: int = Field(default=10, ge=1, le=60)
    idle_minutes: int = Field(default=30, ge=5, le=720)
    session_hours: int = Field(default=12, ge=1, le=72)
    #: poll interval of the live page's stream, seconds
    live_poll_seconds: float = Field(default=0.5, ge=0.1, le=5.0)
    #: folder the export commands write to (`--out`), offered for download; "" = none; with
    #: several groups, no group's (`Settings.for_group`)
    exports_dir: str = ""
    #: Zoom OAuth app (user-managed, authorization code) for "Sign in with Zoom"
    oauth_client_id: str = ""
    oauth_client_secret: SecretStr = SecretStr("")
    oauth_authorize_url: str = "https://zoom.us/oauth/authorize"
    oauth_token_url: str = "https://zoom.us/oauth/token"
    oauth_revoke_url: str = "https://zoom.us/oauth/revoke"

    def exports_folder(self) -> Path | None:
        """`exports_dir` as a folder (None: none). In a group's settings it is the group's
        own (`Settings.for_group`)."""
        return Path(self.exports_dir).expanduser() if self.exports_dir else None


class LogSettings(_Section):
    format: Literal["text", "json"] = "text"
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


GroupSettings.model_rebuild()


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
    #: several groups in one service (`[[groups]]`); empty: the one `[group]`
    groups: list[GroupSettings] = Field(default_factory=list)
    agenda: AgendaSettings = Field(default_factory=AgendaSettings)
    bot: BotSettings = Field(default_factory=BotSettings)
    billing: BillingSettings = Field(default_factory=BillingSettings)
    console: ConsoleSettings = Field(default_factory=ConsoleSettings)
    log: LogSettings = Field(default_factory=LogSettings)
    #: Key for PHI at rest (`BALINT_DATA_KEY`); never put it in the file.
    data_key: SecretStr | None = None
    #: Older data keys, comma-separated (`BALINT_DATA_KEY_PREVIOUS`), for `keys rotate`.
    data_key_previous: SecretStr | None = None

    #: the file's tables while `load_settings` builds the settings (None: no file)
    _file_data: ClassVar[dict[str, Any] | None] = None

    @model_validator(mode="after")
    def _groups_apart(self) -> Settings:
        """`[group]` or `[[groups]]`; names, meeting numbers and exports folders each belong
        to one group (a group's exports are offered to its own facilitators only)."""
        if not self.groups:
            return self
        if "group" in self.model_fields_set:
            raise ValueError(
                "key group: give either [group] (one group) or [[groups]] (several), not both"
            )
        names: dict[str, int] = {}
        owners: dict[str, int] = {}
        folders: dict[str, int] = {}
        for index, group in enumerate(self.groups):
            key = group.name.strip().casefold()
            if key in names:
                raise ValueError(
                    f"key groups.{index}.name: {group.name!r} is already the name of "
                    f"groups.{names[key]}; each group needs its own name"
                )
            names[key] = index
            if group.exports_dir:
                folder = _folder_key(group.exports_dir)
                if folder in folders:
                    other = folders[folder]
                    raise ValueError(
                        f"key groups.{index}.exports_dir: {group.exports_dir!r} is already the "
                        f"exports folder of group {self.groups[other].name!r} (groups.{other}); "
                        "each group's exports need a folder of their own, which only its "
                        "facilitators are offered"
                    )
                folders[folder] = index
            numbers = group.meeting_numbers()
            if not numbers and len(self.groups) > 1:
                raise ValueError(
                    f"key groups.{index}.meeting_id: group {group.name!r} has no meeting id; "
                    "with several groups each needs its own (webhooks are routed by meeting)"
                )
            for number in numbers:
                if number in owners:
                    raise ValueError(
                        f"key groups.{index}.{group.key_of(number)}: meeting {number} "
                        f"already belongs to group {self.groups[owners[number]].name!r} "
                        f"(groups.{owners[number]}); a meeting belongs to one group"
                    )
                owners[number] = index
        return self

    def all_groups(self) -> tuple[GroupSettings, ...]:
        """Every group of the service: the `[[groups]]` entries, else the one `[group]`."""
        return tuple(self.groups) if self.groups else (self.group,)

    def for_group(self, group: GroupSettings) -> Settings:
        """These settings as seen by one of their groups: `group` is it, `agenda` and
        `billing` are its own (or the file's), it is the only group, and `[console]
        exports_dir` is its own folder.

        That folder is the group's `exports_dir`; else the console's when the service runs
        this one group; else none: with several groups the console's folder would be every
        group's, one group's claims offered to another's facilitators.
        """
        shared = self.console.exports_dir if len(self.all_groups()) == 1 else ""
        return self.model_copy(
            update={
                "group": group,
                "agenda": group.agenda if group.agenda is not None else self.agenda,
                "billing": group.billing if group.billing is not None else self.billing,
                "groups": [],
                "console": self.console.model_copy(
                    update={"exports_dir": group.exports_dir or shared}
                ),
            }
        )

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
        if cls._file_data is not None:
            sources.append(InitSettingsSource(settings_cls, init_kwargs=cls._file_data))
        return tuple(sources)


def _folder_key(folder: str) -> str:
    """`folder` as one spelling: `~` expanded, made absolute, symbolic links followed (as far
    as they exist), `..` and trailing `/` gone."""
    return os.path.realpath(os.path.expanduser(folder))


def load_settings(path: Path | None = None, **overrides: Any) -> Settings:
    """Read settings from `path` (default `./balint-bot.toml` if it exists) and the environment.

    Raises:
        ConfigError: the file is missing (when named explicitly), is not valid TOML, or a key
            is unknown or has the wrong type. The message names the file, key and expectation.
    """
    explicit = path is not None
    toml_path = path if path is not None else DEFAULT_CONFIG_PATH
    source = str(toml_path)
    data: dict[str, Any] | None = None
    if not toml_path.exists():
        if explicit:
            raise ConfigError(f"{source}: no such configuration file")
        source = "built-in defaults and environment"
    else:
        data = _read_toml(toml_path)
    Settings._file_data = data
    try:
        return Settings(**overrides)
    except ValidationError as invalid:
        problems = "; ".join(
            (
                f"key {'.'.join(str(part) for part in err['loc'])}: {err['msg']}"
                if err["loc"]
                else str(err["msg"]).removeprefix("Value error, ")  # names its own key
            )
            + (f" (got {err['input']!r})" if _printable(err) else "")
            for err in invalid.errors()
        )
        raise ConfigError(f"{source}: {problems}") from None
    finally:
        Settings._file_data = None


def _read_toml(path: Path) -> dict[str, Any]:
    """The file's tables. A byte order mark, which Windows' Notepad writes before UTF-8, is
    dropped (TOML itself does not allow one); anything else not UTF-8 is refused.

    Raises:
        ConfigError: the file cannot be read, is not UTF-8 or is not valid TOML.
    """
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as failed:
        raise ConfigError(f"{path}: cannot read ({failed.strerror})") from None
    except UnicodeDecodeError as bad:
        raise ConfigError(f"{path}: not UTF-8 text (byte {bad.start}); save it as UTF-8") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as bad:
        raise ConfigError(f"{path}: not valid TOML: {bad}") from None


def _printable(err: Any) -> bool:
    """Show the offending value unless it may be a secret or is a whole section."""
    loc = ".".join(str(part) for part in err.get("loc", ()))
    secretish = any(word in loc for word in ("secret", "token", "key", "password"))
    return not secretish and isinstance(err.get("input"), str | int | float | bool)
