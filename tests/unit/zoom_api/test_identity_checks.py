"""`doctor` warns when Zoom does not say who people are, and says what the group gives up."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from bot.commands.doctor_cmd import check_config
from bot.config import GroupSettings, Settings
from bot.zoom_api.models import Meeting, MeetingSettings, User
from bot.zoom_api.policy import NAMES_ONLY, check_meeting, fixes_for

BOT = User(id="bot", email="bot@example.org", type=2)
IDENTITY = "Zoom says who people are (registration or sign-in required)"


def identity_check(**settings: object):
    meeting = Meeting(id=1, type=8, settings=MeetingSettings(**settings))  # type: ignore[arg-type]
    [check] = [c for c in check_meeting(meeting, BOT) if c.name == IDENTITY]
    return check, meeting


@pytest.mark.parametrize(
    ("settings", "ok"),
    [
        ({"approval_type": 2}, False),  # no registration, anyone signs in or not
        ({"approval_type": 2, "meeting_authentication": True}, True),
        ({"approval_type": 0}, True),
        ({"approval_type": 1}, True),
    ],
)
def test_the_meeting_must_say_who_people_are(settings, ok):
    check, meeting = identity_check(**settings)
    assert check.ok is ok and check.warn
    assert check.gives_up == NAMES_ONLY
    assert "registrants sync" in check.fix
    # It is a warning: `--fix` repairs it through the registration setting, not by itself.
    assert not check.fixable
    if not ok:
        assert fixes_for(meeting, BOT)["approval_type"] == 0


ROSTER_HEAD = "first_name,last_name,display_name,email,role,registrant_id,health_number,modules\n"


def closed(tmp_path: Path, rows: str, *, closed_modules: bool = True) -> Settings:
    roster = tmp_path / "roster.csv"
    roster.write_text(ROSTER_HEAD + rows, encoding="utf-8")
    return Settings(group=GroupSettings(roster=str(roster), closed_modules=closed_modules))


MODULE_CHECK = "members enrolled in the current module 2026-09 (closed modules)"


def test_a_closed_module_roster_with_nobody_enrolled_is_a_warning(tmp_path):
    settings = closed(tmp_path, "Ann,Lee,Ann,,member,,,2026-01\n")
    [check] = [c for c in check_config(settings, today=date(2026, 10, 7)) if "module" in c.name]
    assert check.name == MODULE_CHECK and not check.ok and check.warn
    assert "admits every active member" in check.gives_up


def test_a_closed_module_roster_with_enrolments_passes(tmp_path):
    settings = closed(tmp_path, "Ann,Lee,Ann,,member,,,2026-01;2026-09\n")
    checks = check_config(settings, today=date(2026, 10, 7))
    assert [c.ok for c in checks if c.name == MODULE_CHECK] == [True]


@pytest.mark.parametrize(
    ("today", "closed_modules"),
    [(date(2026, 7, 15), True), (date(2026, 10, 7), False)],  # summer: no module; open group
)
def test_no_module_check_in_summer_or_for_an_open_group(tmp_path, today, closed_modules):
    settings = closed(tmp_path, "Ann,Lee,Ann,,member,,,\n", closed_modules=closed_modules)
    assert [c for c in check_config(settings, today=today) if "module" in c.name] == []
