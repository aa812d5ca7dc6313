"""A facilitator's changes to the group's calendar, and the dates and times they type.

Pure, like `phases.calendar`: "now" and the group's zone are arguments. `cancel_session`,
`move_session` and `add_session` check a change against the calendar and the stored
overrides and answer with a `CalendarChange` (the overrides to drop and to put, and one line
saying what changed), or raise `CalendarError` with the reason: no session on that date (a
break, a holiday, already cancelled, moved elsewhere), a session that has begun, a time in
the past or too far ahead, a move onto another session or too close to one (their windows
would overlap, and the matching rule could no longer tell them apart).

`parse_when` reads a date and time as a person types it; without an offset it is read on the
group's clock, and the caller is told so.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo

from phases.calendar import Calendar, CalendarError, Override, PlannedSession, show

__all__ = [
    "CalendarChange",
    "add_session",
    "cancel_session",
    "move_session",
    "parse_day_or_when",
    "parse_when",
]

#: How far ahead a facilitator may change the calendar.
_AHEAD = timedelta(days=3 * 366)


@dataclass(frozen=True, slots=True, kw_only=True)
class CalendarChange:
    """What a facilitator's command does to the stored overrides: drop these, then put these.

    `message` says what changed, in one line; `notes` add what the user should know (a
    session put in a break or on a holiday).
    """

    drop: tuple[Override, ...] = ()
    put: tuple[Override, ...] = ()
    message: str = ""
    notes: tuple[str, ...] = ()


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


def _offset(moment: datetime) -> str:
    text = moment.strftime("%z")
    return f"{text[:3]}:{text[3:]}"


def parse_when(text: str, zone: tzinfo, zone_name: str) -> tuple[datetime, str]:
    """A date and time typed by a person: `2026-12-10 19:00`, `2026-12-10T19:00-05:00`.

    A time without an offset is read on the group's clock, and the second value says so
    (otherwise it is ""). Returns the instant on the group's clock.

    Raises:
        CalendarError: not a date and time, a date alone, or a local time that does not exist
            (clocks spring forward) or happens twice (clocks fall back) on that day.
    """
    raw = text.strip()
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        raise CalendarError(
            f"{text!r} is not a date and time: write it like 2026-12-10 19:00"
        ) from None
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw):
        raise CalendarError(f"{text!r} has no time: write it like {raw} 19:00")
    if parsed.utcoffset() is not None:
        return parsed.astimezone(zone), ""
    earlier = parsed.replace(tzinfo=zone, fold=0)
    later = parsed.replace(tzinfo=zone, fold=1)
    if earlier.utcoffset() != later.utcoffset():
        if earlier.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != parsed:
            raise CalendarError(
                f"{raw} does not exist in {zone_name} (the clocks spring forward that night)"
            )
        offsets = " or ".join(_offset(moment) for moment in (earlier, later))
        raise CalendarError(
            f"{raw} happens twice in {zone_name} (the clocks fall back that night): "
            f"add the offset, {offsets}"
        )
    return earlier, f"{raw} read as {zone_name} time"


def parse_day_or_when(text: str, zone: tzinfo, zone_name: str) -> tuple[date | datetime, str]:
    """A session named by its date (`2026-12-09`) or by its date and time (see `parse_when`;
    the second value is its note).

    Raises:
        CalendarError: neither.
    """
    raw = text.strip()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw):
        try:
            return date.fromisoformat(raw), ""
        except ValueError:
            raise CalendarError(f"{text!r} is not a real date") from None
    try:
        return parse_when(raw, zone, zone_name)
    except CalendarError as bad:
        if "clocks" in str(bad):
            raise
        raise CalendarError(
            f"{text!r} is not a date (2026-12-09) or a date and time (2026-12-09 19:00)"
        ) from None


def _within_reach(calendar: Calendar, day: date, now: datetime) -> None:
    today = calendar.local(now).date()
    if day < today - timedelta(days=366):
        raise CalendarError(f"{day.isoformat()} is long past")
    if day > today + _AHEAD:
        raise CalendarError(f"{day.isoformat()} is more than three years ahead")


def _target(
    calendar: Calendar, overrides: Sequence[Override], which: date | datetime, now: datetime
) -> PlannedSession:
    """The live session `which` names, or a CalendarError saying why there is none."""
    day = which if not isinstance(which, datetime) else calendar.local(which).date()
    _within_reach(calendar, day, now)
    rows = calendar.plan(day, day, overrides)
    live = [row for row in rows if row.live]
    if isinstance(which, datetime):
        that_day = live
        live = [row for row in live if _utc(row.start) == _utc(which)]
        if not live and that_day:
            times = ", ".join(f"{row.start:%H:%M}" for row in that_day)
            raise CalendarError(
                f"no session starts on {day.isoformat()} at {calendar.local(which):%H:%M}; "
                f"that day's session starts at {times}"
            )
    if len(live) == 1:
        return live[0]
    if len(live) > 1:
        times = ", ".join(f"{row.start:%H:%M}" for row in live)
        raise CalendarError(
            f"{day.isoformat()} has {len(live)} sessions ({times}): name one by its time, "
            f"like {day.isoformat()} {live[0].start:%H:%M}"
        )
    for row in rows:
        if row.note == "holiday":
            raise CalendarError(
                f"{day.isoformat()} is a holiday: no session (sessions add DATETIME holds one)"
            )
        if row.status == "cancelled":
            raise CalendarError(
                f"the session of {show(row.start)} is already cancelled "
                "(sessions add DATETIME holds it again)"
            )
    for override in overrides:
        if override.kind == "move" and override.slot is not None and override.to is not None:
            if calendar.local(override.slot).date() == day:
                raise CalendarError(
                    f"the session of {show(calendar.local(override.slot))} was moved to "
                    f"{show(calendar.local(override.to))}: name it by its new date"
                )
    days_off = calendar.in_break(day)
    if days_off is not None:
        raise CalendarError(
            f"{day.isoformat()} is in the group's break ({days_off.label}): no session"
        )
    at = f" at {which:%H:%M}" if isinstance(which, datetime) else ""
    raise CalendarError(
        f"no session is planned on {day:%a} {day.isoformat()}{at} (the group meets "
        f"{calendar.describe()})"
    )


def _started(session: PlannedSession, now: datetime, verb: str) -> None:
    if _utc(session.start) <= _utc(now):
        raise CalendarError(f"the session of {show(session.start)} has begun: too late to {verb}")


def _free(
    calendar: Calendar,
    overrides: Sequence[Override],
    start: datetime,
    now: datetime,
    *,
    moving: PlannedSession | None,
) -> list[str]:
    """Check a new start (future, its window clear of other sessions); return notes."""
    if _utc(start) <= _utc(now):
        raise CalendarError(f"{show(start)} is in the past")
    day = calendar.local(start).date()
    _within_reach(calendar, day, now)
    begin, end = calendar.window(start)
    near = calendar.plan(day - timedelta(days=2), day + timedelta(days=2), overrides)
    for row in near:
        if not row.live or (moving is not None and _utc(row.start) == _utc(moving.start)):
            continue
        other_begin, other_end = calendar.window(row.start)
        if begin < other_end and other_begin < end:
            if _utc(row.start) == _utc(start):
                raise CalendarError(f"{show(row.start)} is already a session of the group")
            raise CalendarError(
                f"{show(start)} is too close to the session of {show(row.start)}: their "
                f"windows (from {int(calendar.early.total_seconds() // 60)} minutes before a "
                "start to its end) would overlap"
            )
    notes: list[str] = []
    days_off = calendar.in_break(day)
    if days_off is not None:
        notes.append(f"{day.isoformat()} is in the group's break ({days_off.label})")
    elif calendar.is_holiday(day):
        notes.append(f"{day.isoformat()} is a holiday in the calendar")
    return notes


def _regular(session: PlannedSession) -> datetime | None:
    """The regular slot behind a planned or moved session (None for an added one)."""
    if session.status == "moved":
        return session.moved_from
    if session.status == "planned":
        return session.start
    return None


def cancel_session(
    calendar: Calendar, overrides: Sequence[Override], which: date | datetime, *, now: datetime
) -> CalendarChange:
    """Cancel the live session on a date (or at a date and time).

    Raises:
        CalendarError: no live session there (with the reason), or it has begun.
    """
    session = _target(calendar, overrides, which, now)
    _started(session, now, "cancel it")
    what = f"the session of {show(session.start)}"
    if session.status == "added":
        assert session.start is not None
        return CalendarChange(
            drop=(Override(kind="add", to=session.start),), message=f"cancelled {what} (added)"
        )
    slot = _regular(session)
    assert slot is not None
    drop = (
        (Override(kind="move", slot=slot, to=session.start),) if session.status == "moved" else ()
    )
    return CalendarChange(
        drop=drop, put=(Override(kind="cancel", slot=slot),), message=f"cancelled {what}"
    )


def move_session(
    calendar: Calendar,
    overrides: Sequence[Override],
    which: date | datetime,
    to: datetime,
    *,
    now: datetime,
) -> CalendarChange:
    """Move the live session on a date (or at a date and time) to a new start.

    Raises:
        CalendarError: no live session there, it has begun, the new start is past, unchanged,
            or too close to another session.
    """
    session = _target(calendar, overrides, which, now)
    _started(session, now, "move it")
    to = calendar.local(to)
    if _utc(to) == _utc(session.start):
        raise CalendarError(f"the session of {show(session.start)} is already at that time")
    notes = _free(calendar, overrides, to, now, moving=session)
    message = f"moved the session of {show(session.start)} to {show(to)}"
    if session.status == "added":
        return CalendarChange(
            drop=(Override(kind="add", to=session.start),),
            put=(Override(kind="add", to=to),),
            message=message,
            notes=tuple(notes),
        )
    slot = _regular(session)
    assert slot is not None
    drop = (
        (Override(kind="move", slot=slot, to=session.start),) if session.status == "moved" else ()
    )
    if _utc(slot) == _utc(to):
        return CalendarChange(drop=drop, message=f"{message}, its regular time")
    return CalendarChange(
        drop=drop,
        put=(Override(kind="move", slot=slot, to=to),),
        message=message,
        notes=tuple(notes),
    )


def add_session(
    calendar: Calendar, overrides: Sequence[Override], at: datetime, *, now: datetime
) -> CalendarChange:
    """Add a session at `at`; at the very start of a slot a facilitator cancelled, restore it.

    Raises:
        CalendarError: `at` is past, or too close to another session.
    """
    at = calendar.local(at)
    notes = _free(calendar, overrides, at, now, moving=None)
    for override in overrides:
        if override.kind == "cancel" and override.slot is not None:
            if _utc(override.slot) == _utc(at):
                return CalendarChange(
                    drop=(override,), message=f"restored the cancelled session of {show(at)}"
                )
    return CalendarChange(
        put=(Override(kind="add", to=at),),
        message=f"added a session on {show(at)}",
        notes=tuple(notes),
    )
