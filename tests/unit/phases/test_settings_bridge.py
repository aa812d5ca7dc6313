"""`bot.agenda`: the settings become the engine's agenda and message overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.agenda import agenda_from_settings, messages_from_settings
from bot.config import Settings
from bot.errors import ConfigError
from phases.agenda import Agenda

ROOT = Path(__file__).resolve().parents[3]


def test_defaults_give_the_default_agenda():
    assert agenda_from_settings(Settings()) == Agenda()
    assert messages_from_settings(Settings()) == {}


def test_values_and_bot_name_carry_over():
    settings = Settings(
        agenda={"meditation_minutes": 0, "length_minutes": 60, "warning_minutes": [5]},
        zoom={"bot_name": "Helper"},
    )
    agenda = agenda_from_settings(settings)
    assert (agenda.meditation_minutes, agenda.length_minutes) == (0, 60)
    assert agenda.warning_minutes == (5,)
    assert agenda.bot_name == "Helper"


def test_the_groups_admission_rule_reaches_the_engine():
    assert agenda_from_settings(Settings()).admit_by_name is True
    assert agenda_from_settings(Settings(group={"admit_by_name": False})).admit_by_name is False


def test_the_monthly_example_group_is_configuration_only():
    from bot.config import load_settings

    settings = load_settings(ROOT / "examples" / "monthly-two-leaders.toml")
    agenda = agenda_from_settings(settings)
    assert agenda.meditation_minutes == 0 and agenda.max_cases == 1
    assert agenda.length_minutes == 60 and not agenda.enforce_mirror


def test_inconsistent_agenda_is_a_config_error():
    settings = Settings(agenda={"length_minutes": 30, "warning_minutes": [45]})
    with pytest.raises(ConfigError, match="warning_minutes"):
        agenda_from_settings(settings)


def test_message_overrides_are_checked():
    good = Settings(agenda={"messages": {"case_call": "Qui a un cas ?"}})
    assert messages_from_settings(good) == {"case_call": "Qui a un cas ?"}
    with pytest.raises(ConfigError, match="no_such"):
        messages_from_settings(Settings(agenda={"messages": {"no_such": "x"}}))
