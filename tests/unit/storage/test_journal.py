"""The journal: append once per dedupe key, event order per meeting, processed marking."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import Engine, event, func, select
from sqlalchemy.orm import Session

from storage import journal
from storage import runtime_state as rs
from storage.db import make_session_factory, session_scope
from storage.tables.journal import JournalEntry
from tests.storage_fixtures import (  # noqa: F401
    postgres_engine,
    postgres_ready,
    sqlite_engine,
    sqlite_template,
    sqlite_url,
)

T0 = datetime(2026, 3, 4, 17, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest) -> Engine:
    """A database migrated to head: a SQLite file, and PostgreSQL when configured."""
    made: Engine = request.getfixturevalue(f"{request.param}_engine")
    return made


def _append(
    session: Session, key: str, *, ts: int | None, uuid: str | None = "m1", **kw: Any
) -> tuple[JournalEntry, bool]:
    return journal.append(
        session,
        received_at=kw.pop("received_at", T0),
        event=kw.pop("event", "meeting.participant_joined"),
        event_ts=ts,
        meeting_uuid=uuid,
        dedupe_key=key,
        body=kw.pop("body", b'{"k":"' + key.encode() + b'"}'),
        parsed_ok=kw.pop("parsed_ok", True),
        parse_error=kw.pop("parse_error", None),
    )


def test_append_stores_every_column_and_returns_new(engine: Engine) -> None:
    factory = make_session_factory(engine)
    with session_scope(factory) as session:
        created, is_new = _append(session, "k1", ts=1772643790113, body=b"\x00raw\xffbytes")
        entry_id = created.id
    assert is_new
    with session_scope(factory) as session:
        stored = journal.entry(session, entry_id=entry_id)
        assert stored is not None
        assert stored.body == b"\x00raw\xffbytes"
        assert stored.event == "meeting.participant_joined"
        assert stored.event_ts == 1772643790113
        assert stored.meeting_uuid == "m1"
        assert stored.received_at == T0
        assert stored.received_at.tzinfo is not None
        assert stored.parsed_ok is True
        assert stored.parse_error is None
        assert stored.processed_at is None


def test_duplicate_key_returns_the_first_entry_and_stores_nothing(engine: Engine) -> None:
    factory = make_session_factory(engine)
    with session_scope(factory) as session:
        first, first_new = _append(session, "dup", ts=5, body=b"first")
        first_id = first.id
    with session_scope(factory) as session:
        second, second_new = _append(session, "dup", ts=6, body=b"second")
        assert (second.id, second_new) == (first_id, False)
        assert second.body == b"first"
    with session_scope(factory) as session:
        assert session.scalar(select(func.count()).select_from(JournalEntry)) == 1
    assert first_new


def test_duplicate_within_one_transaction(engine: Engine) -> None:
    factory = make_session_factory(engine)
    with session_scope(factory) as session:
        a, a_new = _append(session, "same", ts=1)
        b, b_new = _append(session, "same", ts=1)
        assert (a_new, b_new) == (True, False)
        assert a.id == b.id


def test_unparsed_entry_keeps_its_error_and_is_not_listed_for_processing(engine: Engine) -> None:
    factory = make_session_factory(engine)
    with session_scope(factory) as session:
        _append(session, "bad", ts=3, parsed_ok=False, parse_error="payload: Field required")
        _append(session, "good", ts=4)
        _append(session, "no-meeting", ts=2, uuid=None, event="endpoint.url_validation")
    with session_scope(factory) as session:
        assert [e.dedupe_key for e in journal.unprocessed(session)] == ["good"]
        [bad] = [
            e for e in journal.entries_for_meeting(session, meeting_uuid="m1") if not e.parsed_ok
        ]
        assert bad.parse_error == "payload: Field required"


def test_unprocessed_is_in_event_order_per_meeting_and_respects_limit(engine: Engine) -> None:
    factory = make_session_factory(engine)
    with session_scope(factory) as session:
        # Arrival order differs from event order: late deliveries carry older event_ts.
        _append(session, "c", ts=300)
        _append(session, "a", ts=100)
        _append(session, "other", ts=50, uuid="m2")
        _append(session, "b2", ts=200)
        _append(session, "b1", ts=200)
    with session_scope(factory) as session:
        assert [e.dedupe_key for e in journal.unprocessed(session, meeting_uuid="m1")] == [
            "a",
            "b2",
            "b1",
            "c",
        ]
        assert [e.dedupe_key for e in journal.unprocessed(session, limit=2)] == ["other", "a"]
        assert [e.dedupe_key for e in journal.entries_for_meeting(session, meeting_uuid="m2")] == [
            "other"
        ]


def test_mark_processed_once(engine: Engine) -> None:
    factory = make_session_factory(engine)
    with session_scope(factory) as session:
        first, _ = _append(session, "x", ts=1)
        _append(session, "y", ts=2)
        first_id = first.id
    later = T0 + timedelta(seconds=3)
    with session_scope(factory) as session:
        assert journal.mark_processed(session, entry_id=first_id, processed_at=later) is True
    with session_scope(factory) as session:
        assert journal.mark_processed(session, entry_id=first_id, processed_at=later) is False
        assert journal.mark_processed(session, entry_id=999_999, processed_at=later) is False
        assert [e.dedupe_key for e in journal.unprocessed(session)] == ["y"]
        marked = journal.entry(session, entry_id=first_id)
        assert marked is not None and marked.processed_at == later


def test_append_refuses_bad_keys(engine: Engine) -> None:
    factory = make_session_factory(engine)
    with session_scope(factory) as session:
        with pytest.raises(ValueError):
            _append(session, "", ts=1)
        with pytest.raises(ValueError):
            _append(session, "k" * 201, ts=1)


def _delivery(key: str, *, ts: int, uuid: str | None = "m1") -> journal.Delivery:
    return journal.Delivery(
        received_at=T0,
        event="meeting.participant_joined",
        event_ts=ts,
        meeting_uuid=uuid,
        dedupe_key=key,
        body=f"body-{key}".encode(),
        parsed_ok=True,
    )


def test_record_many_is_one_batch_with_duplicates_inside_and_before_it(engine: Engine) -> None:
    factory = make_session_factory(engine)
    with session_scope(factory) as session:
        [(earlier, earlier_new)] = journal.record_many(session, [_delivery("old", ts=1)])
    with session_scope(factory) as session:
        results = journal.record_many(
            session,
            [
                _delivery("a", ts=2),
                _delivery("old", ts=1),  # journaled by an earlier batch
                _delivery("b", ts=3, uuid=None),
                _delivery("a", ts=2),  # Zoom's retry inside the same batch
            ],
        )
    assert earlier_new
    (a, a_new), (old, old_new), (b, b_new), (again, again_new) = results
    assert (a_new, old_new, b_new, again_new) == (True, False, True, False)
    assert old == earlier and again == a and len({a, b, earlier}) == 3
    with session_scope(factory) as session:
        stored = {e.dedupe_key: e for e in session.scalars(select(JournalEntry))}
        assert set(stored) == {"old", "a", "b"}
        assert (stored["a"].id, stored["a"].body, stored["b"].meeting_uuid) == (a, b"body-a", None)
    with session_scope(factory) as session:
        assert journal.record_many(session, []) == []


def test_record_many_stores_each_column_as_its_type_does(engine: Engine) -> None:
    """The batch's driver SQL converts and cuts each value as the table's types and
    `append` do; a batch longer than one statement holds is split, its duplicates kept."""
    toronto = timezone(timedelta(hours=-5))
    unusual = journal.Delivery(
        received_at=datetime(2026, 3, 4, 11, 59, 59, 1, tzinfo=toronto),
        event="e" * 130,
        event_ts=None,
        meeting_uuid="u" * 130,
        dedupe_key="unusual",
        body=b"\x00raw\xffbytes",
        parsed_ok=False,
        parse_error="body is not JSON (ValueError)",
        redacted=True,
    )
    many = [_delivery(f"k{n}", ts=n) for n in range(450)] + [_delivery("k7", ts=7)]
    factory = make_session_factory(engine)
    with session_scope(factory) as session:
        [(unusual_id, _)] = journal.record_many(session, [unusual])
        results = journal.record_many(session, many)
    assert [new for _, new in results] == [True] * 450 + [False]
    assert results[-1] == (results[7][0], False)
    with session_scope(factory) as session:
        stored = journal.entry(session, entry_id=unusual_id)
        assert stored is not None
        assert stored.received_at == datetime(2026, 3, 4, 16, 59, 59, 1, tzinfo=UTC)
        assert (stored.event, stored.meeting_uuid) == ("e" * 128, "u" * 128)
        assert (stored.event_ts, stored.body) == (None, b"\x00raw\xffbytes")
        assert (stored.parsed_ok, stored.redacted, stored.processed_at) == (False, True, None)
        assert stored.parse_error == "body is not JSON (ValueError)"
        rows = session.execute(select(JournalEntry.id, JournalEntry.dedupe_key)).all()
        assert len(rows) == 451
        assert {key: entry_id for entry_id, key in rows}["k449"] == results[449][0]
        before = session.scalars(select(JournalEntry).where(JournalEntry.received_at < T0))
        assert [entry.dedupe_key for entry in before] == ["unusual"]


def test_record_many_refuses_a_bad_key_and_writes_nothing(engine: Engine) -> None:
    factory = make_session_factory(engine)
    with pytest.raises(ValueError, match="dedupe_key"):
        with session_scope(factory) as session:
            journal.record_many(session, [_delivery("fine", ts=1), _delivery("", ts=2)])
    with session_scope(factory) as session:
        assert session.scalar(select(func.count()).select_from(JournalEntry)) == 0


@pytest.mark.postgres
def test_announce_notifies_listeners_when_the_batch_commits(postgres_engine: Engine) -> None:  # noqa: F811
    import psycopg

    url = postgres_engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    factory = make_session_factory(postgres_engine)
    with psycopg.connect(url, autocommit=True) as listener:
        listener.execute(f"LISTEN {journal.JOURNAL_CHANNEL}")
        with session_scope(factory) as session:
            journal.record_many(session, [_delivery("n1", ts=1)])
            journal.announce(session, {"m1", "m2"})
            assert list(listener.notifies(timeout=0.2)) == []  # nothing before the commit
        heard = {note.payload for note in listener.notifies(timeout=5.0, stop_after=2)}
        assert heard == {"m1", "m2"}
        with pytest.raises(RuntimeError):
            with session_scope(factory) as session:
                journal.announce(session, {"rolled-back"})
                raise RuntimeError("the batch failed")
        assert list(listener.notifies(timeout=0.3)) == []


def test_mark_unreadable_keeps_the_body_and_records_why(engine: Engine) -> None:
    factory = make_session_factory(engine)
    with session_scope(factory) as session:
        [(entry_id, _new)] = journal.record_many(session, [_delivery("unfit", ts=1)])
    later = T0 + timedelta(seconds=5)
    with session_scope(factory) as session:
        assert journal.mark_unreadable(
            session, entry_id=entry_id, reason="meeting.started: event_ts: bad", processed_at=later
        )
    with session_scope(factory) as session:  # once only, like mark_processed
        assert not journal.mark_unreadable(
            session, entry_id=entry_id, reason="again", processed_at=later
        )
        entry = journal.entry(session, entry_id=entry_id)
        assert entry is not None
        assert (entry.body, entry.parsed_ok, entry.parse_error, entry.processed_at) == (
            b"body-unfit",
            False,
            "meeting.started: event_ts: bad",
            later,
        )
        assert journal.unprocessed(session) == []


def test_has_unprocessed_sees_only_parsed_entries_still_to_feed(engine: Engine) -> None:
    factory = make_session_factory(engine)
    with session_scope(factory) as session:
        _append(session, "bad", ts=1, parsed_ok=False, parse_error="not an event")
        assert not journal.has_unprocessed(session, meeting_uuid="m1")
        entry, _ = _append(session, "good", ts=2)
        assert journal.has_unprocessed(session, meeting_uuid="m1")
        assert not journal.has_unprocessed(session, meeting_uuid="m2")
        journal.mark_processed(session, entry_id=entry.id, processed_at=T0)
        assert not journal.has_unprocessed(session, meeting_uuid="m1")


def test_every_look_for_pending_entries_skips_the_entries_already_fed(
    sqlite_engine: Engine,  # noqa: F811
) -> None:
    """The looks a worker makes at every visit (its meeting's), and those for every meeting
    with work (a sweep's, `unprocessed` of all meetings), use the partial index of pending
    entries, so their cost does not grow with the journal's history (migrations 0013, 0015)."""
    factory = make_session_factory(sqlite_engine)
    with session_scope(factory) as session:
        for n in range(20):
            entry, _ = _append(session, f"old{n}", ts=n)
            journal.mark_processed(session, entry_id=entry.id, processed_at=T0)
        _append(session, "new", ts=99)
    seen: list[tuple[str, Any]] = []

    def keep(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if "webhook_journal" in statement and statement.lstrip().upper().startswith("SELECT"):
            seen.append((statement, parameters))

    event.listen(sqlite_engine, "before_cursor_execute", keep)
    try:
        with session_scope(factory) as session:
            assert journal.has_unprocessed(session, meeting_uuid="m1")
            assert [e.dedupe_key for e in journal.unprocessed(session, meeting_uuid="m1")] == [
                "new"
            ]
            assert [e.dedupe_key for e in journal.unprocessed(session)] == ["new"]
            assert rs.meetings_with_work(session, now=T0, running={"m1"}) == ["m1"]
    finally:
        event.remove(sqlite_engine, "before_cursor_execute", keep)
    assert len(seen) == 4
    with sqlite_engine.connect() as connection:
        for statement, parameters in seen:
            plan = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
            assert "ix_webhook_journal_meeting_pending" in " ".join(row[3] for row in plan)
