"""The one validation of the settings: each check, its key, the commands it stops."""

from __future__ import annotations

import re
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy.exc import IntegrityError, OperationalError

from bot.config import Settings
from bot.errors import ConfigError
from bot.exit_status import database_problem
from bot.validation import problems, require

GOOD: dict[str, Any] = {
    "zoom": {"webhook_secret_tokens": [SecretStr("a" * 22)]},
    "group": {"meeting_id": "857 4606 5432"},
    # issue 17: the Ministry office has no default and the billing physician is required
    "billing": {"provider_number": "123456", "moh_office": "N", "physician": "Fay Leader"},
}


def _settings(**changes: dict[str, Any]) -> Settings:
    sections = {name: dict(values) for name, values in GOOD.items()}
    for name, values in changes.items():
        sections[name] = {**sections.get(name, {}), **values}
    return Settings(**sections)


def test_good_settings_have_no_problem() -> None:
    assert problems(_settings()) == []
    require(_settings(), "serve")


@pytest.mark.parametrize(
    ("changes", "key", "commands"),
    [
        (
            {"agenda": {"meditation_minutes": 60, "length_minutes": 45}},
            "agenda.meditation_minutes",
            ("serve", "simulate"),
        ),
        ({"agenda": {"warning_minutes": [0]}}, "agenda.warning_minutes", ("serve", "simulate")),
        ({"zoom": {"webhook_secret_tokens": []}}, "zoom.webhook_secret_tokens", ("serve",)),
        (
            {"zoom": {"webhook_secret_tokens": [SecretStr("a" * 22), SecretStr("  ")]}},
            "zoom.webhook_secret_tokens[1]",
            ("serve",),
        ),
        ({"group": {"meeting_id": ""}}, "group.meeting_id", ("serve",)),
        ({"group": {"meeting_id": "1234"}}, "group.meeting_id", ("serve",)),
        ({"group": {"meeting_id": "８５７４６０６５４３２"}}, "group.meeting_id", ("serve",)),
        ({"server": {"trusted_proxies": ["10.0.0.0/33"]}}, "server.trusted_proxies[0]", ("serve",)),
        ({"storage": {"url": "postgres://db/x"}}, "storage.url", ("serve", "exports")),
        ({"storage": {"url": "postgresql+asyncpg://db/x"}}, "storage.url", ("serve", "exports")),
        ({"billing": {"provider_number": "12345"}}, "billing.provider_number", ("exports",)),
        ({"billing": {"moh_office": ""}}, "billing.moh_office", ("exports",)),
        ({"billing": {"physician": " "}}, "billing.physician", ("exports",)),
    ],
)
def test_each_problem_names_its_key_and_the_commands_it_stops(
    changes: dict[str, Any], key: str, commands: tuple[str, ...]
) -> None:
    [found] = problems(_settings(**changes))
    assert (found.key, found.commands) == (key, commands)
    for command in ("serve", "simulate", "exports"):
        if command in commands:
            with pytest.raises(ConfigError, match="key " + re.escape(key)):
                require(_settings(**changes), command)
        else:
            require(_settings(**changes), command)


def test_ipv6_proxies_and_networks_are_accepted() -> None:
    assert problems(_settings(server={"trusted_proxies": ["::1", "fd00::/8", "10.0.0.5"]})) == []


def test_a_secret_is_never_quoted() -> None:
    found = problems(_settings(zoom={"webhook_secret_tokens": [SecretStr("hunter2")]}))
    assert found and all("hunter2" not in str(problem) for problem in found)


def test_a_time_zone_that_does_not_exist_is_refused_on_load() -> None:
    with pytest.raises(ValueError, match="time zone"):
        Settings(group={"timezone": "America/Nowhere"})


@pytest.mark.parametrize(
    ("billing", "key"),
    [
        ({"moh_office": "NN"}, "billing.moh_office"),
        ({"modality_item": "K300A"}, "billing.modality_item"),
    ],
)
def test_billing_values_no_export_takes_are_refused_on_load(
    billing: dict[str, str], key: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(key)):
        _settings(billing=billing)


def test_a_start_time_with_a_zone_of_its_own_is_refused_on_load() -> None:
    with pytest.raises(ValueError, match="group.start_time"):
        _settings(group={"start_time": "19:00:00+01:00"})


def test_database_errors_are_one_line_without_values() -> None:
    class Refused(Exception):
        pass

    unreachable = OperationalError(
        "SELECT 1", {}, Refused("connection refused\nIs the server running?")
    )
    assert database_problem(unreachable) == "connection refused (Refused)"
    missing = OperationalError("SELECT x", {}, Refused("no such table: members"))
    assert "run `balint-bot db upgrade`" in database_problem(missing)
    clash = IntegrityError("INSERT", {}, Refused("duplicate key (email)=(anna@example.org)"))
    assert database_problem(clash) == "Refused"  # the kind only: such messages quote values
