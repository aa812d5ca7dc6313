"""`[group.calendar]`: defaults, validation with one clear message, the bridge to the pure
calendar, and the two seed groups of docs/configuration.md as complete, working examples."""

from __future__ import annotations

import re
import tomllib
from datetime import date, time, timedelta
from pathlib import Path

import pytest

from bot.calendar import calendar_from_settings
from bot.cli import main
from bot.config import AgendaSettings, GroupSettings, Settings, load_settings
from bot.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def _load(tmp_path: Path, text: str) -> Settings:
    path = tmp_path / "c.toml"
    path.write_text(text, encoding="utf-8")
    return load_settings(path)


def test_a_file_without_a_calendar_keeps_its_weekday_and_start_time(tmp_path: Path) -> None:
    settings = _load(tmp_path, '[group]\nweekday = "thursday"\nstart_time = "18:30:00"\n')
    calendar = calendar_from_settings(settings.group, settings.agenda)
    assert calendar.describe() == "weekly on Thursday at 18:30"
    assert (calendar.weekday, calendar.start_time) == (3, time(18, 30))
    assert calendar.length == timedelta(minutes=105)
    # the Ontario group's defaults: modules from September, January, April; no summer
    assert [rule.start_month for rule in calendar.modules] == [1, 4, 9]
    assert [row.day for row in calendar.plan(date(2027, 6, 20), date(2027, 9, 5))] == [
        date(2027, 6, 24),
        date(2027, 9, 2),
    ]


def test_breaks_empty_meets_in_summer_too(tmp_path: Path) -> None:
    settings = _load(tmp_path, "[group.calendar]\nbreaks = []\n")
    calendar = calendar_from_settings(settings.group, settings.agenda)
    assert len(calendar.plan(date(2027, 7, 1), date(2027, 8, 31))) == 8  # every Wednesday


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[group.calendar]\nbreaks = ["julyy"]', "group.calendar.breaks: Value error, 'julyy'"),
        ('[group.calendar]\nholidays = ["2027-02-30"]', "not a real date"),
        ('[group.calendar]\ncadence = "monthly"', "monthly cadence needs its day"),
        ('[group.calendar]\ncadence = "fortnightly"', "group.calendar.cadence"),
        ('[group.calendar]\nday = "first thursday"', "day is for a monthly cadence"),
        ('[group.calendar]\ncadence = "monthly"\nday = "fifth monday"', "not a day of the month"),
        (
            '[group]\nweekday = "wednesday"\n[group.calendar]\ncadence = "monthly"\n'
            'day = "first thursday"',
            "weekday is wednesday but calendar.day is 'first thursday'",
        ),
        (
            "[group.calendar]\nmodules = [{ start_month = 9 }, { start_month = 9 }]",
            "two modules start in the same month",
        ),
        ("[group.calendar]\nmodules = [{ start_month = 13 }]", "start_month"),
        ("[group.calendar]\nmodules = [{ start_month = 1, sessions = 0 }]", "sessions"),
        ("[group.calendar]\nmatch_before_minutes = -5", "match_before_minutes"),
        ("[group.calendar]\nweekly = true", "weekly"),
    ],
)
def test_a_bad_calendar_is_one_clear_configuration_error(
    tmp_path: Path, text: str, message: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        _load(tmp_path, text)
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)


def test_a_monthly_group_may_name_its_day_alone_or_agree_with_its_weekday(tmp_path: Path):
    for head in ("", 'weekday = "thursday"\n'):
        settings = _load(
            tmp_path,
            f'[group]\n{head}[group.calendar]\ncadence = "monthly"\nday = "first thursday"\n',
        )
        calendar = calendar_from_settings(settings.group, settings.agenda)
        assert calendar.describe() == "monthly on the first Thursday of each month at 19:00"


def test_the_environment_may_override_the_calendar(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("BALINT_GROUP__CALENDAR__BREAKS", "[]")
    settings = _load(tmp_path, "")
    assert settings.group.calendar.breaks == []


def test_the_window_opens_at_the_social_opening_at_the_latest() -> None:
    group = GroupSettings(calendar={"match_before_minutes": 5})  # type: ignore[arg-type]
    calendar = calendar_from_settings(group, AgendaSettings(opens_minutes_before=20))
    assert calendar.early == timedelta(minutes=20)
    calendar = calendar_from_settings(GroupSettings(), AgendaSettings(opens_minutes_before=20))
    assert calendar.early == timedelta(minutes=60)


def test_an_unknown_time_zone_is_a_configuration_error(tmp_path: Path, capsys) -> None:
    # refused on load by the one rule of bot.config (issue 15), naming the key and the zone
    path = tmp_path / "c.toml"
    path.write_text('[group]\ntimezone = "America/Atlantis"\n', encoding="utf-8")
    assert main(["--config", str(path), "config", "check"]) == 2
    err = capsys.readouterr().err
    assert "key group.timezone" in err and "not an IANA time zone" in err
    assert "'America/Atlantis'" in err


def test_config_check_says_when_the_group_meets(tmp_path: Path, capsys) -> None:
    # a file serve, simulate and the exports all accept (config check runs their checks)
    path = tmp_path / "c.toml"
    path.write_text(
        '[zoom]\nwebhook_secret_tokens = ["' + "s" * 22 + '"]\n'
        '[group]\nname = "G"\nmeeting_id = "85746065432"\n'
        '[billing]\nprovider_number = "123456"\nmoh_office = "N"\nphysician = "Fay Leader"\n',
        encoding="utf-8",
    )
    assert main(["--config", str(path), "config", "check"]) == 0
    assert capsys.readouterr().out == (
        "configuration ok for serve, simulate, exports (group 'G', weekly on Wednesday at 19:00)\n"
    )


def _docs_examples() -> list[str]:
    text = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    return re.findall(r"```toml\n(.*?)```", text, re.S)


def test_the_seed_groups_in_the_reference_are_complete_valid_settings(tmp_path: Path) -> None:
    ontario_text, monthly_text, _both = _docs_examples()
    ontario = _load(tmp_path, ontario_text)
    assert tomllib.loads(ontario_text)["group"]["calendar"]  # written out, not defaulted
    calendar = calendar_from_settings(ontario.group, ontario.agenda)
    autumn = [r for r in calendar.plan(date(2026, 9, 1), date(2026, 12, 31)) if r.live]
    assert len(autumn) == 13  # 30 September is a holiday: the module ends a week later
    assert (autumn[0].day, autumn[-1].day) == (date(2026, 9, 2), date(2026, 12, 2))
    assert calendar.plan(date(2027, 7, 1), date(2027, 8, 31)) == ()
    assert ontario.agenda.length_minutes == 105 and ontario.agenda.reflection_minutes == 15

    monthly = _load(tmp_path, monthly_text)
    calendar = calendar_from_settings(monthly.group, monthly.agenda)
    assert monthly.agenda.length_minutes == 90
    rows = calendar.plan(date(2027, 1, 1), date(2027, 12, 31))
    assert [r.day.month for r in rows] == [1, 2, 3, 4, 9, 10, 11, 12]
    assert all(r.day.weekday() == 3 and r.day.day <= 7 for r in rows)  # first Thursdays
    assert f"{rows[0].start:%H:%M %Z}" == "18:45 PST"


def test_the_reference_file_of_both_groups_is_each_group_as_its_own_file(tmp_path: Path) -> None:
    """`[[groups]]` holds the two seed groups exactly as their files of one group do: each
    group's own view (`Settings.for_group`) has the same group, calendar, agenda and billing."""
    ontario_text, monthly_text, both_text = _docs_examples()
    assert "[[groups]]" in both_text
    both = _load(tmp_path, both_text)
    assert len(both.all_groups()) == 2
    for alone_text, group in zip((ontario_text, monthly_text), both.all_groups(), strict=True):
        alone, own = _load(tmp_path, alone_text), both.for_group(group)
        mine = own.group.model_dump(exclude={"agenda", "billing", "meeting_id", "meeting_ids"})
        assert mine == alone.group.model_dump(
            exclude={"agenda", "billing", "meeting_id", "meeting_ids"}
        )
        assert own.group.meeting_numbers() == alone.group.meeting_numbers()
        assert (own.agenda, own.billing) == (alone.agenda, alone.billing)
        start, end = date(2026, 9, 1), date(2027, 12, 31)
        assert calendar_from_settings(own.group, own.agenda).plan(start, end) == (
            calendar_from_settings(alone.group, alone.agenda).plan(start, end)
        )


def test_the_monthly_example_file_meets_on_the_first_thursday() -> None:
    settings = load_settings(ROOT / "examples" / "monthly-two-leaders.toml")
    calendar = calendar_from_settings(settings.group, settings.agenda)
    (row,) = calendar.plan(date(2027, 2, 1), date(2027, 2, 28))
    assert row.day == date(2027, 2, 4)
