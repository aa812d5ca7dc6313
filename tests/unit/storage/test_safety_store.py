"""Emergency contacts from the roster's safety columns: sealed, replaced, kept, re-encrypted."""

from __future__ import annotations

import html
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from bot.cli import main
from bot.config import Settings
from bot.console.app import create_console_app
from storage import audit, safety
from storage import console as records
from storage.crypto import Keyring, generate_key
from storage.db import make_engine, make_session_factory, session_scope
from storage.roster import LEADER_HEADER, ROSTER_HEADERS, SAFETY_HEADERS
from storage.sessions import ensure_session
from storage.tables.clinical import EmergencyContact, SessionLocation
from storage.tables.core import Member
from tests.clock import TEST_NOW, HandClock

CONTACT = "Zq-Sam Quokka (partner)"
PHONE = "613-555-0142"


def _roster(tmp_path: Path, *, contact: str | None, phone: str = PHONE) -> Path:
    headers = list(ROSTER_HEADERS) + (list(SAFETY_HEADERS) if contact is not None else [])
    row = dict.fromkeys(headers, "")
    row.update(
        first_name="Ann",
        last_name="Sample",
        display_name="Ann",
        role="member",
        health_number="9876543217",
        province="ON",
        birth_date="1980-02-29",
    )
    if contact is not None:
        row.update(emergency_contact=contact, emergency_phone=phone if contact else "")
    path = tmp_path / "roster.csv"
    path.write_text(",".join(headers) + "\n" + ",".join(row[h] for h in headers) + "\n")
    return path


@pytest.fixture
def cli(db_url, tmp_path, monkeypatch):
    config = tmp_path / "balint-bot.toml"
    config.write_text(f'[storage]\nurl = "{db_url}"\n[group]\nname = "G"\n')
    key = generate_key()
    monkeypatch.setenv("BALINT_DATA_KEY", key)

    def run(*argv: str) -> int:
        return main(["--config", str(config), *argv], clock=HandClock())

    run.key = key  # type: ignore[attr-defined]
    return run


@pytest.fixture
def factory(db_url):
    engine = make_engine(db_url)
    yield make_session_factory(engine)
    engine.dispose()


def _contacts(factory, key: str) -> list[str]:
    with session_scope(factory) as session:
        ids = list(session.scalars(select(EmergencyContact.member_id)))
        found = safety.contacts_for(session, member_ids=ids, keyring=Keyring.from_text(key))
        return [c.describe() for contacts in found.values() for c in contacts]


def test_roster_columns_are_sealed_replaced_and_left_alone_without_the_columns(
    cli, factory, tmp_path, db_url
):
    assert cli("roster", "import", str(_roster(tmp_path, contact=CONTACT))) == 0
    assert _contacts(factory, cli.key) == [f"{CONTACT} {PHONE}"]
    if db_url.startswith("sqlite"):
        path = Path(db_url.removeprefix("sqlite:///"))
        raw = b"".join(
            p.read_bytes() for p in (path, path.with_name(path.name + "-wal")) if p.exists()
        )
        assert b"Quokka" not in raw and PHONE.encode() not in raw
    assert cli("roster", "import", str(_roster(tmp_path, contact=None))) == 0
    assert _contacts(factory, cli.key) == [f"{CONTACT} {PHONE}"]  # no columns: kept
    assert cli("roster", "import", str(_roster(tmp_path, contact=""))) == 0
    assert _contacts(factory, cli.key) == []  # empty cells: removed


def test_without_a_key_a_contact_is_refused(cli, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("BALINT_DATA_KEY")
    assert cli("roster", "import", str(_roster(tmp_path, contact=CONTACT))) == 1
    assert "health_number" in capsys.readouterr().err  # refused whole, nothing stored


def test_keys_rotate_reseals_contacts_and_locations(cli, factory, tmp_path, monkeypatch):
    assert cli("roster", "import", str(_roster(tmp_path, contact=CONTACT))) == 0
    old = Keyring.from_text(cli.key)
    with session_scope(factory) as session:
        ensure_session(
            session,
            group_name="G",
            meeting_uuid="u-1",
            meeting_id="1",
            scheduled_start=TEST_NOW,
            now=TEST_NOW,
        )
        member_id = session.scalar(select(EmergencyContact.member_id))
        token = old.seal_text("Zq-Picton", field_name=safety.LOCATION_FIELD)
        assert safety.record_location(
            session,
            meeting_uuid="u-1",
            member_id=member_id,
            person_key="k",
            token=token,
            at=TEST_NOW,
        )
    new = generate_key()
    monkeypatch.setenv("BALINT_DATA_KEY", new)
    monkeypatch.setenv("BALINT_DATA_KEY_PREVIOUS", cli.key)
    assert cli("keys", "rotate") == 0
    only_new = Keyring.from_text(new)
    assert _contacts(factory, new) == [f"{CONTACT} {PHONE}"]
    with session_scope(factory) as session:
        location = session.scalars(select(SessionLocation)).one()
        assert location.key_id == only_new.current_id
        assert only_new.open_text(location.location_sealed, field_name="private_reply") == (
            "Zq-Picton"
        )


def test_trains_to_lead_is_a_yes_or_no_column_kept_when_absent(cli, factory, tmp_path, capsys):
    def roster(value: str | None) -> Path:
        headers = list(ROSTER_HEADERS) + ([LEADER_HEADER] if value is not None else [])
        row = dict.fromkeys(headers, "")
        row.update(
            first_name="Ann",
            display_name="Ann",
            role="member",
            health_number="9876543217",
            birth_date="1980-02-29",
        )
        if value is not None:
            row[LEADER_HEADER] = value
        path = tmp_path / "leads.csv"
        path.write_text(",".join(headers) + "\n" + ",".join(row[h] for h in headers) + "\n")
        return path

    def leads() -> bool:
        with session_scope(factory) as session:
            return bool(session.scalar(select(Member.trains_to_lead)))

    assert cli("roster", "import", str(roster("yes"))) == 0 and leads()
    assert cli("roster", "import", str(roster(None))) == 0 and leads()
    assert cli("roster", "import", str(roster("maybe"))) == 1
    assert "trains_to_lead: yes or no" in capsys.readouterr().err
    assert cli("roster", "import", str(roster(""))) == 0 and not leads()


@pytest.mark.anyio
async def test_the_console_safety_page_shows_contacts_and_todays_location(
    cli, factory, tmp_path, db_url
):
    assert cli("roster", "import", str(_roster(tmp_path, contact=CONTACT))) == 0
    keyring = Keyring.from_text(cli.key)
    clock = HandClock()
    with session_scope(factory) as session:
        ensure_session(
            session,
            group_name="G",
            meeting_uuid="today",
            meeting_id="1",
            scheduled_start=clock(),
            now=clock(),
        )
        member_id = session.scalar(select(EmergencyContact.member_id))
        token = keyring.seal_text("Zq-Picton harbour", field_name=safety.LOCATION_FIELD)
        safety.record_location(
            session,
            meeting_uuid="today",
            member_id=member_id,
            person_key="k",
            token=token,
            at=clock(),
        )
    # a facilitator for the console (the fixture roster has only Ann)
    facilitator = tmp_path / "fay.csv"
    facilitator.write_text(
        ",".join(ROSTER_HEADERS)
        + "\n"
        + ",".join(
            {"first_name": "Fay", "display_name": "Fay", "role": "facilitator"}.get(h, "")
            for h in ROSTER_HEADERS
        )
        + "\n"
    )
    assert cli("roster", "import", str(facilitator)) == 0
    settings = Settings(storage={"url": db_url}, group={"name": "G"}, data_key=cli.key)
    app = create_console_app(settings, session_factory=factory, clock=clock)
    with session_scope(factory) as session:
        fay = records.facilitator_by_name(session, group_name="G", name="Fay")
        link = records.issue_link(
            session, member_id=fay.member_id, now=clock(), ttl=timedelta(minutes=5)
        )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8001") as web:
        assert (await web.get("/group/safety")).status_code == 401
        assert (await web.post("/signin/link", data={"token": link})).status_code == 303
        page = (await web.get("/group/safety")).text
    assert CONTACT in html.unescape(page) and PHONE in page and "Zq-Picton harbour" in page
    with session_scope(factory) as session:
        shown = audit.entries(session, command="console safety")
        assert len(shown) == 1 and shown[0].actor == "console:Fay"
