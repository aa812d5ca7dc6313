"""One validation of the settings: what `serve`, `simulate` and the exports check, by key.

`load_settings` refuses what is wrong for every command, naming the key: an unknown key, a
wrong type or range, a time zone that does not exist, a calendar that contradicts itself
(`[group.calendar]`, a start time with a zone of its own; see `bot.config`). So every
command, `config check` included, builds the group's calendar (`bot.calendar`) from settings
already checked. What only some commands need is checked here, once:
`problems(settings)` lists every problem with the key it is about and the commands it
stops; `serve` and the exports call `require(settings, command)` before they start, and
`balint-bot config check` prints them all. `simulate` builds the agenda with the same
functions (`bot.agenda`) when its scenario uses the settings' agenda.

- `agenda.*` (serve, simulate): the agenda is consistent (the meditation shorter than the
  group, warnings inside it, ...); `agenda.messages`: overrides name known lines;
- `zoom.webhook_secret_tokens` (serve): at least one, each of 16 characters or more;
- `group.meeting_id` (serve): the group's Zoom meeting number, 9 to 12 digits;
- `server.trusted_proxies` (serve): IP addresses or networks;
- `storage.url` (serve, exports): a database URL whose driver is installed;
- `billing.*` (exports): what a claims file needs (`storage.billing.claims.BillingOptions`:
  a provider number of 6 digits, the Ministry office, the billing physician, ...).
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Callable, Sequence

from bot.agenda import agenda_from_settings, messages_from_settings
from bot.config import Settings
from bot.errors import BalintError, ConfigError
from storage.billing.claims import BillingOptions

__all__ = ["COMMANDS", "MIN_SECRET_LENGTH", "Problem", "problems", "require"]

#: The commands whose settings are checked here.
COMMANDS = ("serve", "simulate", "exports")
#: Shortest webhook Secret Token accepted (Zoom issues 22 characters).
MIN_SECRET_LENGTH = 16


@dataclasses.dataclass(frozen=True, slots=True)
class Problem:
    """One setting that stops `commands` from running; `message` never quotes a secret."""

    key: str
    message: str
    commands: tuple[str, ...]

    def __str__(self) -> str:
        return f"key {self.key}: {self.message}"


def problems(settings: Settings, command: str | None = None) -> list[Problem]:
    """Every problem of `settings`, or only those that stop `command`."""
    found = [problem for check in _CHECKS for problem in check(settings)]
    return [p for p in found if command is None or command in p.commands]


def _per_group(settings: Settings, check: Callable[[Settings], list[Problem]]) -> list[Problem]:
    """`check` on each group's own view of the settings; a key of a group's own `agenda` or
    `billing` table is named inside it (`groups.1.billing.provider_number`)."""
    if not settings.groups:
        return check(settings)
    found: list[Problem] = []
    for index, group in enumerate(settings.groups):
        for problem in check(settings.for_group(group)):
            section = problem.key.split(".", 1)[0].split("[", 1)[0]
            own = getattr(group, section, None) is not None and section in ("agenda", "billing")
            if own:
                problem = dataclasses.replace(problem, key=f"groups.{index}.{problem.key}")
            if problem not in found:
                found.append(problem)
    return found


def require(settings: Settings, command: str) -> None:
    """Raise if the settings stop `command`.

    Raises:
        ConfigError: naming every key at fault.
    """
    found = problems(settings, command)
    if found:
        raise ConfigError("; ".join(str(problem) for problem in found))


def _agenda(settings: Settings) -> list[Problem]:
    found: list[Problem] = []
    for build in (agenda_from_settings, messages_from_settings):
        try:
            build(settings)
        except BalintError as bad:
            key, _, message = str(bad).removeprefix("settings: ").partition(": ")
            if not message:
                key, message = "agenda", key
            found.append(Problem(key, message, ("serve", "simulate")))
    return found


def _secrets(settings: Settings) -> list[Problem]:
    tokens = [token.get_secret_value() for token in settings.zoom.webhook_secret_tokens]
    key = "zoom.webhook_secret_tokens"
    if not tokens:
        return [
            Problem(
                key,
                "empty: copy the event subscription's Secret Token here "
                "(every webhook would be refused)",
                ("serve",),
            )
        ]
    return [
        Problem(
            f"{key}[{index}]",
            f"{'empty' if not token.strip() else 'too short'}: a Secret Token has at least "
            f"{MIN_SECRET_LENGTH} characters (Zoom's have 22)",
            ("serve",),
        )
        for index, token in enumerate(tokens)
        if len(token.strip()) < MIN_SECRET_LENGTH
    ]


def _meeting(settings: Settings) -> list[Problem]:
    problems: list[Problem] = []
    several = bool(settings.groups)
    for index, group in enumerate(settings.all_groups()):
        where = f"groups.{index}" if several else "group"
        texts = [("meeting_id", group.meeting_id)] if group.meeting_id.strip() else []
        texts += [(f"meeting_ids[{i}]", text) for i, text in enumerate(group.meeting_ids)]
        if not texts:
            problems.append(
                Problem(
                    f"{where}.meeting_id",
                    "empty: set it to the group's Zoom meeting number; events of other "
                    "meetings are never stored",
                    ("serve",),
                )
            )
        for key, text in texts:
            digits = "".join(character for character in text if character.isdigit())
            if not all(c.isascii() and (c.isdigit() or c in " -") for c in text) or not (
                9 <= len(digits) <= 12
            ):
                problems.append(
                    Problem(
                        f"{where}.{key}",
                        f"{text!r} is not a Zoom meeting number (9 to 12 digits)",
                        ("serve",),
                    )
                )
    return problems


def _proxies(settings: Settings) -> list[Problem]:
    found: list[Problem] = []
    for index, entry in enumerate(settings.server.trusted_proxies):
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            found.append(
                Problem(
                    f"server.trusted_proxies[{index}]",
                    f"{entry!r} is not an IP address or network (like 10.0.0.5 or 10.0.0.0/24)",
                    ("serve",),
                )
            )
    return found


def _storage(settings: Settings) -> list[Problem]:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    url = settings.storage.url
    try:
        dialect = make_url(url).get_dialect()
        dialect.import_dbapi()
    except (ArgumentError, NoSuchModuleError, ValueError):
        message = "not a database URL balint-bot knows (sqlite:///FILE or postgresql+psycopg://...)"
    except ImportError:
        message = (
            "its database driver is not installed (PostgreSQL: pip install 'balint-bot[postgres]')"
        )
    else:
        return []
    return [Problem("storage.url", message, ("serve", "exports"))]


def _billing(settings: Settings) -> list[Problem]:
    try:
        BillingOptions.from_settings(settings.billing)
    except BalintError as bad:
        text = str(bad).removeprefix("billing settings: ")
        return [
            Problem(f"billing.{part.split(' ', 1)[0]}", part.split(" ", 1)[1], ("exports",))
            for part in text.split("; ")
        ]
    return []


def _agendas(settings: Settings) -> list[Problem]:
    return _per_group(settings, _agenda)


def _billings(settings: Settings) -> list[Problem]:
    return _per_group(settings, _billing)


_CHECKS: Sequence[Callable[[Settings], list[Problem]]] = (
    _agendas,
    _secrets,
    _meeting,
    _proxies,
    _storage,
    _billings,
)
