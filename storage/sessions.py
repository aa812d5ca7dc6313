"""Groups, modules and sessions: which meeting instance belongs to which term of which group.

A group meets on a schedule; its modules are closed terms starting in September, January and
April (10-13 sessions each, none in July and August), named by their first month, e.g.
`2026-09`. A session is one Zoom meeting instance (meeting uuid). `ensure_session` is
idempotent, so the webhook path and the runtime may both call it. Functions flush, never
commit: the caller owns the transaction.
"""

from __future__ import annotations

import calendar
import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal, cast
from zoneinfo import ZoneInfo

from sqlalchemy import Table, bindparam, func, insert, select
from sqlalchemy.orm import Session

from phases.calendar import ModuleSpan
from phases.errors import BalintError
from storage.tables.core import AttendanceRecord, Group, Module, SessionRecord

__all__ = [
    "MODULE_SESSIONS",
    "SessionNotFound",
    "SessionSummary",
    "ensure_group",
    "ensure_session",
    "get_session",
    "group_id_of",
    "group_name_of",
    "list_sessions",
    "module_bounds",
    "module_name_for",
    "session_by_meeting",
    "sessions_on",
]

logger = logging.getLogger(__name__)

#: How many sessions a module has (the Ontario group's rule).
MODULE_SESSIONS = range(10, 14)
#: First month of each module and the month it ends in.
_MODULE_MONTHS = {9: 12, 1: 3, 4: 6}
_SESSIONS = cast(Table, SessionRecord.__table__)
# What a meeting's first visit runs to open its session, built once: building a statement
# and its cache key costs more than SQLite takes to run one of these
_NEW_SESSION = insert(_SESSIONS).returning(_SESSIONS.c.id)
_SESSION_OF = select(SessionRecord.id).where(SessionRecord.meeting_uuid == bindparam("uuid"))
_GROUP_ID = select(Group.id).where(Group.name == bindparam("name"))
_MODULE_ID = select(Module.id).where(
    Module.group_id == bindparam("group_id"), Module.name == bindparam("name")
)
_MODULE_SESSIONS = (
    select(func.count())
    .select_from(SessionRecord)
    .where(SessionRecord.module_id == bindparam("module_id"))
)


class SessionNotFound(BalintError):
    """No session with that id or meeting uuid."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionSummary:
    """A session as `balint-bot sessions list` shows it."""

    id: int
    group: str
    module: str
    meeting_uuid: str
    meeting_id: str
    scheduled_start: datetime
    finalized: bool
    attendees: int


def module_name_for(day: date) -> str | None:
    """The module a local date falls in (`2026-09`, `2027-01`, `2027-04`), None in summer."""
    if day.month >= 9:
        return f"{day.year}-09"
    if day.month <= 3:
        return f"{day.year}-01"
    if day.month <= 6:
        return f"{day.year}-04"
    return None


def module_bounds(name: str) -> tuple[date, date]:
    """First and last day of the module called `name`.

    Raises:
        BalintError: `name` is not `YYYY-09`, `YYYY-01` or `YYYY-04`.
    """
    try:
        year_text, month_text = name.split("-")
        year, month = int(year_text), int(month_text)
    except ValueError:
        raise BalintError(f"module name {name!r} is not like 2026-09") from None
    if month not in _MODULE_MONTHS or len(year_text) != 4 or len(month_text) != 2:
        raise BalintError(
            f"module {name!r} must start in September (09), January (01) or April (04)"
        )
    last = _MODULE_MONTHS[month]
    return date(year, month, 1), date(year, last, calendar.monthrange(year, last)[1])


def group_id_of(session: Session, *, name: str) -> int | None:
    """The id of the group called `name`, if there is one."""
    return session.scalar(_GROUP_ID, {"name": name})


def ensure_group(
    session: Session, *, name: str, now: datetime, timezone: str = "America/Toronto"
) -> int:
    """The id of the group called `name`, created (stamped `now`) if new."""
    found = group_id_of(session, name=name)
    if found is not None:
        return found
    group = Group(name=name, timezone=timezone, created_at=now)
    session.add(group)
    session.flush()
    return group.id


def _ensure_module(
    session: Session, *, group_id: int, name: str, span: ModuleSpan | None = None
) -> int:
    found = session.scalar(_MODULE_ID, {"group_id": group_id, "name": name})
    if found is not None:
        return found
    starts_on, ends_on = (span.starts_on, span.ends_on) if span else module_bounds(name)
    module = Module(group_id=group_id, name=name, starts_on=starts_on, ends_on=ends_on)
    session.add(module)
    session.flush()
    return module.id


def ensure_session(
    session: Session,
    *,
    group_name: str,
    meeting_uuid: str,
    meeting_id: str,
    scheduled_start: datetime,
    now: datetime,
    timezone: str = "America/Toronto",
    module: ModuleSpan | None | Literal["by-date"] = "by-date",
) -> int:
    """The id of the session for `meeting_uuid`, created (with its group and module) if new.

    `now` stamps a group created on the way (the operation's one clock reading).

    `module` is the module the group's calendar matched the session to (`phases.calendar`),
    or None for none. By default ("by-date") the module is chosen by the scheduled start's
    date in the group's `timezone` (September, January, April; none in July and August). A
    module past its number of sessions (13 by date) is logged, not refused.

    Raises:
        BalintError: `scheduled_start` is naive.
    """
    if scheduled_start.tzinfo is None:
        raise BalintError("scheduled_start must be timezone-aware")
    found = session.scalar(_SESSION_OF, {"uuid": meeting_uuid})
    if found is not None:
        return found
    group_id = ensure_group(session, name=group_name, now=now, timezone=timezone)
    most: int | None
    if module == "by-date":
        name = module_name_for(scheduled_start.astimezone(ZoneInfo(timezone)).date())
        span, most = None, MODULE_SESSIONS.stop - 1
    else:
        name = module.name if module is not None else None
        span, most = module, module.sessions if module is not None else None
    module_id = _ensure_module(session, group_id=group_id, name=name, span=span) if name else None
    # a Core insert: a meeting's first visit writes it once, without the ORM's unit of work
    session_id: int = (
        session.connection()
        .execute(
            _NEW_SESSION,
            {
                "group_id": group_id,
                "module_id": module_id,
                "meeting_uuid": meeting_uuid,
                "meeting_id": str(meeting_id),
                "scheduled_start": scheduled_start,
            },
        )
        .scalar_one()
    )
    if module_id is not None:
        count = session.scalar(_MODULE_SESSIONS, {"module_id": module_id})
        if count is not None and most is not None and count > most:
            logger.warning("module %s now has %d sessions (expected %d)", name, count, most)
    return session_id


def get_session(session: Session, *, session_id: int) -> SessionRecord:
    """The session row with `session_id`. Raises SessionNotFound."""
    record = session.get(SessionRecord, session_id)
    if record is None:
        raise SessionNotFound(f"no session with id {session_id}")
    return record


def session_by_meeting(session: Session, *, meeting_uuid: str) -> SessionRecord | None:
    """The session row for a Zoom meeting uuid, if one was recorded."""
    return session.scalar(select(SessionRecord).where(SessionRecord.meeting_uuid == meeting_uuid))


def group_name_of(session: Session, *, record: SessionRecord) -> str:
    """The name of the group a session is of."""
    group = session.get(Group, record.group_id)
    assert group is not None  # sessions.group_id is a foreign key
    return group.name


def list_sessions(session: Session, *, group_name: str | None = None) -> tuple[SessionSummary, ...]:
    """Every session (of one group if named), oldest first, with its attendee count."""
    attendees = (
        select(AttendanceRecord.session_id, func.count().label("n"))
        .where(AttendanceRecord.present.is_(True))
        .group_by(AttendanceRecord.session_id)
        .subquery()
    )
    query = (
        select(SessionRecord, Group.name, Module.name, attendees.c.n)
        .join(Group, Group.id == SessionRecord.group_id)
        .outerjoin(Module, Module.id == SessionRecord.module_id)
        .outerjoin(attendees, attendees.c.session_id == SessionRecord.id)
        .order_by(SessionRecord.scheduled_start, SessionRecord.id)
    )
    if group_name is not None:
        query = query.where(Group.name == group_name)
    return tuple(
        SessionSummary(
            id=record.id,
            group=group,
            module=module or "",
            meeting_uuid=record.meeting_uuid,
            meeting_id=record.meeting_id,
            scheduled_start=record.scheduled_start,
            finalized=record.finalized_at is not None,
            attendees=count or 0,
        )
        for record, group, module, count in session.execute(query).all()
    )


def sessions_on(session: Session, *, group_name: str, day: date) -> tuple[SessionRecord, ...]:
    """The group's sessions whose scheduled start falls on `day` in the group's time zone."""
    group = session.scalar(select(Group).where(Group.name == group_name))
    if group is None:
        return ()
    zone = ZoneInfo(group.timezone)
    # a day in any zone lies within a day either side of the same UTC date
    near = select(SessionRecord).where(
        SessionRecord.group_id == group.id,
        SessionRecord.scheduled_start >= datetime.combine(day, datetime.min.time(), zone) - _DAY,
        SessionRecord.scheduled_start < datetime.combine(day, datetime.min.time(), zone) + 2 * _DAY,
    )
    return tuple(
        record
        for record in session.scalars(near.order_by(SessionRecord.scheduled_start))
        if record.scheduled_start.astimezone(zone).date() == day
    )


_DAY = timedelta(days=1)
