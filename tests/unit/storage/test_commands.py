"""The storage commands end to end through `bot.cli.main`, on a migrated database.

Includes the privacy proof: a health number (and birth date) never appears in clear in the
SQLite file, in the captured logs or in `roster list` output.
"""

from __future__ import annotations

import json
import logging
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import respx
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.cli import main
from bot.commands.attendance_cmd import attendance_policy
from bot.config import load_settings
from storage import attendance, audit, journal
from storage.crypto import Keyring, generate_key
from storage.db import make_engine
from storage.phase_log import record_phase_change
from storage.roster import read_phi
from storage.sessions import ensure_session
from storage.tables.core import (
    AttendanceRecord,
    AttendanceSpan,
    AuditEntry,
    Member,
    SessionRecord,
)
from storage.tables.runtime import PhaseChange
from tests.clock import TEST_NOW, HandClock
from webhooks.parse import describe, parse_event
from webhooks.translate import to_presence

ROSTER = Path(__file__).resolve().parents[2] / "fixtures" / "roster"
UUID = "4118UHIiRCAAAtBlDkcVyw=="
START = datetime(2026, 10, 7, 23, 0, tzinfo=UTC)


@pytest.fixture
def cli(db_url, tmp_path, monkeypatch):
    config = tmp_path / "balint-bot.toml"
    config.write_text(
        f'[storage]\nurl = "{db_url}"\n[group]\nname = "G"\n[zoom]\nbot_name = "Balint Companion"\n'
    )
    key = generate_key()
    monkeypatch.setenv("BALINT_DATA_KEY", key)

    def run(*argv: str) -> int:
        return main(["--config", str(config), *argv], clock=HandClock())

    run.key = key  # type: ignore[attr-defined]
    return run


@contextmanager
def _session(db_url):
    engine = make_engine(db_url)
    try:
        with Session(engine, expire_on_commit=False) as session:
            yield session
    finally:
        engine.dispose()


def test_db_upgrade_and_current(cli, capsys):
    assert cli("db", "upgrade") == 0
    assert "database at revision" in capsys.readouterr().out


def test_roster_import_refuses_a_bad_file_naming_rows(cli, capsys, db_url):
    assert cli("roster", "import", str(ROSTER / "bad.csv")) == 1
    err = capsys.readouterr().err
    for expected in (
        "row 3, health_number",
        "row 4, referring_number",
        "row 5, birth_date",
        "row 6, role",
        "row 7, display_name: duplicate member",
    ):
        assert expected in err
    with _session(db_url) as session:
        assert session.scalars(select(Member)).all() == []


def test_health_numbers_never_in_clear_in_db_logs_or_listing(cli, capsys, caplog, db_url):
    caplog.set_level(logging.DEBUG)
    assert cli("roster", "import", str(ROSTER / "good.csv")) == 0
    assert cli("roster", "list") == 0
    out = capsys.readouterr()
    secrets = [b"9876543217", b"4416721100", b"7840388545", b"1980-02-29", b"1975-11-03"]
    for secret in secrets:
        text = secret.decode()
        assert text not in out.out and text not in out.err
        assert text not in caplog.text
    assert "******3217" in out.out
    if db_url.startswith("sqlite"):
        path = Path(db_url.removeprefix("sqlite:///"))
        raw = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
        assert raw  # the database and its WAL were read
        for secret in secrets:
            assert secret not in raw
    with _session(db_url) as session:
        commands = [e.command for e in audit.entries(session)]
    assert commands == ["roster import", "roster list"]


def test_a_later_import_without_a_member_makes_them_inactive(cli, capsys, tmp_path):
    assert cli("roster", "import", str(ROSTER / "good.csv")) == 0
    lines = (ROSTER / "good.csv").read_text(encoding="utf-8").splitlines()
    without_cal = tmp_path / "roster.csv"
    without_cal.write_text("\n".join(line for line in lines if not line.startswith("Cal,")))
    capsys.readouterr()
    assert cli("roster", "import", str(without_cal)) == 0
    assert "1 no longer listed (now inactive, kept for history)" in capsys.readouterr().out
    assert cli("roster", "list") == 0
    listed = {line.split()[1]: line for line in capsys.readouterr().out.splitlines()[1:]}
    assert listed["Cal"].endswith("(inactive)") and not listed["Ann"].endswith("(inactive)")


def test_import_without_key_refuses_phi(cli, capsys, monkeypatch):
    monkeypatch.delenv("BALINT_DATA_KEY")
    assert cli("roster", "import", str(ROSTER / "good.csv")) == 1
    assert "BALINT_DATA_KEY is not set" in capsys.readouterr().err


def test_keys_rotate(cli, capsys, monkeypatch, db_url):
    assert cli("roster", "import", str(ROSTER / "good.csv")) == 0
    new = generate_key()
    monkeypatch.setenv("BALINT_DATA_KEY", new)
    monkeypatch.setenv("BALINT_DATA_KEY_PREVIOUS", cli.key)
    assert cli("keys", "rotate") == 0
    assert "re-encrypted 3 member(s)" in capsys.readouterr().out
    with _session(db_url) as session:
        ids = list(session.scalars(select(Member.id).where(Member.key_id != "")))
        phi = read_phi(
            session, member_ids=ids, keyring=Keyring.from_text(new), command="t", now=TEST_NOW
        )
        assert sorted(p.health_number for p in phi.values())[0] == "4416721100"


# ----------------------------------------------------------------------------- attendance


def _body(event: str, minutes: float, participant: dict[str, str] | None = None) -> bytes:
    at = (START + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")
    obj = {
        "id": "85746065432",
        "uuid": UUID,
        "host_id": "h",
        "topic": "Balint",
        "type": 8,
        "start_time": "2026-10-07T22:45:00Z",
        "duration": 105,
    }
    if event == "meeting.ended":
        obj["end_time"] = at
    if event == "meeting.started":
        obj["start_time"] = at
    if participant is not None:
        time_field = {
            "meeting.participant_joined": "join_time",
            "meeting.participant_left": "leave_time",
        }.get(event, "date_time")
        obj["participant"] = {
            "user_id": participant["uid"],
            "user_name": participant["name"],
            "id": "",
            "participant_uuid": participant["pk"],
            "email": "",
            time_field: at,
        }
    ts = int((START + timedelta(minutes=minutes)).timestamp() * 1000)
    return json.dumps(
        {"event": event, "event_ts": ts, "payload": {"account_id": "a", "object": obj}}
    ).encode()


FAY = {"uid": "1", "name": "Fay", "pk": "pk-fay"}
ANN = {"uid": "2", "name": "Ann", "pk": "pk-ann"}
ANN_AGAIN = {"uid": "3", "name": "ann", "pk": "pk-ann-2"}
BEN = {"uid": "4", "name": "Ben T", "pk": "pk-ben"}
BODIES = [
    _body("meeting.started", -15),
    _body("meeting.participant_joined", -10, FAY),
    _body("meeting.participant_joined_waiting_room", -3, ANN),
    _body("meeting.participant_left_waiting_room", 0, ANN),
    _body("meeting.participant_joined", 0, ANN),
    _body("meeting.participant_left", 40, ANN),
    _body("meeting.participant_joined", 42, ANN_AGAIN),
    _body("meeting.participant_joined", 25, BEN),
    _body("meeting.participant_left", 50, BEN),
    _body("meeting.participant_left", 105, FAY),
    _body("meeting.ended", 106),
]


def _live(db_url: str, bodies: list[bytes]) -> None:
    """What the service does: journal, record presence per entry, finalise at the end."""
    with _session(db_url) as session:
        ensure_session(
            session,
            group_name="G",
            meeting_uuid=UUID,
            meeting_id="85746065432",
            scheduled_start=START,
            now=TEST_NOW,
        )
        for body in bodies:
            info = describe(json.loads(body))
            entry, _ = journal.append(
                session,
                received_at=START,
                event=info.event,
                event_ts=info.event_ts,
                meeting_uuid=info.meeting_uuid,
                dedupe_key=info.dedupe_key,
                body=body,
                parsed_ok=True,
            )
            presence = to_presence(parse_event(body))
            if presence is not None:
                attendance.record_presence(
                    session, meeting_uuid=UUID, journal_id=entry.id, event=presence
                )
        session.commit()


def _stored(db_url: str) -> list[tuple[object, ...]]:
    with _session(db_url) as session:
        rows = session.scalars(select(AttendanceRecord).order_by(AttendanceRecord.person_key))
        return [
            (
                r.person_key,
                r.name,
                r.member_id,
                r.role,
                r.minutes,
                r.waiting_minutes,
                r.first_join,
                r.last_leave,
                r.late,
                r.left_early,
                r.present,
            )
            for r in rows
        ]


def test_attendance_show_rebuild_equals_live_and_report(cli, capsys, db_url):
    assert cli("roster", "import", str(ROSTER / "good.csv")) == 0
    _live(db_url, BODIES)
    capsys.readouterr()
    # not finalised yet: computed on demand
    assert cli("attendance", "--meeting", UUID, "--jsonl") == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    by_name = {r["name"]: r for r in rows}
    assert set(by_name) == {"Fay", "Ann", "Ben T"}
    assert by_name["Ann"]["minutes"] == 40 + 64 and by_name["Ann"]["present"] is True
    assert by_name["Ben T"]["late"] is True and by_name["Ben T"]["left_early"] is True
    assert by_name["Fay"]["role"] == "facilitator"
    settings = load_settings(
        None, storage={"url": db_url}, group={"name": "G"}, zoom={"bot_name": "Balint Companion"}
    )
    with _session(db_url) as session:
        session_id = session.scalar(select(SessionRecord.id))
        attendance.finalize(
            session,
            meeting_uuid=UUID,
            now=START + timedelta(hours=3),
            policy=attendance_policy(settings),  # the policy the service finalises with
        )
        session.commit()
    live = _stored(db_url)
    assert len(live) == 3
    assert cli("attendance", "rebuild", "--session", str(session_id)) == 0
    assert (
        "rebuilt from 11 journal entries (11 presence events); 3 people" in capsys.readouterr().out
    )
    assert _stored(db_url) == live
    assert cli("attendance", "--session", str(session_id)) == 0
    table = capsys.readouterr().out
    assert "Ann" in table and "yes" in table
    assert cli("sessions", "list") == 0
    listing = capsys.readouterr().out
    assert "2026-10-07 19:00" in listing and "2026-09" in listing
    assert cli("attendance", "report", "--module", "2026-09", "--jsonl") == 0
    report = {r["name"]: r for r in map(json.loads, capsys.readouterr().out.splitlines())}
    assert report["Ann"] == {
        "member_id": report["Ann"]["member_id"],
        "name": "Ann",
        "attended": 1,
        "held": 1,
        "rate": 1.0,
        "under_third": False,
        "absences_to_cross": 3,
        "notified": 0,
        "unexplained": 0,
        "last_contact": None,
    }
    assert report["Cal"]["attended"] == 0 and report["Cal"]["under_third"] is True
    assert cli("attendance", "report", "--module", "2026-09") == 0
    assert "UNDER ONE THIRD" in capsys.readouterr().out
    with _session(db_url) as session:
        commands = {e.command for e in session.scalars(select(AuditEntry))}
    assert {
        "attendance --jsonl",
        "attendance rebuild",
        "attendance",
        "attendance report",
    } <= commands


def test_a_strangers_display_name_cannot_write_to_the_facilitators_terminal(cli, db_url, capsys):
    mallory = {"uid": "9", "name": "\x1b[2J\x1b]0;ok\x07Ann\nBen T  -  member", "pk": "pk-m"}
    assert cli("db", "upgrade") == 0
    _live(
        db_url,
        [
            _body("meeting.started", -15),
            _body("meeting.participant_joined", 0, mallory),
            _body("meeting.participant_left", 30, mallory),
        ],
    )
    capsys.readouterr()
    assert cli("attendance", "--meeting", UUID) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out
    header, row = out.splitlines()  # one person, one row: the line feed made none
    assert row.startswith("\ufffd[2J\ufffd]0;ok\ufffdAnn\ufffdB")


def test_attendance_needs_a_target(cli, capsys):
    assert cli("attendance") == 2
    assert "--session" in capsys.readouterr().err
    assert cli("attendance", "--session", "99") == 1
    assert "no session with id 99" in capsys.readouterr().err


def test_purge_dry_run_and_retention_guard(cli, capsys, db_url):
    with _session(db_url) as session:
        old = datetime(2012, 3, 7, 23, 0, tzinfo=UTC)
        ensure_session(
            session,
            group_name="G",
            meeting_uuid="old",
            meeting_id="1",
            scheduled_start=old,
            now=TEST_NOW,
        )
        ensure_session(
            session,
            group_name="G",
            meeting_uuid="new",
            meeting_id="1",
            scheduled_start=START,
            now=TEST_NOW,
        )
        attendance.record_presence(
            session,
            meeting_uuid="old",
            journal_id=1,
            event=attendance.PresenceEvent(kind="joined", at=old, name="X"),
        )
        attendance.record_presence(
            session,
            meeting_uuid="old",
            journal_id=2,
            event=attendance.PresenceEvent(kind="left", at=old + timedelta(hours=1), name="X"),
        )
        attendance.finalize(session, meeting_uuid="old", now=old + timedelta(hours=3))
        record_phase_change(
            session, meeting_uuid="old", at=old, from_phase="social", to_phase="meditation",
            reason="clock",
        )  # fmt: skip
        session.commit()
    assert cli("purge", "--before", "2026-01-01") == 1
    assert "retention period" in capsys.readouterr().err
    assert cli("purge", "--before", "2015-01-01", "--dry-run") == 0
    out = capsys.readouterr().out
    assert "would delete" in out and "sessions: 1" in out and "attendance: 1" in out
    assert "presence: 2" in out
    assert "attendance_spans: 1" in out and "phase_changes: 1" in out
    with _session(db_url) as session:
        assert len(session.scalars(select(SessionRecord)).all()) == 2
    assert cli("purge", "--before", "2015-01-01") == 0
    with _session(db_url) as session:
        assert [s.meeting_uuid for s in session.scalars(select(SessionRecord))] == ["new"]
        assert session.scalars(select(AttendanceRecord)).all() == []
        assert session.scalars(select(AttendanceSpan)).all() == []
        assert session.scalars(select(PhaseChange)).all() == []
        assert [e.command for e in audit.entries(session)] == ["purge"]


def test_attendance_reconcile_against_a_fake_zoom(cli, capsys, db_url, tmp_path):
    config = tmp_path / "balint-bot.toml"
    config.write_text(
        config.read_text()
        + 'api_base_url = "https://api.zoom.test/v2"\noauth_url = "https://zoom.test/oauth/token"\n'
        + 'account_id = "acct"\nclient_id = "cid"\nclient_secret = "csecret"\n'
    )
    assert cli("roster", "import", str(ROSTER / "good.csv")) == 0
    _live(db_url, BODIES)

    def row(name: str, uid: str, join: float, leave: float) -> dict[str, object]:
        return {
            "id": "",
            "name": name,
            "user_id": uid,
            "registrant_id": "",
            "user_email": "",
            "join_time": (START + timedelta(minutes=join)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "leave_time": (START + timedelta(minutes=leave)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "duration": int((leave - join) * 60),
            "status": "in_meeting",
        }

    body = {
        "next_page_token": "",
        "participants": [
            row("Fay", "1", -10, 105),
            row("Ann", "2", 0, 40),
            row("ann", "3", 42, 106),
            row("Ben T", "4", 25, 50),
            row("Cal", "5", 1, 100),  # our journal lost Cal entirely
        ],
    }
    with respx.mock(assert_all_mocked=True) as zoom:
        zoom.post("https://zoom.test/oauth/token").mock(
            return_value=httpx.Response(
                200, json={"access_token": "t", "token_type": "bearer", "expires_in": 3599}
            )
        )
        participants = zoom.get(url__regex=r"https://api\.zoom\.test/v2/past_meetings/.*").mock(
            return_value=httpx.Response(200, json=body)
        )
        assert cli("attendance", "reconcile", "--session", "1") == 0
    assert participants.call_count == 1
    out = capsys.readouterr().out
    assert "5 report row(s), 1 filled from the report, 1 disagreement(s)" in out
    assert "Cal: presence: ours absent, Zoom 99 min" in out
    with _session(db_url) as session:
        cal = session.scalars(select(AttendanceRecord).where(AttendanceRecord.name == "Cal")).one()
        assert (cal.source, cal.present, cal.member_id is not None) == ("report", True, True)
