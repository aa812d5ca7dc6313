"""`balint-bot demo` end to end: the built-in evening's timeline and attendance, checked.

The demo runs once per module on the real path (signed webhooks over HTTP to the service on
loopback, SQLite journal, durable runtime, simulated meeting); the tests then read its
timeline (observed from the meeting, the action log and the runtime's phase log) and the
attendance the service stored, against what the scenario says should happen.
"""

from __future__ import annotations

import asyncio
import csv
import os
import stat
import time
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.cli import main
from bot.commands.demo_cmd import latest_past
from bot.demo import BUILTIN_SCENARIO
from bot.demo.report import Palette, render_attendance, render_records
from bot.demo.session import AttendanceRow, DemoReport, run_demo
from bot.simulation.driver import run_scenario
from bot.simulation.scenario import load_scenario
from bot.simulation.world import zone_for
from phases.commands import AdmitCmd, parse
from tests.clock import TEST_NOW, HandClock

START_OF_DISCUSSION_1 = 33 * 60
ANNA_UNMUTES = 41 * 60
MEDITATION_END = 10 * 60


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[DemoReport, float]:
    scenario = load_scenario(BUILTIN_SCENARIO)
    out = tmp_path_factory.mktemp("demo")
    began = time.monotonic()
    report = asyncio.run(run_demo(scenario, out_dir=out))
    return report, time.monotonic() - began


def _records(report: DemoReport, kind: str) -> list[dict[str, Any]]:
    return [r for r in report.run.timeline.records if r["kind"] == kind]


def _actions(report: DemoReport, action: str, target: str | None = None) -> list[dict[str, Any]]:
    return [
        r
        for r in _records(report, "action")
        if r["action"] == action and (target is None or r.get("target") == target)
    ]


def _row(report: DemoReport, name: str) -> AttendanceRow:
    (row,) = [r for r in report.attendance if r.name == name]
    return row


def test_the_demo_finishes_in_under_a_minute_with_every_webhook_journaled(demo):
    report, elapsed = demo
    assert elapsed < 60
    run = report.run
    assert run.webhooks_failed == 0
    assert run.webhooks_sent == len(_records(report, "zoom")) > 50
    assert run.journaled == run.webhooks_sent
    assert run.url.startswith("http://127.0.0.1:")


def test_the_phases_follow_the_agenda_with_two_cases(demo):
    report, _ = demo
    assert report.run.phases == [
        "meditation",
        "case_call",
        "presentation",
        "questions",
        "discussion",
        "return",
        "presentation",
        "questions",
        "discussion",
        "return",
        "closing",
        "ended",
    ]
    starts = {(r["from"], r["to"]): r["t"] for r in _records(report, "phase")}
    assert starts[("social", "meditation")] == 0.0
    assert starts[("meditation", "case_call")] == MEDITATION_END
    assert starts[("return", "closing")] == 105 * 60
    chats = [r["text"] for r in _actions(report, "send_chat")]
    assert any("Anna" in text and text.startswith("Thank you") for text in chats)
    assert any("Chloe" in text and text.startswith("Thank you") for text in chats)


def test_latecomers_wait_and_are_admitted_exactly_when_the_meditation_ends(demo):
    report, _ = demo
    for name, arrives in (("Grace", 3 * 60), ("Hugo", 6 * 60)):
        joins = [r for r in _records(report, "person") if r["name"] == name]
        assert joins[0]["t"] == arrives
        waiting = [
            r
            for r in _records(report, "zoom")
            if r.get("name") == name and r["event"] == "meeting.participant_joined_waiting_room"
        ]
        assert [r["t"] for r in waiting] == [arrives]
        admits = _actions(report, "admit", name)
        assert [(r["t"], r["ok"]) for r in admits] == [(MEDITATION_END, True)]
        row = _row(report, name)
        assert row.late and row.present
        assert row.first_join == MEDITATION_END
        assert row.waiting_minutes == (MEDITATION_END - arrives) // 60


def test_the_unknown_guest_is_never_admitted_and_the_facilitators_are_told(demo):
    report, _ = demo
    guest = "Guest 4165550199"
    assert _actions(report, "admit", guest) == []
    told = [
        r for r in _actions(report, "send_chat") if r["to"] == "facilitators" and guest in r["text"]
    ]
    assert len(told) == 1 and told[0]["t"] == 12 * 60
    row = _row(report, guest)
    assert row.role == "guest"
    assert row.minutes == 0 and row.first_join is None and not row.present
    assert row.waiting_minutes == 100 - 12


def test_the_presenter_goes_behind_the_mirror_and_is_invited_back(demo):
    report, _ = demo
    assert [r["t"] for r in _actions(report, "mute", "Anna")][0] == START_OF_DISCUSSION_1
    assert [r["t"] for r in _actions(report, "stop_video", "Anna")] == [START_OF_DISCUSSION_1]
    assert [r["t"] for r in _actions(report, "ask_unmute", "Anna")] == [58 * 60]
    assert [r["t"] for r in _actions(report, "mute", "Chloe")] == [78 * 60]


def test_the_presenter_cannot_unmute_herself_behind_the_mirror(demo):
    report, _ = demo
    unmuted = [r for r in _records(report, "person") if r["do"] == "unmute"]
    assert [(r["name"], r["t"], r["ok"]) for r in unmuted] == [("Anna", ANNA_UNMUTES, False)]
    # Muted without self-unmute, and video restarts forbidden, until the return.
    switches = [(r["t"], r["unmute"], r["video"]) for r in _actions(report, "allow_self_media")]
    assert switches[:2] == [(START_OF_DISCUSSION_1, None, False), (58 * 60, True, True)]
    assert [r["t"] for r in _actions(report, "mute", "Anna")] == [START_OF_DISCUSSION_1]


def test_the_member_who_drops_and_rejoins_has_both_stays_summed(demo):
    report, _ = demo
    row = _row(report, "Ben")
    # -10:00 .. 47:00 and 50:00 .. 106:00 (the end): 57 + 56 minutes.
    assert row.minutes == 57 + 56
    assert row.first_join == -10 * 60 and row.last_leave == 106 * 60
    assert not row.late


def test_stored_attendance_agrees_with_the_simulated_zoom_for_everyone(demo):
    report, _ = demo
    zoom = {r["name"]: r["minutes"] for r in _records(report, "attendance")}
    scenario = load_scenario(BUILTIN_SCENARIO)
    for person in scenario.persons:
        row = _row(report, person.name)
        assert abs(row.minutes - zoom[person.name]) <= 1, person.name
        assert row.role == person.role
    present = {r.name for r in report.attendance if r.present and r.role == "member"}
    assert present == {p.name for p in scenario.persons if p.role == "member"}


def test_the_billing_worksheet_lists_every_member_and_is_private(demo):
    report, _ = demo
    assert report.worksheet is not None, report.worksheet_error
    assert stat.S_IMODE(os.stat(report.worksheet).st_mode) == 0o600
    with report.worksheet.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert report.worksheet_rows == len(rows) == 8
    assert {row["first_name"] for row in rows} == {
        "Anna",
        "Ben",
        "Chloe",
        "David",
        "Esther",
        "Farid",
        "Grace",
        "Hugo",
    }
    assert {row["group_size"] for row in rows} == {"8"}
    assert {row["window_basis"] for row in rows} == {"phases"}  # the runtime's phase log
    assert {row["physician"] for row in rows} == {"Helen Okafor"}
    assert report.database.exists() and report.database.parent == report.out_dir


def test_the_command_prints_the_timeline_the_table_and_the_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    status = main(["demo", "--out", str(out), "--no-color"], clock=HandClock())
    printed = capsys.readouterr().out
    assert status == 0
    assert "\x1b[" not in printed
    assert "== MEDITATION ==" in printed
    assert "admit Grace" in printed
    assert "Attendance (stored by the service" in printed
    assert f"billing worksheet  {out / 'billing-worksheet.csv'}" in printed
    assert "all answered 200" in printed
    assert "Balint Companion  " not in printed.split("Attendance")[1].split("Summary")[0]


def test_a_bad_scenario_exits_2_before_anything_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[meeting]\nstart = "not a time"\n', encoding="utf-8")
    out = tmp_path / "out"
    assert main(["demo", "--scenario", str(bad), "--out", str(out)], clock=HandClock()) == 2
    assert "bad scenario" in capsys.readouterr().err
    assert not out.exists()


def test_colour_only_when_asked():
    records = [
        {"t": 0.0, "kind": "phase", "from": "social", "to": "meditation"},
        {"t": 1.0, "kind": "action", "action": "mute", "target": "A", "ok": False, "error": "x"},
        {"t": 2.0, "kind": "zoom", "event": "meeting.started"},
    ]
    plain = render_records(records, palette=Palette(False))
    coloured = render_records(records, palette=Palette(True), webhooks=True)
    assert len(plain) == 2 and not any("\x1b[" in line for line in plain)
    assert len(coloured) == 3 and all("\x1b[" in line for line in coloured)
    assert "REFUSED (x)" in plain[1]


def test_no_command_runs_twice_though_it_arrives_by_webhook_and_by_callback(demo):
    report, _ = demo
    commands = [r for r in _records(report, "person") if r["do"] == "say"]
    chat_webhooks = [
        r
        for r in _records(report, "zoom")
        if r["event"] == "meeting.chat_message_sent" and r.get("name") == "Helen Okafor"
    ]
    assert len(chat_webhooks) == len(commands) == 9
    everyone = [(r["t"], r["text"]) for r in _actions(report, "send_chat") if r["to"] == "everyone"]
    assert len(everyone) == len(set(everyone))
    assert [r["text"] for r in _actions(report, "send_chat")].count(
        "Thank you, Anna. Please tell us what happened."
    ) == 1


def test_the_bot_tells_times_in_the_groups_own_time_zone(demo):
    report, _ = demo
    first = _actions(report, "send_chat")[0]
    assert first["t"] == 0.0
    assert "19:10" in first["text"], first["text"]


EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples" / "scenarios").glob("*.toml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_over_http_the_run_is_what_it_is_in_process(path: Path, tmp_path: Path) -> None:
    """Same scenario, the one path, two transports: in process through ASGI (`balint-bot
    simulate`) and over HTTP on loopback (the demo). Same phases, same actions at the same
    moments, and the stored attendance equal to the simulated Zoom's own minutes."""
    scenario = load_scenario(path)
    simulated = asyncio.run(run_scenario(scenario))
    report = asyncio.run(run_demo(scenario, out_dir=tmp_path))
    assert report.run.phases == [r["to"] for r in simulated.timeline.of_kind("phase")]

    def actions(records: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
        return [
            (r["t"], r["action"], r.get("target"), r.get("to"), r.get("text"), r["ok"])
            for r in records
            if r["kind"] == "action"
        ]

    assert actions(report.run.timeline.records) == actions(simulated.timeline.records)
    assert report.run.webhooks_failed == 0
    # Stored attendance is per roster person (a caller a facilitator named counts as that
    # person) or, for a guest, per display name; the simulated Zoom's is per scenario person.
    named = _admitted_as(scenario)
    zoom: dict[str, float] = {}
    for record in simulated.timeline.of_kind("attendance"):
        if not record["minutes"]:
            continue
        person = scenario.person(record["name"])
        name = named.get(person.name) or (
            person.name if person.role != "guest" else person.presents.name
        )
        zoom[name] = zoom.get(name, 0) + record["minutes"]
    stored = {row.name: row.minutes for row in report.attendance}
    for name, minutes in zoom.items():
        assert abs(stored[name] - minutes) <= 1, name


def _admitted_as(scenario: Any) -> dict[str, str]:
    """Scenario person -> roster name, for every `/admit NAME as ROSTER_NAME` said."""
    named: dict[str, str] = {}
    for event in scenario.events:
        command = parse(event.text) if event.do == "say" else None
        if isinstance(command, AdmitCmd) and command.as_name:
            for person in scenario.persons:
                if person.presents.name.casefold().startswith(command.name.casefold()):
                    named[person.name] = command.as_name
    return named


def test_the_bot_itself_is_not_counted_as_an_attendee(demo):
    report, _ = demo
    bot_name = report.settings.zoom.bot_name
    assert bot_name not in {row.name for row in report.attendance}
    assert report.worksheet is not None
    with report.worksheet.open(newline="", encoding="utf-8") as handle:
        totals = {row["attendees_total"] for row in csv.DictReader(handle)}
    present = sum(1 for row in report.attendance if row.present)
    assert present == 9  # eight members and the facilitator; the guest never got in
    assert totals == {str(present)}


@pytest.mark.parametrize(
    ("start", "zone"),
    [
        ("2026-12-02T19:00:00-05:00", "America/Toronto"),
        ("2026-07-02T19:00:00-04:00", "America/Toronto"),
        ("2026-12-02T18:45:00-08:00", "America/Vancouver"),
        ("2026-12-02T19:00:00+01:00", "Etc/GMT-1"),
        ("2026-12-02T19:00:00+05:30", "UTC"),
        ("2026-12-02T19:00:00+00:00", "UTC"),
    ],
)
def test_the_demo_group_keeps_the_scenarios_local_time(start: str, zone: str) -> None:
    moment = datetime.fromisoformat(start)
    assert zone_for(moment) == zone
    assert moment.astimezone(ZoneInfo(zone)).utcoffset() == moment.utcoffset() or zone == "UTC"


def test_the_attendance_table_flags_a_disagreement_with_zoom() -> None:
    row = AttendanceRow(
        name="Anna",
        role="member",
        minutes=50,
        waiting_minutes=0,
        first_join=0.0,
        last_leave=3000.0,
        late=False,
        present=True,
    )
    same = render_attendance([row], palette=Palette(False), zoom_minutes={"Anna": 50.4})
    differs = render_attendance([row], palette=Palette(False), zoom_minutes={"Anna": 55.0})
    assert "differs from Zoom" not in same[-1]
    assert "differs from Zoom" in differs[-1]


@pytest.mark.parametrize("speed", ["-1", "fast", "nan"])
def test_a_bad_speed_is_refused_by_the_parser(
    speed: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["demo", "--speed", speed], clock=HandClock())
    assert exited.value.code == 2
    assert "--speed" in capsys.readouterr().err


def test_the_built_in_evening_is_held_in_the_past_so_its_claims_are_billable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    assert main(["demo", "--out", str(out), "--no-color"], clock=HandClock()) == 0
    capsys.readouterr()
    with (out / "billing-worksheet.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert rows
    assert all(date.fromisoformat(r["service_date"]) < TEST_NOW.date() for r in rows)
    # every member is priced and checked; what holds a claim back is only the unverified
    # reference fee (no Schedule loaded in the demo) and the one member the demo's
    # physician does not bill
    assert {r["problems"] for r in rows} == {"fee_unverified", "not_billable"}
    assert sum(r["bill_ohip"] == "no" for r in rows) == 1


@pytest.mark.parametrize(
    ("today", "expected"),
    [("2026-11-29", "2026-11-25"), ("2026-11-26", "2026-11-25"), ("2026-11-25", "2026-11-18")],
)
def test_latest_past_group_day(today: str, expected: str) -> None:
    wednesday = 2
    assert latest_past(wednesday, before=date.fromisoformat(today)) == date.fromisoformat(expected)
