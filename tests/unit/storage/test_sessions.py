"""Groups, modules and sessions: module by local date, idempotent sessions, the listing."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from phases.errors import BalintError
from storage.retention import default_cutoff
from storage.sessions import (
    ensure_session,
    list_sessions,
    module_bounds,
    module_name_for,
    session_by_meeting,
)
from storage.tables.core import Module
from tests.clock import TEST_NOW


@pytest.mark.parametrize(
    ("day", "name"),
    [
        (date(2026, 9, 2), "2026-09"),
        (date(2026, 12, 30), "2026-09"),
        (date(2027, 1, 6), "2027-01"),
        (date(2027, 3, 31), "2027-01"),
        (date(2027, 4, 7), "2027-04"),
        (date(2027, 6, 30), "2027-04"),
        (date(2027, 7, 7), None),
        (date(2027, 8, 25), None),
    ],
)
def test_module_by_date(day, name):
    assert module_name_for(day) == name


def test_module_bounds_and_bad_names():
    assert module_bounds("2026-09") == (date(2026, 9, 1), date(2026, 12, 31))
    assert module_bounds("2027-01") == (date(2027, 1, 1), date(2027, 3, 31))
    for bad in ("2026-07", "26-09", "2026-9", "autumn"):
        with pytest.raises(BalintError):
            module_bounds(bad)


def test_ensure_session_is_idempotent_and_uses_the_local_date(db_session: Session) -> None:
    # 2027-01-01 03:00 UTC is still 31 December in Toronto: the autumn module
    start = datetime(2027, 1, 1, 3, 0, tzinfo=UTC)
    first = ensure_session(
        db_session,
        group_name="G",
        meeting_uuid="u1",
        meeting_id="1",
        scheduled_start=start,
        now=TEST_NOW,
    )
    again = ensure_session(
        db_session,
        group_name="G",
        meeting_uuid="u1",
        meeting_id="1",
        scheduled_start=start,
        now=TEST_NOW,
    )
    summer = ensure_session(
        db_session,
        group_name="G",
        meeting_uuid="u2",
        meeting_id="1",
        scheduled_start=datetime(2027, 7, 15, 23, 0, tzinfo=UTC),
        now=TEST_NOW,
    )
    db_session.commit()
    assert first == again != summer
    assert [m.name for m in db_session.scalars(select(Module))] == ["2026-09"]
    record = session_by_meeting(db_session, meeting_uuid="u1")
    assert record is not None and record.scheduled_start == start
    listed = list_sessions(db_session, group_name="G")
    assert [(s.id, s.module, s.finalized, s.attendees) for s in listed] == [
        (first, "2026-09", False, 0),
        (summer, "", False, 0),
    ]
    assert list_sessions(db_session, group_name="other") == ()


def test_naive_start_is_refused(db_session: Session) -> None:
    with pytest.raises(BalintError, match="timezone-aware"):
        ensure_session(
            db_session,
            group_name="G",
            meeting_uuid="u",
            meeting_id="1",
            scheduled_start=datetime(2026, 10, 7, 19, 0),
            now=TEST_NOW,
        )


def test_retention_cutoff_is_ten_years():
    assert default_cutoff(date(2026, 11, 29)) == date(2016, 11, 29)
    assert default_cutoff(date(2028, 2, 29)) == date(2018, 2, 28)
