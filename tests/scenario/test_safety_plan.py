"""The safety plan through the real service: asked privately, sealed at the edge, `/safety`.

The real serve app (receiver, worker, runtime) with the simulated meeting posting its signed
webhooks, on a SQLite file, with a data key. A member who comes in is asked privately where
they are; their private answer to the bot is sealed by the receiver before the journal sees
it. Afterwards the database files (main file, WAL, shared memory), the journal rows and every
log record are searched for the location and the emergency contact: neither is anywhere in
clear. `/safety NAME` answers a host privately with both; a member gets a refusal.
"""

from __future__ import annotations

import contextlib
import json
import logging
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import Engine, select

from bot.errors import MeetingControlError
from bot.meeting import zoom_wire as wire
from bot.meeting.simulated import BOT, MeetingOptions
from phases.events import ZoomRole
from storage import audit
from storage.crypto import Keyring, generate_key
from storage.db import make_engine, make_session_factory, session_scope
from storage.journal import JournalEntry
from storage.migrate import upgrade
from storage.roster import ROSTER_HEADERS, SAFETY_HEADERS, import_roster, parse_roster
from storage.tables.clinical import EmergencyContact, SessionLocation
from tests.clock import TEST_NOW, HandClock
from tests.scenario.serve_harness import (
    GROUP,
    SCHEDULED_START,
    CountingMeeting,
    running,
    settings_for,
)

pytestmark = pytest.mark.anyio

WHERE = "Zq-42 Wallaby Lane, Kingston"
CONTACT = "Zq-Sam Quokka (partner)"
PHONE = "613-555-0142"
#: The Ministry's sample number, and a generated one that passes the check digit.
NUMBERS = {"Anna": "9876543217", "Ben": "4416721100"}


def _file_bytes(path: Path) -> bytes:
    parts = [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]
    return b"".join(part.read_bytes() for part in parts if part.exists())


def _seed(engine: Engine, key: str) -> None:
    headers = (*ROSTER_HEADERS, *SAFETY_HEADERS)
    lines = [",".join(headers)]
    for name, role in (("Fay", "facilitator"), ("Anna", "member"), ("Ben", "member")):
        row = dict.fromkeys(headers, "")
        row.update(first_name=name, last_name="Test", display_name=name, role=role)
        if role == "facilitator":
            row.update(registrant_id="reg-fay")
        if role == "member":
            row.update(health_number=NUMBERS[name], province="ON", birth_date="1980-01-01")
        if name == "Anna":
            row.update(
                emergency_contact=CONTACT,
                emergency_phone=PHONE,
            )
        lines.append(",".join(row[h] for h in headers))
    rows = parse_roster("\n".join(lines) + "\n", today=TEST_NOW.date())
    with session_scope(make_session_factory(engine)) as session:
        import_roster(
            session, group_name=GROUP, rows=rows, keyring=Keyring.from_text(key), now=TEST_NOW
        )


def _to(meeting: CountingMeeting, handle: str) -> list[str]:
    return [line.text for line in meeting.chat_log if line.sender == BOT and line.to == handle]


async def test_the_location_is_sealed_at_the_edge_and_shown_only_to_facilitators(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    path = tmp_path / "serve.db"
    upgrade(f"sqlite:///{path}")
    engine = make_engine(f"sqlite:///{path}")
    key = generate_key()
    _seed(engine, key)
    settings = settings_for(f"sqlite:///{path}").model_copy(
        update={
            "data_key": SecretStr(key),
            "agenda": settings_for("sqlite://").agenda.model_copy(
                update={"ask_location": True, "location_reminder_minutes": 10}
            ),
        }
    )
    clock = HandClock(SCHEDULED_START - timedelta(minutes=10))
    meeting = CountingMeeting(MeetingOptions(), clock=clock)
    factory = make_session_factory(engine)

    async with running(settings, engine=engine, meeting=meeting, clock=clock) as svc:
        await meeting.start()
        # Fay joins by her own registration link: Zoom vouches for her (a display name would not)
        await meeting.person_joins("fay", name="Fay", role=ZoomRole.HOST, registrant_id="reg-fay")
        await meeting.person_joins("anna", name="Anna")
        await meeting.person_joins("ben", name="Ben")
        await svc.settle()
        assert any("where are you joining from" in t for t in _to(meeting, "anna"))
        assert not any("where are you joining from" in t for t in _to(meeting, "fay"))
        clock.set(clock() + timedelta(seconds=30))
        assert await meeting.person_says("anna", WHERE, to=BOT)
        await svc.settle()
        assert any("Noted for today" in t for t in _to(meeting, "anna"))
        # a member cannot read it; the host can, privately
        assert await meeting.person_says("ben", "/safety Anna", to=BOT)
        await svc.settle()
        assert not any(WHERE in t for t in _to(meeting, "ben"))
        await meeting.person_joins("faker", name="Fay")  # only calling herself Fay
        await svc.settle()
        with contextlib.suppress(MeetingControlError):  # the bot may have let her in already
            await meeting.admit(meeting.user_id_of("faker"))
        await svc.settle()
        assert await meeting.person_says("faker", "/safety Anna", to=BOT)
        await svc.settle()
        assert not any(WHERE in t for t in _to(meeting, "faker"))
        assert await meeting.person_says("fay", "/safety anna", to=BOT)
        await svc.settle()
        answer = [t for t in _to(meeting, "fay") if t.startswith("Safety plan for Anna")]
        assert len(answer) == 1
        assert WHERE in answer[0] and CONTACT in answer[0] and PHONE in answer[0]
        assert not any(WHERE in line.text for line in meeting.chat_log if line.to == "everyone")
        # Ben never answered: one reminder, ten minutes after he was asked
        clock.set(clock() + timedelta(minutes=11))
        await svc.settle()
        reminders = [t for t in _to(meeting, "ben") if "gentle reminder" in t]
        assert len(reminders) == 1
        assert not any("gentle reminder" in t for t in _to(meeting, "anna"))

        with session_scope(factory) as session:
            kept = session.scalars(select(SessionLocation)).all()
            assert len(kept) == 1 and kept[0].member_id is not None
            assert (
                Keyring.from_text(key).open_text(
                    kept[0].location_sealed, field_name="private_reply"
                )
                == WHERE
            )
            assert session.scalars(select(EmergencyContact)).one().source == "roster"
            uses = audit.entries(session, command="/safety")
            assert len(uses) == 1 and uses[0].actor == "zoom:Fay"
            rows = list(
                session.scalars(
                    select(JournalEntry).where(JournalEntry.event == wire.CHAT_MESSAGE_SENT)
                )
            )
            for row in rows:
                message = json.loads(row.body)["payload"]["object"]["chat_message"]
                assert "Wallaby" not in message["message_content"]
            sealed_rows = [r for r in rows if b"balint_sealed_content" in r.body]
            assert len(sealed_rows) == 1 and sealed_rows[0].redacted
    engine.dispose()
    on_disk = _file_bytes(path)
    for secret in (b"Wallaby", b"Quokka", PHONE.encode(), b"9876543217"):
        assert secret not in on_disk, secret
    logs = "\n".join(f"{r.getMessage()} {r.__dict__!r}" for r in caplog.records)
    for secret in ("Wallaby", "Quokka", PHONE, "9876543217"):
        assert secret not in logs, secret
