"""A group's calendar from its settings, joined with the facilitators' stored changes.

`calendar_from_settings(group, agenda)` builds the pure `phases.calendar.Calendar` of one
group: the cadence and modules of `[group.calendar]`, the weekday and start time of
`[group]`, the length of `[agenda]`. The other functions read that group's overrides from
storage (by the group's name) and answer with the calendar's typed rows: `planned_sessions`
and `coming_sessions` for the CLI and the console, `match_meeting` for the runtime's
`start_session` (it logs a skipped meeting and an unplanned session; it stores nothing).
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from bot.config import AgendaSettings, GroupSettings
from bot.errors import ConfigError
from phases.calendar import (
    WEEKDAYS,
    Calendar,
    CalendarError,
    DayRange,
    Match,
    ModuleRule,
    MonthlyDay,
    PlannedSession,
    SkippedMeeting,
    UnplannedSession,
)
from storage import calendar as stored

__all__ = [
    "calendar_from_settings",
    "coming_sessions",
    "group_zone",
    "match_meeting",
    "planned_sessions",
]

_log = logging.getLogger(__name__)


def group_zone(group: GroupSettings) -> ZoneInfo:
    """The group's time zone (known to this system: `GroupSettings` refuses others on load)."""
    return ZoneInfo(group.timezone)


def calendar_from_settings(group: GroupSettings, agenda: AgendaSettings) -> Calendar:
    """The calendar of one group (see the module docstring).

    A session's window opens `match_before_minutes` before its start, or at the social
    opening (`[agenda] opens_minutes_before`) if that is earlier.

    Raises:
        ConfigError: the calendar's parts contradict each other (what `bot.config` does not
            already refuse on load).
    """
    section = group.calendar
    try:
        return Calendar(
            zone=group_zone(group),
            cadence=section.cadence,
            weekday=WEEKDAYS.index(group.weekday),
            monthly_day=MonthlyDay.parse(section.day) if section.cadence == "monthly" else None,
            start_time=group.start_time,
            length=timedelta(minutes=agenda.length_minutes),
            reflection=timedelta(minutes=agenda.reflection_minutes),
            early=timedelta(minutes=max(section.match_before_minutes, agenda.opens_minutes_before)),
            modules=tuple(
                ModuleRule(start_month=module.start_month, sessions=module.sessions)
                for module in section.modules
            ),
            breaks=tuple(DayRange.parse(days) for days in section.breaks),
            holidays=tuple(DayRange.parse(days) for days in section.holidays),
        )
    except CalendarError as bad:
        raise ConfigError(f"settings: group.calendar: {bad}") from None


def planned_sessions(
    session: Session, *, calendar: Calendar, group_name: str, first: date, last: date
) -> tuple[PlannedSession, ...]:
    """The group's sessions on its days `first` .. `last`, with its stored changes applied."""
    return calendar.plan(first, last, stored.overrides(session, group_name=group_name))


def coming_sessions(
    session: Session, *, calendar: Calendar, group_name: str, after: datetime, count: int
) -> tuple[PlannedSession, ...]:
    """The group's next `count` sessions (cancelled ones included) from `after`."""
    return calendar.coming(after, stored.overrides(session, group_name=group_name), count=count)


def match_meeting(
    session: Session,
    *,
    calendar: Calendar,
    group_name: str,
    meeting_uuid: str,
    started: datetime,
) -> Match:
    """Which session a starting meeting of the group is (`Calendar.match`), logged when it
    is skipped or unplanned. Reads the group's stored changes; writes nothing."""
    match = calendar.match(started, stored.overrides(session, group_name=group_name))
    if isinstance(match, SkippedMeeting):
        _log.info(
            "meeting skipped by the calendar: %s",
            match.detail,
            extra={"meeting_id": meeting_uuid, "reason": match.reason},
        )
    elif isinstance(match, UnplannedSession):
        _log.info(
            "unplanned session: no planned session around its start",
            extra={
                "meeting_id": meeting_uuid,
                "scheduled_start": match.scheduled_start.isoformat(),
            },
        )
    return match
