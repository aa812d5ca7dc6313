"""The calendar's storage: overrides per group, changes applied whole or not at all, skipped
meetings, and sessions stored in the calendar's module (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from phases.calendar import CalendarError, ModuleSpan, Override
from phases.calendar_changes import CalendarChange
from storage import calendar as stored
from storage.sessions import ensure_session
from storage.tables.calendar import CalendarOverride
from storage.tables.core import Module, SessionRecord
from tests.clock import TEST_NOW

WED = datetime(2026, 12, 10, 0, 0, tzinfo=UTC)  # Wednesday 9 December, 19:00 in Toronto
THU = WED + timedelta(days=1)


def _apply(session: Session, change: CalendarChange, group: str = "G") -> None:
    stored.apply_change(session, group_name=group, change=change, now=TEST_NOW, actor="fay")


def test_overrides_round_trip_per_group(db_session: Session) -> None:
    assert stored.overrides(db_session, group_name="G") == ()
    _apply(
        db_session,
        CalendarChange(
            put=(
                Override(kind="move", slot=WED, to=THU),
                Override(kind="cancel", slot=WED + timedelta(days=7)),
                Override(kind="add", to=THU + timedelta(days=30)),
            )
        ),
    )
    _apply(db_session, CalendarChange(put=(Override(kind="cancel", slot=WED),)), group="Other")
    db_session.commit()
    found = stored.overrides(db_session, group_name="G")
    assert [o.kind for o in found] == ["move", "cancel", "add"]
    assert found[0].slot == WED and found[0].to == THU
    assert found[0].to is not None and found[0].to.tzinfo is not None
    assert stored.overrides(db_session, group_name="Other") == (Override(kind="cancel", slot=WED),)
    row = db_session.scalars(select(CalendarOverride)).first()
    assert row is not None and (row.actor, row.created_at) == ("fay", TEST_NOW)


def test_a_change_drops_then_puts(db_session: Session) -> None:
    moved = Override(kind="move", slot=WED, to=THU)
    _apply(db_session, CalendarChange(put=(moved,)))
    _apply(db_session, CalendarChange(drop=(moved,), put=(Override(kind="cancel", slot=WED),)))
    db_session.commit()
    assert stored.overrides(db_session, group_name="G") == (Override(kind="cancel", slot=WED),)


def test_a_change_against_a_calendar_changed_meanwhile_is_refused(db_session: Session) -> None:
    with pytest.raises(CalendarError, match="changed meanwhile"):
        _apply(db_session, CalendarChange(drop=(Override(kind="cancel", slot=WED),)))
    db_session.rollback()
    _apply(db_session, CalendarChange(put=(Override(kind="cancel", slot=WED),)))
    db_session.commit()
    with pytest.raises(CalendarError, match="changed meanwhile"):
        _apply(db_session, CalendarChange(put=(Override(kind="move", slot=WED, to=THU),)))
    db_session.rollback()
    assert stored.overrides(db_session, group_name="G") == (Override(kind="cancel", slot=WED),)


def test_a_session_is_stored_in_the_module_the_calendar_gives(db_session: Session) -> None:
    span = ModuleSpan(
        name="2027-01", starts_on=date(2027, 1, 7), ends_on=date(2027, 4, 30), sessions=4
    )
    for number, uuid in enumerate(("m1", "m2", "m3", "m4", "m5")):
        ensure_session(
            db_session,
            group_name="Monthly",
            meeting_uuid=uuid,
            meeting_id="1",
            scheduled_start=datetime(2027, 1, 8, 2, 45, tzinfo=UTC) + timedelta(days=28 * number),
            now=TEST_NOW,
            timezone="America/Los_Angeles",
            module=span,
        )
    ensure_session(
        db_session,
        group_name="Monthly",
        meeting_uuid="none",
        meeting_id="1",
        scheduled_start=datetime(2027, 6, 4, 1, 45, tzinfo=UTC),
        now=TEST_NOW,
        module=None,
    )
    db_session.commit()
    (module,) = db_session.scalars(select(Module)).all()
    assert (module.name, module.starts_on, module.ends_on) == (
        "2027-01",
        date(2027, 1, 7),
        date(2027, 4, 30),
    )
    records = db_session.scalars(select(SessionRecord).order_by(SessionRecord.id)).all()
    assert [r.module_id for r in records] == [module.id] * 5 + [None]


def test_a_module_past_its_number_of_sessions_is_logged(db_session: Session, caplog) -> None:
    span = ModuleSpan(
        name="2027-01", starts_on=date(2027, 1, 1), ends_on=date(2027, 3, 31), sessions=1
    )
    for uuid in ("a", "b"):
        ensure_session(
            db_session,
            group_name="G",
            meeting_uuid=uuid,
            meeting_id="1",
            scheduled_start=datetime(2027, 1, 7, 0, 0, tzinfo=UTC),
            now=TEST_NOW,
            module=span,
        )
    assert "module 2027-01 now has 2 sessions (expected 1)" in caplog.text
