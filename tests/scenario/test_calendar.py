"""The calendar on the real path: facilitators change it with `balint-bot sessions`, then a
meeting starts and the service (signed webhooks, journal, worker, runtime, engine) matches it.

- a moved session runs at its new time, from its planned start, in its module; a meeting at
  its old slot is no session;
- a session held on another day than planned, without a move, is an unplanned session timed
  from its own start (it used to land on the nearest regular slot and open in `closing`),
  and the facilitators are told so once, privately, when the first of them is there;
- a cancelled evening: the bot does nothing at all (no admission, no chat, no timers, no
  session recorded, nothing to bill) and stores nothing of it but the journaled webhooks and
  the runtime's record that the meeting is no session; nothing is logged as an error;
- a July evening of the Ontario group: likewise, unless a facilitator added that session;
- the monthly group of seed 001 (first Thursday, 90 minutes, two leaders), with the settings
  shown in docs/configuration.md.

Dates are fixed; the CLI and the service run on hand clocks.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, func, select

from bot.cli import main
from bot.config import BotSettings, Settings, load_settings
from bot.meeting.simulated import BOT, MeetingOptions, SimulatedMeeting
from bot.meeting.zoom_wire import MeetingIdentity
from phases.state import Phase, SessionState
from storage import runtime_state as rs
from storage.crypto import Keyring, generate_key
from storage.db import Base, make_session_factory, session_scope
from storage.roster import ROSTER_HEADERS, import_roster, parse_roster
from storage.tables.core import Module, SessionRecord
from tests.clock import TEST_NOW, HandClock
from tests.scenario.serve_harness import SECRET, registrant_id_of, running, seed_roster

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[2]
TORONTO = ZoneInfo("America/Toronto")
LOS_ANGELES = ZoneInfo("America/Los_Angeles")

ONTARIO = """
[zoom]
webhook_secret_tokens = ["{secret}"]
[storage]
url = "{url}"
[group]
name = "Online Balint Group (test)"
timezone = "America/Toronto"
weekday = "wednesday"
start_time = "19:00:00"
[group.calendar]
modules = [{{ start_month = 9 }}, {{ start_month = 1 }}, {{ start_month = 4 }}]
breaks = ["july-august"]
"""


def _settings_file(tmp_path: Path, url: str, text: str = ONTARIO) -> Path:
    path = tmp_path / "balint-bot.toml"
    path.write_text(text.format(secret=SECRET, url=url), encoding="utf-8")
    return path


def _cli(path: Path, *argv: str) -> None:
    """A facilitator's command, on Sunday 29 November 2026."""
    assert main(["--config", str(path), *argv], clock=HandClock()) == 0


def _meeting(clock: HandClock, uuid: str, meeting_id: str = "85746065432") -> SimulatedMeeting:
    identity = MeetingIdentity(uuid=uuid, meeting_id=meeting_id)
    return SimulatedMeeting(MeetingOptions(identity=identity), clock=clock)


def _record(engine: Engine, uuid: str) -> tuple[SessionRecord | None, str | None, str | None]:
    """The stored session of a meeting, its module's name, and why it was skipped (the
    runtime's record of the meeting says)."""
    with session_scope(make_session_factory(engine)) as session:
        record = session.scalar(select(SessionRecord).where(SessionRecord.meeting_uuid == uuid))
        module = session.get(Module, record.module_id) if record and record.module_id else None
        session.expunge_all()
    skipped = _state(engine, uuid).setup.skipped or None
    return record, module.name if module else None, skipped


def _rows(engine: Engine) -> dict[str, int]:
    """How many rows each table holds."""
    with session_scope(make_session_factory(engine)) as session:
        return {
            table.name: session.scalar(select(func.count()).select_from(table)) or 0
            for table in Base.metadata.sorted_tables
        }


def _state(engine: Engine, uuid: str) -> SessionState:
    with session_scope(make_session_factory(engine)) as session:
        record = rs.load_meeting(session, meeting_uuid=uuid)
    assert record is not None
    return SessionState.from_json(record.state_json)


def _actions(engine: Engine, uuid: str) -> list[str]:
    with session_scope(make_session_factory(engine)) as session:
        return [a.kind for a in rs.actions_for_meeting(session, meeting_uuid=uuid)]


async def test_a_moved_session_runs_at_its_new_time_and_its_old_slot_is_no_session(
    sqlite_file: tuple[str, Engine], tmp_path: Path
) -> None:
    url, engine = sqlite_file
    path = _settings_file(tmp_path, url)
    _cli(path, "sessions", "move", "2026-12-09", "--to", "2026-12-10 19:00")
    settings = load_settings(path)
    seed_roster(engine, {"Fay": "facilitator", "Anna": "member", "Ben": "member"})

    clock = HandClock(datetime(2026, 12, 9, 18, 50, tzinfo=TORONTO).astimezone(UTC))
    wednesday = _meeting(clock, "wed-old-slot==")
    async with running(settings, engine=engine, meeting=wednesday, clock=clock) as svc:
        await wednesday.start()
        await wednesday.person_joins("anna", name="Anna")
        await svc.settle()
    assert wednesday.where_is("anna") == "waiting"  # not admitted: no session tonight
    assert _record(engine, "wed-old-slot==") == (None, None, "moved")

    clock.set(datetime(2026, 12, 10, 18, 50, tzinfo=TORONTO).astimezone(UTC))
    thursday = _meeting(clock, "thu-moved==")
    async with running(settings, engine=engine, meeting=thursday, clock=clock) as svc:
        await thursday.start()
        await thursday.person_joins("fay", name="Fay")
        await thursday.person_joins("anna", name="Anna")
        await svc.settle()
        assert thursday.where_is("anna") == "meeting"  # the social time before the start
        clock.set(datetime(2026, 12, 10, 19, 3, tzinfo=TORONTO).astimezone(UTC))
        await svc.settle()
        await thursday.person_joins("ben", name="Ben")
        await svc.settle()
        assert thursday.where_is("ben") == "waiting"  # held during the meditation
    record, module, skipped = _record(engine, "thu-moved==")
    assert record is not None and skipped is None
    assert record.scheduled_start == datetime(2026, 12, 10, 19, 0, tzinfo=TORONTO)
    assert module == "2026-09"
    state = _state(engine, "thu-moved==")
    assert state.phase is Phase.MEDITATION
    assert f"{state.setup.scheduled_start:%a %H:%M}" == "Thu 19:00"


async def test_a_session_on_another_day_without_a_move_runs_from_its_own_start(
    sqlite_file: tuple[str, Engine], tmp_path: Path
) -> None:
    """Before the calendar it landed on Wednesday's slot and opened in `closing`."""
    url, engine = sqlite_file
    settings = load_settings(_settings_file(tmp_path, url))
    seed_roster(engine, {"Fay": "facilitator", "Gil": "facilitator", "Anna": "member"})
    started = datetime(2026, 12, 3, 18, 50, tzinfo=TORONTO)  # a Thursday
    clock = HandClock(started.astimezone(UTC))
    meeting = _meeting(clock, "thu-unplanned==")
    async with running(settings, engine=engine, meeting=meeting, clock=clock) as svc:
        await meeting.start()
        await meeting.person_joins("anna", name="Anna")
        await svc.settle()
        assert not [line for line in meeting.chat_log if "calendar" in line.text]
        # through their registration links: a facilitator's rights (issue 13)
        await meeting.person_joins("fay", name="Fay", registrant_id=registrant_id_of("Fay"))
        await svc.settle()
        await meeting.person_joins("gil", name="Gil", registrant_id=registrant_id_of("Gil"))
        clock.set(started + timedelta(minutes=5))
        await svc.settle()
    told = [line for line in meeting.chat_log if "calendar" in line.text]
    assert [(line.sender, line.to) for line in told] == [(BOT, "fay")]  # once, privately
    assert "2026-12-03" in told[0].text and "18:50" in told[0].text
    assert "20:35" in told[0].text  # 105 minutes on the group's clock
    record, module, skipped = _record(engine, "thu-unplanned==")
    assert record is not None and skipped is None
    assert record.scheduled_start == started and module == "2026-09"
    state = _state(engine, "thu-unplanned==")
    assert state.phase is Phase.MEDITATION  # the agenda begins at the actual start
    assert state.setup.scheduled_start == started


async def test_a_cancelled_evening_the_bot_does_nothing(
    sqlite_file: tuple[str, Engine], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url, engine = sqlite_file
    path = _settings_file(tmp_path, url)
    _cli(path, "sessions", "cancel", "2026-12-09")
    settings = load_settings(path)
    seed_roster(engine, {"Fay": "facilitator", "Anna": "member"})
    caplog.set_level(logging.INFO)
    clock = HandClock(datetime(2026, 12, 9, 18, 50, tzinfo=TORONTO).astimezone(UTC))
    meeting = _meeting(clock, "wed-cancelled==")
    before = _rows(engine)
    async with running(settings, engine=engine, meeting=meeting, clock=clock) as svc:
        await meeting.start()
        await meeting.person_joins("fay", name="Fay")
        await meeting.person_joins("anna", name="Anna")
        await svc.settle()
        await meeting.host_admits("fay")
        await meeting.person_says("fay", "/status")
        await meeting.person_records("fay")
        for moment in ("19:00", "19:10", "20:45"):  # the start, after the meditation, the end
            clock.set(datetime.fromisoformat(f"2026-12-09T{moment}").replace(tzinfo=TORONTO))
            await svc.settle()
        await meeting.end()
        await svc.settle()
    assert meeting.where_is("anna") == "away"  # she waited until the end: nobody let her in
    assert _actions(engine, "wed-cancelled==") == []
    assert _record(engine, "wed-cancelled==") == (None, None, "cancelled")
    state = _state(engine, "wed-cancelled==")
    assert state.setup.skipped == "cancelled" and state.phase is Phase.ENDED
    with session_scope(make_session_factory(engine)) as session:
        assert rs.pending_wakeups(session, meeting_uuid="wed-cancelled==") == {}
    assert "meeting skipped by the calendar" in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    # Stored of that evening: the journaled webhooks, the runtime's one record of the
    # meeting and its lease, released (expired) when the meeting ended: the meeting's uuid,
    # the worker's id, times and a count (no presence, person id, command, cursor, wake-up,
    # action or session).
    after = _rows(engine)
    grown = {name: after[name] - before[name] for name in after if after[name] != before[name]}
    assert grown.pop("webhook_journal") >= 8
    assert grown == {"runtime_meetings": 1, "runtime_leases": 1}
    with session_scope(make_session_factory(engine)) as session:
        assert rs.lease_owner(session, meeting_uuid="wed-cancelled==", now=clock()) is None
    with session_scope(make_session_factory(engine)) as session:
        record = rs.load_meeting(session, meeting_uuid="wed-cancelled==")
    assert record is not None and record.ended and record.cursors == {}


async def test_a_july_evening_is_no_session_unless_a_facilitator_added_it(
    sqlite_file: tuple[str, Engine], tmp_path: Path
) -> None:
    url, engine = sqlite_file
    path = _settings_file(tmp_path, url)
    _cli(path, "sessions", "add", "2027-07-21 19:00")
    settings = load_settings(path)
    seed_roster(engine, {"Fay": "facilitator", "Anna": "member"})

    clock = HandClock(datetime(2027, 7, 14, 18, 50, tzinfo=TORONTO).astimezone(UTC))
    july = _meeting(clock, "july-14==")
    async with running(settings, engine=engine, meeting=july, clock=clock) as svc:
        await july.start()
        await july.person_joins("anna", name="Anna")
        await svc.settle()
    assert july.where_is("anna") == "waiting"
    assert _record(engine, "july-14==") == (None, None, "break")
    assert _actions(engine, "july-14==") == []

    clock.set(datetime(2027, 7, 21, 18, 50, tzinfo=TORONTO).astimezone(UTC))
    added = _meeting(clock, "july-21==")
    async with running(settings, engine=engine, meeting=added, clock=clock) as svc:
        await added.start()
        await added.person_joins("anna", name="Anna")
        await svc.settle()
        assert added.where_is("anna") == "meeting"
    record, module, skipped = _record(engine, "july-21==")
    assert record is not None and skipped is None and module is None  # no module in summer
    assert record.scheduled_start == datetime(2027, 7, 21, 19, 0, tzinfo=TORONTO)


def _seed_001_settings(tmp_path: Path, url: str) -> Settings:
    """The monthly group's complete example from docs/configuration.md (seed 001), with this
    test's database and webhook secret, and the simulator as the meeting."""
    text = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    (block,) = [
        b
        for b in re.findall(r"```toml\n(.*?)```", text, re.S)
        if "first thursday" in b and "[[groups]]" not in b  # the file of one group
    ]
    block = block.replace('url = "sqlite:///monthly-balint.db"', f'url = "{url}"')
    block = block.replace("[zoom]\n", f'[zoom]\nwebhook_secret_tokens = ["{SECRET}"]\n', 1)
    path = tmp_path / "monthly.toml"
    path.write_text(block, encoding="utf-8")
    settings = load_settings(path)
    return settings.model_copy(update={"bot": BotSettings(meeting_adapter="simulator")})


async def test_the_monthly_group_with_two_leaders_at_90_minutes(
    sqlite_file: tuple[str, Engine], tmp_path: Path
) -> None:
    url, engine = sqlite_file
    settings = _seed_001_settings(tmp_path, url)
    assert settings.agenda.length_minutes == 90
    group = settings.group.name
    people = {"Hana": "facilitator", "Omar": "facilitator", "Esther": "member"}
    lines = [",".join(ROSTER_HEADERS)]
    for name, role in people.items():
        row = dict.fromkeys(ROSTER_HEADERS, "")
        row.update(first_name=name, last_name="Test", display_name=name, role=role)
        row.update(registrant_id=f"reg-{name.lower()}")  # the leaders' rights come from Zoom
        if role == "member":  # the roster asks members for a health number (synthetic here)
            row.update(health_number="9876543217", province="ON", birth_date="1980-01-01")
        lines.append(",".join(row[key] for key in ROSTER_HEADERS))
    rows = parse_roster("\n".join(lines) + "\n", today=TEST_NOW.date())
    with session_scope(make_session_factory(engine)) as session:
        import_roster(
            session,
            group_name=group,
            rows=rows,
            keyring=Keyring.from_text(generate_key()),
            now=TEST_NOW,
        )

    clock = HandClock(datetime(2027, 1, 7, 18, 38, tzinfo=LOS_ANGELES).astimezone(UTC))
    first = _meeting(clock, "jan-7==", meeting_id="83312345678")
    async with running(settings, engine=engine, meeting=first, clock=clock) as svc:
        await first.start()
        for handle, name in (("hana", "Hana"), ("omar", "Omar"), ("esther", "Esther")):
            await first.person_joins(handle, name=name, registrant_id=f"reg-{handle}")
        await svc.settle()
        assert [first.where_is(h) for h in ("hana", "omar", "esther")] == ["meeting"] * 3
        with session_scope(make_session_factory(engine)) as session:
            wakeups = rs.pending_wakeups(session, meeting_uuid="jan-7==")
    assert wakeups["group_end"] == datetime(2027, 1, 7, 20, 15, tzinfo=LOS_ANGELES)
    record, module, _ = _record(engine, "jan-7==")
    assert record is not None and module == "2027-01"
    assert record.scheduled_start == datetime(2027, 1, 7, 18, 45, tzinfo=LOS_ANGELES)

    clock.set(datetime(2027, 1, 14, 18, 40, tzinfo=LOS_ANGELES).astimezone(UTC))
    second = _meeting(clock, "jan-14==", meeting_id="83312345678")
    async with running(settings, engine=engine, meeting=second, clock=clock) as svc:
        await second.start()
        await svc.settle()
    record, module, _ = _record(engine, "jan-14==")
    assert record is not None and module == "2027-01"
    assert record.scheduled_start == datetime(2027, 1, 14, 18, 40, tzinfo=LOS_ANGELES)
