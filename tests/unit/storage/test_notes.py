"""The facilitators' notes end to end through `bot.cli.main`: sealed at rest, append-only,
every read audited, re-encrypted by `keys rotate`, purged with their session."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.exc import DatabaseError

from bot.cli import main
from storage import audit
from storage.crypto import Keyring, generate_key
from storage.db import make_engine, make_session_factory, session_scope
from storage.notes import NOTE_FIELD, read_notes
from storage.retention import purge
from storage.sessions import ensure_session
from storage.tables.clinical import ClinicalNote
from tests.clock import TEST_NOW, HandClock

ROSTER = Path(__file__).resolve().parents[2] / "fixtures" / "roster" / "good.csv"
START = datetime(2026, 10, 7, 23, 0, tzinfo=UTC)
SECRET = "Ann spoke of a patient, health number 9876543217, and of her own grief"


@pytest.fixture
def cli(db_url, tmp_path, monkeypatch):
    config = tmp_path / "balint-bot.toml"
    config.write_text(f'[storage]\nurl = "{db_url}"\n[group]\nname = "G"\n')
    key = generate_key()
    monkeypatch.setenv("BALINT_DATA_KEY", key)

    def run(*argv: str) -> int:
        return main(["--config", str(config), *argv], clock=HandClock())

    run.key = key  # type: ignore[attr-defined]
    assert run("roster", "import", str(ROSTER)) == 0
    return run


@pytest.fixture
def factory(db_url):
    engine = make_engine(db_url)
    yield make_session_factory(engine)
    engine.dispose()


@pytest.fixture
def session_id(cli, factory) -> int:
    with session_scope(factory) as session:
        return ensure_session(
            session,
            group_name="G",
            meeting_uuid="notes-1",
            meeting_id="1",
            scheduled_start=START,
            now=TEST_NOW,
        )


def test_a_note_is_sealed_at_rest_and_never_logged(
    cli, session_id, db_url, capsys, caplog, tmp_path
):
    caplog.set_level(logging.DEBUG)
    sid = str(session_id)
    assert cli("notes", "add", "--member", "Ann", "--session", sid, "--text", SECRET) == 0
    assert "note 1 written (member note)" in capsys.readouterr().out
    if db_url.startswith("sqlite"):
        path = Path(db_url.removeprefix("sqlite:///"))
        for file in (path, path.with_name(path.name + "-wal")):
            if file.exists():
                raw = file.read_bytes()
                assert b"9876543217" not in raw and b"grief" not in raw, file
    assert "9876543217" not in caplog.text and "grief" not in caplog.text
    assert cli("notes", "list", "--member", "Ann") == 0
    out = capsys.readouterr().out
    assert SECRET in out and "on Ann" in out
    assert "9876543217" not in caplog.text


def test_an_amendment_keeps_the_original_and_the_database_refuses_an_edit(
    cli, session_id, factory, capsys
):
    sid = str(session_id)
    assert cli("notes", "add", "--member", "Ann", "--session", sid, "--text", "first word") == 0
    assert cli("notes", "amend", "--note", "1", "--text", "second word") == 0
    assert cli("notes", "amend", "--note", "2", "--text", "third word") == 0  # amends note 1
    capsys.readouterr()
    assert cli("notes", "list", "--member", "Ann") == 0
    out = capsys.readouterr().out
    assert out.index("first word") < out.index("second word") < out.index("third word")
    assert out.count("amended by note") == 2
    with session_scope(factory) as session:
        rows = session.scalars(select(ClinicalNote).order_by(ClinicalNote.id)).all()
        assert [r.amends_id for r in rows] == [None, 1, 1]
    for change in (
        update(ClinicalNote).where(ClinicalNote.id == 1).values(text_enc=b"x" * 40),
        update(ClinicalNote).where(ClinicalNote.id == 1).values(author="someone else"),
        update(ClinicalNote).where(ClinicalNote.id == 1).values(written_at=START),
    ):
        with pytest.raises(DatabaseError, match="append-only"):
            with session_scope(factory) as session:
                session.execute(change)
    with session_scope(factory) as session:
        threads = read_notes(
            session,
            group_name="G",
            keyring=Keyring.from_text(cli.key),
            about="member",
            member_id=session.scalar(select(ClinicalNote.member_id)),
            command="test",
            now=TEST_NOW,
        )
        assert threads[0].original.text == "first word"
        assert threads[0].current.text == "third word"


def test_group_notes_every_read_audited_and_bad_input_refused(cli, session_id, factory, capsys):
    assert cli("notes", "add", "--whole-group", "--date", "2026-10-07", "--text", "the group") == 0
    assert cli("notes", "add", "--whole-group", "--date", "2026-10-08", "--text", "x") == 1
    assert "no session of 'G' on 2026-10-08" in capsys.readouterr().err
    assert cli("notes", "add", "--member", "Fay", "--session", str(session_id), "--text", "x") == 1
    assert cli("notes", "add", "--whole-group", "--session", str(session_id), "--text", "  ") == 1
    assert cli("notes", "add", "--whole-group", "--session", "999", "--text", "x") == 1
    assert cli("notes", "amend", "--note", "42", "--text", "x") == 1
    capsys.readouterr()
    assert cli("notes", "list", "--whole-group") == 0
    assert "on the group" in capsys.readouterr().out
    assert cli("notes", "list", "--member", "Ann") == 0
    assert "no notes" in capsys.readouterr().out
    with session_scope(factory) as session:
        assert session.scalar(select(text("count(*)")).select_from(ClinicalNote)) == 1
        listed = audit.entries(session, command="notes list")
        assert len(listed) == 2 and "note:1" in listed[0].records


def test_without_the_data_key_nothing_is_written(cli, session_id, factory, capsys, monkeypatch):
    monkeypatch.delenv("BALINT_DATA_KEY")
    assert cli("notes", "add", "--whole-group", "--session", str(session_id), "--text", "x") == 1
    assert "need the data key" in capsys.readouterr().err
    with session_scope(factory) as session:
        assert session.scalars(select(ClinicalNote)).all() == []


def test_keys_rotate_reseals_notes_and_purge_deletes_them_with_the_session(
    cli, session_id, factory, capsys, monkeypatch
):
    sid = str(session_id)
    assert cli("notes", "add", "--member", "Ann", "--session", sid, "--text", "kept") == 0
    assert cli("notes", "amend", "--note", "1", "--text", "kept, corrected") == 0
    assert cli("absence", "add", "--member", "Ann", "--date", "2026-10-14", "--reason", "ill") == 0
    new = generate_key()
    monkeypatch.setenv("BALINT_DATA_KEY", new)
    monkeypatch.setenv("BALINT_DATA_KEY_PREVIOUS", cli.key)
    capsys.readouterr()
    assert cli("keys", "rotate") == 0
    assert "3 note(s), reason(s)" in capsys.readouterr().out
    only_new = Keyring.from_text(new)
    with session_scope(factory) as session:
        for note in session.scalars(select(ClinicalNote)):
            assert note.key_id == only_new.current_id
            assert only_new.open(note.text_enc, field_name=NOTE_FIELD, sealed_with=note.key_id)
    later = datetime(2037, 1, 1, tzinfo=UTC)
    with session_scope(factory) as session:
        report = purge(session, before=date(2026, 12, 31), now=later, dry_run=False)
        assert report.counts["clinical_notes"] == 2 and report.counts["absences"] == 1
    with session_scope(factory) as session:
        assert session.scalars(select(ClinicalNote)).all() == []
