"""`balint-bot sessions plan|cancel|move|add` end to end through `bot.cli.main`.

The clock is a `HandClock` at Sunday 29 November 2026; the group is seed 000's (Wednesdays
at 19:00 Toronto, modules from September, January and April, none in July and August).
"""

from __future__ import annotations

import json

import pytest
from sqlalchemy.orm import Session

from bot.cli import main
from storage import calendar as stored
from storage.db import make_engine
from tests.clock import HandClock

SETTINGS = """
[storage]
url = "{url}"
[group]
name = "Ontario"
timezone = "America/Toronto"
weekday = "wednesday"
start_time = "19:00:00"
[group.calendar]
modules = [{{ start_month = 9, sessions = 16 }}, {{ start_month = 1 }}, {{ start_month = 4 }}]
breaks = ["july-august", "12-21..01-03"]
holidays = ["2026-12-16"]
"""


@pytest.fixture
def cli(db_url, tmp_path):
    config = tmp_path / "balint-bot.toml"
    config.write_text(SETTINGS.format(url=db_url))

    def run(*argv: str) -> int:
        return main(["--config", str(config), *argv], clock=HandClock())

    return run


def _overrides(db_url: str):
    engine = make_engine(db_url)
    try:
        with Session(engine) as session:
            return stored.overrides(session, group_name="Ontario")
    finally:
        engine.dispose()


def test_plan_shows_the_coming_sessions(cli, capsys) -> None:
    assert cli("sessions", "plan", "--count", "4") == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "Ontario (America/Toronto): weekly on Wednesday at 19:00, 105 minutes",
        "date        day  start  end    status     module   no.  note",
        "2026-12-02  Wed  19:00  20:45  planned    2026-09   14",
        "2026-12-09  Wed  19:00  20:45  planned    2026-09   15",
        "2026-12-16  Wed  19:00  20:45  cancelled  2026-09       holiday",
        "2027-01-06  Wed  19:00  20:45  planned    2027-01    1",
    ]


def test_cancel_move_and_add_then_plan(cli, capsys, db_url) -> None:
    assert cli("sessions", "cancel", "2026-12-02") == 0
    assert cli("sessions", "move", "2026-12-09", "--to", "2026-12-10 19:30") == 0
    assert cli("sessions", "add", "2027-01-13T10:00-05:00", "--group", "Ontario") == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "cancelled the session of Wed 2026-12-02 19:00",
        "moved the session of Wed 2026-12-09 19:00 to Thu 2026-12-10 19:30",
        "  note: 2026-12-10 19:30 read as America/Toronto time",
        "added a session on Wed 2027-01-13 10:00",
    ]
    assert cli("sessions", "plan", "--from", "2026-12-01", "--to", "2027-01-13", "--jsonl") == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["date"], r["status"], r["number"], r["note"]) for r in rows] == [
        ("2026-12-02", "cancelled", 14, "cancelled"),
        ("2026-12-10", "moved", 15, ""),
        ("2026-12-16", "cancelled", None, "holiday"),
        ("2027-01-06", "planned", 1, ""),
        ("2027-01-13", "added", None, ""),
        ("2027-01-13", "planned", 2, ""),
    ]
    assert rows[1] == {
        "group": "Ontario",
        "date": "2026-12-10",
        "start": "2026-12-10T19:30:00-05:00",
        "end": "2026-12-10T21:15:00-05:00",
        "status": "moved",
        "module": "2026-09",
        "number": 15,
        "moved_from": "2026-12-09T19:00:00-05:00",
        "note": "",
    }
    assert cli("sessions", "plan", "--from", "2026-12-10", "--to", "2026-12-10") == 0
    assert "from Wed 2026-12-09 19:00" in capsys.readouterr().out
    assert len(_overrides(db_url)) == 3


def test_a_cancelled_session_is_restored_by_adding_it(cli, capsys, db_url) -> None:
    assert cli("sessions", "cancel", "2026-12-09") == 0
    assert cli("sessions", "add", "2026-12-09 19:00") == 0
    assert "restored the cancelled session of Wed 2026-12-09 19:00" in capsys.readouterr().out
    assert _overrides(db_url) == ()


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        (("cancel", "2026-12-03"), "no session is planned on Thu 2026-12-03 (the group meets"),
        (("cancel", "2026-12-16"), "2026-12-16 is a holiday: no session"),
        (("cancel", "2027-07-14"), "2027-07-14 is in the group's break (july-august): no session"),
        (("cancel", "2026-12-23"), "2026-12-23 is in the group's break (12-21..01-03)"),
        (("cancel", "2026-11-25"), "has begun: too late to cancel it"),
        (("cancel", "9 December"), "'9 December' is not a date (2026-12-09) or a date and time"),
        (("move", "2026-12-09", "--to", "2027-01-06 19:00"), "already a session of the group"),
        (("move", "2026-12-09", "--to", "2026-12-02 20:00"), "is too close to the session"),
        (("move", "2026-12-09", "--to", "next thursday"), "is not a date and time"),
        (("move", "2026-12-09", "--to", "2026-12-10"), "has no time"),
        (("move", "2026-12-09", "--to", "2027-03-14 02:30"), "does not exist in America/Toronto"),
        (("add", "2026-11-28 19:00"), "Sat 2026-11-28 19:00 is in the past"),
        (("add", "2026-11-01 01:30"), "happens twice in America/Toronto"),
        (("add", "9999-12-29 19:00"), "9999-12-29 is more than three years ahead"),
        (("cancel", "0001-01-01"), "0001-01-01 is long past"),
        (("add", "2026-12-09 19:00", "--group", "Monthly"), "no group called 'Monthly'"),
        (("plan", "--group", "Monthly"), "no group called 'Monthly'"),
    ],
)
def test_bad_input_gets_one_line_and_changes_nothing(cli, capsys, db_url, argv, error) -> None:
    assert cli("sessions", "move", "2027-01-20", "--to", "2027-01-21 19:00") == 0
    before = _overrides(db_url)
    capsys.readouterr()
    assert cli("sessions", *argv) == 1
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("balint-bot: ")
    assert error in lines[0]
    assert captured.out == ""
    assert _overrides(db_url) == before


def test_plan_rejects_a_range_backwards_or_beyond_ten_years(cli, capsys) -> None:
    assert cli("sessions", "plan", "--from", "2027-01-10", "--to", "2027-01-01") == 2
    assert "--to is before --from" in capsys.readouterr().err
    assert cli("sessions", "plan", "--to", "2040-01-01") == 2
    assert "at most ten years at a time" in capsys.readouterr().err
    assert cli("sessions", "plan", "--from", "2999-12-01") == 1
    assert "the calendar covers 1900 to 2999" in capsys.readouterr().err


def test_plan_in_the_break_says_there_is_nothing(cli, capsys) -> None:
    assert cli("sessions", "plan", "--from", "2027-07-01", "--to", "2027-08-31") == 0
    assert capsys.readouterr().out.splitlines()[-1] == "no sessions planned in that range"


def test_sessions_list_still_lists_recorded_sessions(cli, capsys) -> None:
    assert cli("sessions", "list", "--group", "Ontario") == 0
    assert capsys.readouterr().out == "no sessions recorded\n"
