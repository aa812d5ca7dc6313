"""Notified absences and contacts through `bot.cli.main`: attendance tells notified from
unexplained, and the module report lists whom to contact with the date of the last contact."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from bot.cli import main
from bot.config import Settings
from bot.console.app import create_console_app
from storage import attendance as att
from storage import audit
from storage import console as records
from storage.crypto import generate_key
from storage.db import make_engine, make_session_factory, session_scope
from storage.sessions import ensure_session
from storage.tables.clinical import Absence
from tests.clock import HandClock

ROSTER = Path(__file__).resolve().parents[2] / "fixtures" / "roster" / "good.csv"
#: Two Wednesday evenings of module 2026-09 (19:00 in Toronto).
FIRST = datetime(2026, 10, 7, 23, 0, tzinfo=UTC)
SECOND = datetime(2026, 10, 14, 23, 0, tzinfo=UTC)
POLICY = att.policy_for(length_minutes=90, bot_name="Balint Companion")


@pytest.fixture
def cli(db_url, tmp_path, monkeypatch, capsys):
    config = tmp_path / "balint-bot.toml"
    config.write_text(f'[storage]\nurl = "{db_url}"\n[group]\nname = "G"\n')
    monkeypatch.setenv("BALINT_DATA_KEY", generate_key())

    def run(*argv: str) -> int:
        return main(["--config", str(config), *argv], clock=HandClock())

    assert run("roster", "import", str(ROSTER)) == 0
    capsys.readouterr()
    return run


@pytest.fixture
def held(cli, db_url) -> tuple[int, int]:
    """Two finalised sessions; Ann came to the second, nobody else came."""
    engine = make_engine(db_url)
    ids = []
    with session_scope(make_session_factory(engine)) as session:
        for n, start in enumerate((FIRST, SECOND), start=1):
            ids.append(
                ensure_session(
                    session,
                    group_name="G",
                    meeting_uuid=f"absences-{n}",
                    meeting_id=str(n),
                    scheduled_start=start,
                    now=start,
                )
            )
        for kind, minutes in (("joined", 0), ("left", 90)):
            event = att.PresenceEvent(
                kind=kind,
                at=SECOND + timedelta(minutes=minutes),
                participant_key="ann-1",
                user_id="16",
                name="Ann",
                email="ann@example.org",
            )
            att.record_presence(session, meeting_uuid="absences-2", journal_id=kind, event=event)
        for n, start in enumerate((FIRST, SECOND), start=1):
            att.finalize(
                session, meeting_uuid=f"absences-{n}", policy=POLICY, now=start + timedelta(hours=3)
            )
    engine.dispose()
    return ids[0], ids[1]


def test_attendance_tells_notified_absences_from_unexplained_ones(cli, held, capsys):
    assert cli("absence", "add", "--member", "Ann", "--date", "2026-10-07", "--reason", "ill") == 0
    assert "Ann: notified absent from the session of 2026-10-07" in capsys.readouterr().out
    assert cli("absence", "add", "--member", "ben t", "--date", "2026-10-14", "--late") == 0
    assert cli("attendance", "--session", str(held[0])) == 0
    out = capsys.readouterr().out
    lines = out[out.index("not present") :].splitlines()
    assert any("Ann" in line and "notified (absent)" in line for line in lines)
    assert any("Ben T" in line and "unexplained" in line for line in lines)
    assert any("Cal" in line and "unexplained" in line for line in lines)
    assert "ill" not in out  # a reason is PHI: attendance shows only that one was given
    assert cli("attendance", "--session", str(held[1])) == 0
    out = capsys.readouterr().out
    lines = out[out.index("not present") :].splitlines()
    assert any("Ben T" in line and "notified (late)" in line for line in lines)
    assert not any("Ann" in line for line in lines)


def test_the_module_report_lists_whom_to_contact_with_the_last_contact(cli, held, capsys):
    assert cli("absence", "add", "--member", "Ann", "--date", "2026-10-07") == 0
    assert cli("absence", "contact", "--member", "Cal", "--date", "2026-10-20") == 0
    assert cli("absence", "contact", "--member", "Cal", "--date", "2026-10-16") == 0
    capsys.readouterr()
    assert cli("attendance", "report", "--module", "2026-09", "--jsonl") == 0
    rows = {row["name"]: row for row in map(json.loads, capsys.readouterr().out.splitlines())}
    assert set(rows) == {"Ann", "Ben T", "Cal"}  # enrolled members who never came included
    assert (rows["Ann"]["attended"], rows["Ann"]["notified"], rows["Ann"]["unexplained"]) == (
        1,
        1,
        0,
    )
    assert (rows["Cal"]["attended"], rows["Cal"]["unexplained"]) == (0, 2)
    assert rows["Cal"]["last_contact"] == "2026-10-20" and rows["Ben T"]["last_contact"] is None
    assert cli("attendance", "report", "--module", "2026-09") == 0
    out = capsys.readouterr().out
    contact = out[out.index("to contact") :]
    assert "Ben T" in contact and "last contact: never" in contact
    assert "Cal" in contact and "last contact: 2026-10-20" in contact
    assert "Ann" not in contact  # 1 of 2: not under one third


def test_a_members_notices_and_contacts_are_listed_with_their_sealed_texts(
    cli, held, capsys, db_url
):
    assert (
        cli("absence", "add", "--member", "Cal", "--date", "2026-10-07", "--reason", "Zq-flu") == 0
    )
    assert (
        cli("absence", "contact", "--member", "Cal", "--date", "2026-10-20", "--note", "Zq-ok") == 0
    )
    capsys.readouterr()
    assert cli("absence", "list", "--member", "Cal") == 0
    out = capsys.readouterr().out
    assert "2026-10-07  notified absent: Zq-flu" in out
    assert "2026-10-20  contacted: Zq-ok" in out
    if db_url.startswith("sqlite"):
        path = Path(db_url.removeprefix("sqlite:///"))
        raw = b"".join(
            p.read_bytes() for p in (path, path.with_name(path.name + "-wal")) if p.exists()
        )
        assert b"Zq-flu" not in raw and b"Zq-ok" not in raw


def test_a_second_notice_replaces_the_first_and_bad_input_is_refused(
    cli, held, db_url, capsys, monkeypatch
):
    assert cli("absence", "add", "--member", "Ann", "--date", "2026-10-07") == 0
    assert cli("absence", "add", "--member", "Ann", "--date", "2026-10-07", "--late") == 0
    assert "replaces the earlier notice" in capsys.readouterr().out
    assert cli("absence", "add", "--member", "Fay", "--date", "2026-10-07") == 1
    assert cli("absence", "add", "--member", "Nobody", "--date", "2026-10-07") == 1
    assert "not a member on the roster" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli("absence", "add", "--member", "Ann", "--date", "7 October")
    assert cli("absence", "contact", "--member", "Ann", "--date", "2030-01-01") == 1
    assert "in the future" in capsys.readouterr().err
    monkeypatch.delenv("BALINT_DATA_KEY")
    assert cli("absence", "add", "--member", "Cal", "--date", "2026-10-07", "--reason", "x") == 1
    assert "needs the data key" in capsys.readouterr().err
    engine = make_engine(db_url)
    with session_scope(make_session_factory(engine)) as session:
        notices = session.scalars(select(Absence)).all()
        assert [(n.session_date.isoformat(), n.late) for n in notices] == [("2026-10-07", True)]
        assert len(audit.entries(session, command="absence add")) == 2
    engine.dispose()


@pytest.mark.anyio
async def test_the_console_attendance_page_lists_whom_to_contact(cli, held, db_url):
    assert cli("absence", "contact", "--member", "Cal", "--date", "2026-10-20") == 0
    engine = make_engine(db_url)
    factory = make_session_factory(engine)
    clock = HandClock()
    settings = Settings(storage={"url": db_url}, group={"name": "G"})
    app = create_console_app(settings, session_factory=factory, clock=clock)
    with session_scope(factory) as session:
        fay = records.facilitator_by_name(session, group_name="G", name="Fay")
        token = records.issue_link(
            session, member_id=fay.member_id, now=clock(), ttl=timedelta(minutes=5)
        )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8001") as web:
        assert (await web.post("/signin/link", data={"token": token})).status_code == 303
        page = (await web.get("/group/attendance?module=2026-09")).text
    engine.dispose()
    contact = page[page.index("To contact") :]
    assert "Cal" in contact and "2026-10-20" in contact
    assert "Ben T" in contact and "never" in contact
    assert '<th scope="row">Ann</th>' not in contact
