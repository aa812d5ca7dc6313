"""The SDK bot's windows follow the group's calendar: a monthly group's first Thursday, no
window in the summer break, none on a holiday."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.config import AgendaSettings, GroupSettings, Settings
from bot.errors import ConfigError
from bot.meeting.supervisor import session_window


def test_a_monthly_group_gets_its_bot_on_the_first_thursday_only() -> None:
    settings = Settings(
        group=GroupSettings(
            timezone="America/Los_Angeles",
            start_time="18:45",  # type: ignore[arg-type]
            calendar={"cadence": "monthly", "day": "first thursday", "breaks": []},  # type: ignore[arg-type]
        ),
        agenda=AgendaSettings(opens_minutes_before=10, length_minutes=90, reflection_minutes=0),
    )
    after_the_first = datetime(2027, 1, 8, 12, 0, tzinfo=UTC)
    opens, closes = session_window(settings, after_the_first)
    assert opens == datetime(2027, 2, 5, 2, 35, tzinfo=UTC)  # Thu 4 February, 18:35 PST
    assert closes == datetime(2027, 2, 5, 4, 25, tzinfo=UTC)  # + 90 + 10 minutes


def test_no_window_in_the_summer_break_or_on_a_holiday() -> None:
    settings = Settings(
        group=GroupSettings(calendar={"holidays": ["2027-09-01"]}),  # type: ignore[arg-type]
    )
    opens, _ = session_window(settings, datetime(2027, 7, 1, 12, 0, tzinfo=UTC))
    assert opens == datetime(2027, 9, 8, 22, 45, tzinfo=UTC)  # Wed 8 September, 18:45 EDT


def test_a_calendar_without_sessions_is_a_configuration_error() -> None:
    settings = Settings(group=GroupSettings(calendar={"breaks": ["january-december"]}))  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="no session"):
        session_window(settings, datetime(2027, 1, 1, tzinfo=UTC))
