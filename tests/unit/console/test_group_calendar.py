"""The console's calendar page data: the coming sessions as `sessions plan` shows them, then
the sessions held."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.console import group
from phases.calendar import Override
from phases.calendar_changes import CalendarChange
from storage.calendar import apply_change
from storage.db import session_scope
from storage.sessions import ensure_session
from tests.clock import TEST_NOW

from .conftest import GROUP

TORONTO = ZoneInfo("America/Toronto")


def _wednesday(day: int) -> datetime:
    return datetime(2026, 12, day, 19, 0, tzinfo=TORONTO)


def test_the_calendar_lists_coming_sessions_with_the_facilitators_changes(factory, settings):
    # TEST_NOW is Sunday 29 November; the group meets on Wednesdays at 19:00 (the default)
    change = CalendarChange(
        put=(
            Override(kind="cancel", slot=_wednesday(9)),
            Override(kind="move", slot=_wednesday(16), to=_wednesday(17)),
            Override(kind="add", to=datetime(2026, 12, 5, 10, 0, tzinfo=TORONTO)),
        )
    )
    with session_scope(factory) as session:
        apply_change(session, group_name=GROUP, change=change, now=TEST_NOW, actor="Fay")
    with session_scope(factory) as session:
        page = group.calendar(session, settings=settings, now=TEST_NOW)
    assert page.held == ()
    assert len(page.coming) == group.COMING
    first = [(e.starts_at.astimezone(TORONTO), e.status, e.note) for e in page.coming[:5]]
    assert first == [
        (_wednesday(2), "planned", ""),
        (datetime(2026, 12, 5, 10, 0, tzinfo=TORONTO), "added", ""),
        (_wednesday(9), "cancelled", "cancelled"),
        (_wednesday(17), "moved", "from Wed 2026-12-16 19:00"),
        (_wednesday(23), "planned", ""),
    ]
    assert all(e.session_id is None and e.starts_at >= TEST_NOW for e in page.coming)


def test_a_coming_session_that_has_met_is_listed_once_as_it_met(factory, settings):
    # the room opened before the scheduled start: the session exists before its start time
    now = _wednesday(2) - timedelta(minutes=10)
    with session_scope(factory) as session:
        ensure_session(
            session,
            group_name=GROUP,
            meeting_uuid="early-uuid==",
            meeting_id="85746065432",
            scheduled_start=_wednesday(2),
            now=now,
        )
    with session_scope(factory) as session:
        page = group.calendar(session, settings=settings, now=now)
    assert [e.status for e in page.held] == ["held"]
    assert page.held[0].meeting_uuid == "early-uuid=="
    assert page.coming[0].starts_at.astimezone(TORONTO) == _wednesday(9)
