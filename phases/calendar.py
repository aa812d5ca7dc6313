"""The group's calendar: when its sessions happen, and which session a starting meeting is.

Pure: no clock and no I/O. Dates, instants, "now" and the group's time zone (a `tzinfo`, built
by the caller) are arguments; the facilitators' changes (`Override`) are values the caller
loaded. The agenda (`phases.agenda`) stays the source of a session's shape; the calendar only
says when sessions happen.

Theory of operation.

Regular slots. The cadence gives the days the group meets: `weekly` on a weekday, or
`monthly` on an nth weekday ("first thursday", "last friday") or a day of the month (15; a
day past a month's end means its last day). A day's slot starts at the start time on the
group's wall clock, so a 19:00 Toronto group meets at 19:00 local in winter (EST) and in
summer (EDT) alike. Arithmetic and comparisons run in UTC; results are in the group's zone.

Breaks and holidays. A day in a break (every July-August, or a one-off range of dates) has
no slot at all. A holiday's slot is listed as cancelled (note "holiday") and is not counted.

Modules. With modules configured, the year is cut at each module's start month: a module
runs from the 1st of its start month to the day before the next module starts, less the
break days at either end. September, January and April with a July-August break give
Sep-Dec, Jan-Mar and Apr-Jun, named like `storage.sessions` always named them (`2026-09`).
A module with a number of sessions plans its first N slots (holidays do not count) and has
no slot after them; without a number every slot in it is planned. Without modules every
slot is planned and belongs to no module.

Overrides. A facilitator cancels a session, moves it (to any time) or adds one (the rules
are in `phases.calendar_changes`). A change touches only its own session, never the
numbering of the others: a cancelled session still counts towards its module's N, and a
moved one keeps its number.

Matching. A meeting of the group that starts at instant T is:

1. the live session (planned, moved or added) whose window contains T. A session's window
   runs from `early` before its start (at least the social opening: the bridge passes the
   larger of the two) to its scheduled end, reflection included, so a meeting the host opens
   early, or restarts mid-session, is that session. If two windows contain T (the
   facilitators' changes never make them overlap; a change of settings may), a session
   under way wins over one about to begin.
2. else skipped, if T is in the window of a cancelled slot (by a facilitator or a holiday)
   or of the former slot of a moved session, or on a day of a break or a holiday: the bot
   does nothing for that meeting.
3. else an unplanned session whose scheduled start is T itself; the engine tells the
   facilitators once (`phases.state.Setup.unplanned`, the catalogue line
   `unplanned_session`).
"""

from __future__ import annotations

import calendar as _gregorian
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Literal

from phases.errors import BalintError

__all__ = [
    "MONTHS",
    "WEEKDAYS",
    "Calendar",
    "CalendarError",
    "DayRange",
    "Match",
    "MatchedSession",
    "ModuleRule",
    "ModuleSpan",
    "MonthlyDay",
    "Override",
    "PlannedSession",
    "SkippedMeeting",
    "UnplannedSession",
    "show",
]

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
MONTHS = (
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
)
_ORDINALS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "last": -1}
_ORDINAL_NAMES = {number: name for name, number in _ORDINALS.items()}

#: The years the calendar covers (dates beyond are a typing mistake, not a plan).
_FIRST_YEAR, _LAST_YEAR = 1900, 2999

Status = Literal["planned", "cancelled", "moved", "added"]
SkipReason = Literal["cancelled", "holiday", "moved", "break"]
OverrideKind = Literal["cancel", "move", "add"]


class CalendarError(BalintError):
    """A calendar setting or a change to the calendar is not valid; the message says why."""


# -- the parts of a calendar ------------------------------------------------------------------


def _month(text: str) -> int:
    word = text.strip().lower()
    for number, name in enumerate(MONTHS, start=1):
        if word == name or (len(word) >= 3 and name.startswith(word)):
            return number
    raise CalendarError(f"{text!r} is not a month (january ... december)")


def _weekday(text: str) -> int:
    word = text.strip().lower()
    for number, name in enumerate(WEEKDAYS):
        if word == name or (len(word) >= 3 and name.startswith(word)):
            return number
    raise CalendarError(f"{text!r} is not a day of the week (monday ... sunday)")


def _last_day(year: int, month: int) -> int:
    return _gregorian.monthrange(year, month)[1]


@dataclass(frozen=True, slots=True)
class MonthlyDay:
    """The day of the month a monthly group meets: an nth weekday or a day number.

    Args:
        ordinal: 1-4, or -1 for the last such weekday; 0 when `day` is used.
        weekday: Monday = 0 (with `ordinal`).
        day: 1-31 (a day past the month's end means its last day); 0 with `ordinal`.
    """

    ordinal: int = 0
    weekday: int = 0
    day: int = 0

    @classmethod
    def parse(cls, value: str | int) -> MonthlyDay:
        """`"first thursday"`, `"last friday"`, `15` or `"15"`.

        Raises:
            CalendarError: anything else.
        """
        text = str(value).strip().lower()
        if re.fullmatch(r"\d{1,2}", text):
            number = int(text)
            if not 1 <= number <= 31:
                raise CalendarError(f"day of the month {number} is not 1-31")
            return cls(day=number)
        words = text.split()
        if len(words) != 2 or words[0] not in _ORDINALS:
            raise CalendarError(
                f'{value!r} is not a day of the month: write like "first thursday", '
                '"last friday" or a day number such as 15'
            )
        return cls(ordinal=_ORDINALS[words[0]], weekday=_weekday(words[1]))

    def in_month(self, year: int, month: int) -> date:
        """This day in the given month."""
        last = _last_day(year, month)
        if self.day:
            return date(year, month, min(self.day, last))
        if self.ordinal == -1:
            end = date(year, month, last)
            return end - timedelta(days=(end.weekday() - self.weekday) % 7)
        first = date(year, month, 1)
        return first + timedelta(days=(self.weekday - first.weekday()) % 7 + 7 * (self.ordinal - 1))

    def describe(self) -> str:
        if self.day:
            return f"day {self.day} of each month"
        return f"the {_ORDINAL_NAMES[self.ordinal]} {WEEKDAYS[self.weekday].title()} of each month"


@dataclass(frozen=True, slots=True)
class DayRange:
    """Days the group does not meet: a break or a holiday, every year or once.

    Written as text: a month (`"july"`), a range of months (`"july-august"`,
    `"december-january"`), a day or range of days every year (`"12-25"`,
    `"12-21..01-03"`), or a date or range of dates once (`"2026-12-23"`,
    `"2026-12-21..2027-01-04"`). Ranges include both ends; yearly ones may wrap the new year.

    Args:
        label: the text it was read from (for messages).
        first, last: the one-off range (None for a yearly one).
        yearly: ((month, day), (month, day)) for a yearly range (None for a one-off).
    """

    label: str
    first: date | None = None
    last: date | None = None
    yearly: tuple[tuple[int, int], tuple[int, int]] | None = None

    @classmethod
    def parse(cls, value: str | date) -> DayRange:
        """Read one break or holiday (see the class docstring).

        Raises:
            CalendarError: the text is none of the accepted forms, or a range runs backwards.
        """
        if isinstance(value, date):
            return cls(label=value.isoformat(), first=value, last=value)
        text = value.strip().lower()
        if ".." in text:
            left, _, right = text.partition("..")
            return cls._between(text, left.strip(), right.strip())
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}|\d{2}-\d{2}", text):
            return cls._between(text, text, text)
        if "-" in text:
            left, _, right = text.partition("-")
            start, end = _month(left), _month(right)
        else:
            start = end = _month(text)
        return cls(label=text, yearly=((start, 1), (end, 31)))

    @classmethod
    def _between(cls, label: str, left: str, right: str) -> DayRange:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", left) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", right):
            try:
                first, last = date.fromisoformat(left), date.fromisoformat(right)
            except ValueError:
                raise CalendarError(f"{label!r}: not a real date") from None
            if last < first:
                raise CalendarError(f"{label!r}: the range ends before it begins")
            return cls(label=label, first=first, last=last)
        if re.fullmatch(r"\d{2}-\d{2}", left) and re.fullmatch(r"\d{2}-\d{2}", right):
            ends = tuple((int(part[:2]), int(part[3:])) for part in (left, right))
            for month, day in ends:
                if not 1 <= month <= 12 or not 1 <= day <= _last_day(2024, month):
                    raise CalendarError(f"{label!r}: {month:02d}-{day:02d} is not a day")
            return cls(label=label, yearly=(ends[0], ends[1]))
        raise CalendarError(
            f"{label!r} is not a break or holiday: write a month (july), months "
            "(july-august), a date (2026-12-23 or 12-25 every year) or dates joined by .."
        )

    def contains(self, day: date) -> bool:
        if self.yearly is None:
            assert self.first is not None and self.last is not None
            return self.first <= day <= self.last
        start, end = self.yearly
        here = (day.month, day.day)
        if start <= end:
            return start <= here <= end
        return here >= start or here <= end


@dataclass(frozen=True, slots=True, kw_only=True)
class ModuleRule:
    """A closed module: the month it starts in and, optionally, how many sessions it has.

    Args:
        start_month: 1-12.
        sessions: the number of sessions (its first N slots); None = every slot in it.
    """

    start_month: int
    sessions: int | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.start_month <= 12:
            raise CalendarError(f"module start month {self.start_month} is not 1-12")
        if self.sessions is not None and not 1 <= self.sessions <= 60:
            raise CalendarError(f"a module has 1-60 sessions, not {self.sessions}")


@dataclass(frozen=True, slots=True, kw_only=True)
class ModuleSpan:
    """One module as it runs in one year: its name (`2026-09`), dates and number of sessions."""

    name: str
    starts_on: date
    ends_on: date
    sessions: int | None = None

    def contains(self, day: date) -> bool:
        return self.starts_on <= day <= self.ends_on


@dataclass(frozen=True, slots=True, kw_only=True)
class Override:
    """A facilitator's change to the calendar.

    Two overrides are equal when they name the same instants, whatever their time zones.

    Args:
        kind: `cancel` (a regular slot), `move` (a regular slot, to a new start) or `add`.
        slot: the regular slot's start (cancel, move); None for an added session.
        to: the new start (move, add); None for a cancellation.
    """

    kind: OverrideKind
    slot: datetime | None = None
    to: datetime | None = None

    def __post_init__(self) -> None:
        wants = {"cancel": (True, False), "move": (True, True), "add": (False, True)}[self.kind]
        if (self.slot is not None, self.to is not None) != wants:
            raise CalendarError(f"a {self.kind} override has the wrong times")
        for moment in (self.slot, self.to):
            if moment is not None and moment.utcoffset() is None:
                raise CalendarError("override times must be timezone-aware")


@dataclass(frozen=True, slots=True, kw_only=True)
class PlannedSession:
    """One row of the plan (`Calendar.plan`).

    Args:
        start: the scheduled start, in the group's zone.
        end: the scheduled end (start + the agenda's length; the reflection follows it).
        status: planned, cancelled (by a facilitator or a holiday), moved or added.
        module: the module's name (`2026-09`), None outside modules.
        number: its place in the module's regular slots; None for an added session.
        moved_from: a moved session's regular start.
        note: why it is cancelled: "holiday" or "cancelled" ("" otherwise).
    """

    start: datetime
    end: datetime
    status: Status
    module: str | None = None
    number: int | None = None
    moved_from: datetime | None = None
    note: str = ""

    @property
    def day(self) -> date:
        return self.start.date()

    @property
    def live(self) -> bool:
        """Held (planned, moved or added), not cancelled."""
        return self.status != "cancelled"


@dataclass(frozen=True, slots=True, kw_only=True)
class MatchedSession:
    """The meeting is this planned session: the agenda runs from its scheduled start."""

    session: PlannedSession
    module: ModuleSpan | None

    @property
    def scheduled_start(self) -> datetime:
        return self.session.start


@dataclass(frozen=True, slots=True, kw_only=True)
class UnplannedSession:
    """No session is planned around the meeting: it is one, timed from its actual start.

    The engine tells the facilitators so, once (`phases.state.Setup.unplanned`).
    """

    scheduled_start: datetime
    module: ModuleSpan | None


@dataclass(frozen=True, slots=True, kw_only=True)
class SkippedMeeting:
    """The calendar says the group does not meet now: the bot does nothing for this meeting.

    Args:
        reason: cancelled, holiday, moved (the session's former slot) or break.
        session: the cancelled slot or the moved session, when there is one.
        detail: one line for logs and people ("the session of ... is cancelled").
    """

    reason: SkipReason
    session: PlannedSession | None
    detail: str


Match = MatchedSession | UnplannedSession | SkippedMeeting


# -- the calendar -----------------------------------------------------------------------------


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


def show(moment: datetime) -> str:
    """How the calendar writes a session's start: "Wed 2026-12-09 19:00"."""
    return f"{moment:%a %Y-%m-%d %H:%M}"


@dataclass(frozen=True, slots=True, kw_only=True)
class _Slot:
    """A regular slot: a cadence day outside breaks, with its module and number."""

    start: datetime
    module: str | None
    number: int | None
    holiday: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class Calendar:
    """One group's calendar (see the module docstring).

    Args:
        zone: the group's time zone (a `zoneinfo.ZoneInfo`, built by the caller).
        cadence: `weekly` or `monthly`.
        weekday: the weekly day, Monday = 0.
        monthly_day: the monthly day (required with `monthly`).
        start_time: the scheduled start on the group's clock (the meditation begins here).
        length: the group's length (the agenda's `length_minutes`).
        reflection: the optional reflection after the end (it belongs to the window).
        early: how long before a start its window opens (at least the social opening).
        modules: the closed modules, by start month (none: every slot, no module).
        breaks: the days without slots; holidays: the days whose slots are cancelled.

    Raises:
        CalendarError: the parts contradict each other.
    """

    zone: tzinfo
    cadence: Literal["weekly", "monthly"] = "weekly"
    weekday: int = 2
    monthly_day: MonthlyDay | None = None
    start_time: time = time(19, 0)
    length: timedelta = timedelta(minutes=105)
    reflection: timedelta = timedelta(0)
    early: timedelta = timedelta(minutes=60)
    modules: tuple[ModuleRule, ...] = ()
    breaks: tuple[DayRange, ...] = ()
    holidays: tuple[DayRange, ...] = ()

    def __post_init__(self) -> None:
        if self.cadence == "monthly" and self.monthly_day is None:
            raise CalendarError("a monthly calendar needs its day (like first thursday)")
        if not 0 <= self.weekday <= 6:
            raise CalendarError(f"weekday {self.weekday} is not 0-6")
        if self.length <= timedelta(0) or self.early < timedelta(0):
            raise CalendarError("a session needs a positive length and a window before it")
        if self.reflection < timedelta(0):
            raise CalendarError("the reflection cannot be negative")
        if self.start_time.tzinfo is not None:
            raise CalendarError("the start time is on the group's clock: give no zone")
        months = [rule.start_month for rule in self.modules]
        if len(set(months)) != len(months):
            raise CalendarError(f"two modules start in the same month ({sorted(months)})")
        object.__setattr__(
            self, "modules", tuple(sorted(self.modules, key=lambda rule: rule.start_month))
        )

    # -- describing ------------------------------------------------------------------------

    def describe(self) -> str:
        """When the group meets, in words: "weekly on Wednesday at 19:00"."""
        when = (
            f"weekly on {WEEKDAYS[self.weekday].title()}"
            if self.cadence == "weekly"
            else f"monthly on {self._monthly().describe()}"
        )
        return f"{when} at {self.start_time:%H:%M}"

    def _monthly(self) -> MonthlyDay:
        assert self.monthly_day is not None
        return self.monthly_day

    def local(self, moment: datetime) -> datetime:
        """`moment` on the group's clock."""
        return moment.astimezone(self.zone)

    def on_clock(self, day: date, clock: time) -> datetime:
        """The instant `clock` on `day` on the group's wall clock (a time that does not exist
        on a spring-forward day is read after the change)."""
        naive = datetime.combine(day, clock)
        return naive.replace(tzinfo=self.zone).astimezone(UTC).astimezone(self.zone)

    def end_of(self, start: datetime) -> datetime:
        return self.local(_utc(start) + self.length)

    def window(self, start: datetime) -> tuple[datetime, datetime]:
        """The instants (UTC) between which a meeting that starts is the session at `start`."""
        begin = _utc(start) - self.early
        return begin, _utc(start) + self.length + self.reflection

    def in_break(self, day: date) -> DayRange | None:
        return next((days for days in self.breaks if days.contains(day)), None)

    def is_holiday(self, day: date) -> bool:
        return any(days.contains(day) for days in self.holidays)

    # -- regular slots and modules ---------------------------------------------------------

    def _cadence_days(self, first: date, last: date) -> Iterator[date]:
        if self.cadence == "weekly":
            day = first + timedelta(days=(self.weekday - first.weekday()) % 7)
            while day <= last:
                yield day
                day += timedelta(days=7)
            return
        monthly = self._monthly()
        year, month = first.year, first.month
        while date(year, month, 1) <= last:
            day = monthly.in_month(year, month)
            if first <= day <= last:
                yield day
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)

    def module_on(self, day: date) -> ModuleSpan | None:
        """The module `day` falls in (None without modules, or on a break at a module's end)."""
        if not self.modules:
            return None
        starts = sorted(
            date(year, rule.start_month, 1)
            for year in (day.year - 1, day.year, day.year + 1)
            for rule in self.modules
        )
        index = max(i for i, start in enumerate(starts) if start <= day)
        span = self._span(starts[index], starts[index + 1] - timedelta(days=1))
        return span if span is not None and span.contains(day) else None

    def _span(self, begins: date, ends: date) -> ModuleSpan | None:
        """The module starting on `begins` (the 1st of its month), trimmed of break days."""
        rule = next(rule for rule in self.modules if rule.start_month == begins.month)
        first, last = begins, ends
        while first <= last and self.in_break(first) is not None:
            first += timedelta(days=1)
        while last >= first and self.in_break(last) is not None:
            last -= timedelta(days=1)
        if last < first:
            return None
        return ModuleSpan(
            name=f"{begins.year}-{begins.month:02d}",
            starts_on=first,
            ends_on=last,
            sessions=rule.sessions,
        )

    def _module_slots(self, span: ModuleSpan) -> list[_Slot]:
        slots: list[_Slot] = []
        counted = 0
        for day in self._cadence_days(span.starts_on, span.ends_on):
            if self.in_break(day) is not None:
                continue
            if span.sessions is not None and counted >= span.sessions:
                break  # the module is over: its later holidays are not listed either
            if self.is_holiday(day):
                slots.append(
                    _Slot(start=self._slot_start(day), module=span.name, number=None, holiday=True)
                )
                continue
            counted += 1
            slots.append(
                _Slot(start=self._slot_start(day), module=span.name, number=counted, holiday=False)
            )
        return slots

    def _slot_start(self, day: date) -> datetime:
        return self.on_clock(day, self.start_time)

    def _slots(self, first: date, last: date) -> list[_Slot]:
        """The regular slots on days `first` .. `last` (group's dates)."""
        if not self.modules:
            return [
                _Slot(
                    start=self._slot_start(day),
                    module=None,
                    number=None,
                    holiday=self.is_holiday(day),
                )
                for day in self._cadence_days(first, last)
                if self.in_break(day) is None
            ]
        found: list[_Slot] = []
        starts = sorted(
            date(year, rule.start_month, 1)
            for year in range(first.year - 1, last.year + 2)
            for rule in self.modules
        )
        for begins, following in zip(starts, starts[1:], strict=False):
            if begins > last or following <= first:
                continue
            span = self._span(begins, following - timedelta(days=1))
            if span is None:
                continue
            found.extend(
                slot
                for slot in self._module_slots(span)
                if first <= self.local(slot.start).date() <= last
            )
        return found

    def _slot_at(self, start: datetime) -> _Slot | None:
        day = self.local(start).date()
        return next(
            (slot for slot in self._slots(day, day) if _utc(slot.start) == _utc(start)), None
        )

    # -- the plan --------------------------------------------------------------------------

    def plan(
        self, first: date, last: date, overrides: Sequence[Override] = ()
    ) -> tuple[PlannedSession, ...]:
        """Every session on the group's days `first` .. `last`, earliest first.

        Cancelled slots are listed (status `cancelled`, note "holiday" or "cancelled"); a
        moved session is listed once, at its new start, with `moved_from`. Overrides of a
        slot the calendar no longer has (its settings changed) are ignored.
        """
        if first.year < _FIRST_YEAR or last.year > _LAST_YEAR:
            raise CalendarError(f"the calendar covers {_FIRST_YEAR} to {_LAST_YEAR}")
        cancelled = {_utc(o.slot) for o in overrides if o.kind == "cancel" and o.slot}
        moved = {_utc(o.slot) for o in overrides if o.kind == "move" and o.slot}
        rows: list[PlannedSession] = []
        for slot in self._slots(first, last):
            start = _utc(slot.start)
            if start in moved:
                continue
            status: Status = "planned"
            note = ""
            if slot.holiday:
                status, note = "cancelled", "holiday"
            elif start in cancelled:
                status, note = "cancelled", "cancelled"
            rows.append(self._row(slot.start, status, slot.module, slot.number, None, note))
        for override in overrides:
            if override.to is None or not first <= self.local(override.to).date() <= last:
                continue
            if override.kind == "add":
                module = self.module_on(self.local(override.to).date())
                rows.append(
                    self._row(override.to, "added", module.name if module else None, None, None, "")
                )
            elif override.kind == "move" and override.slot is not None:
                origin = self._slot_at(override.slot)
                if origin is None or origin.holiday:
                    continue
                rows.append(
                    self._row(override.to, "moved", origin.module, origin.number, override.slot, "")
                )
        return tuple(sorted(rows, key=lambda row: (_utc(row.start), row.status)))

    def _row(
        self,
        start: datetime,
        status: Status,
        module: str | None,
        number: int | None,
        moved_from: datetime | None,
        note: str,
    ) -> PlannedSession:
        return PlannedSession(
            start=self.local(start),
            end=self.end_of(start),
            status=status,
            module=module,
            number=number,
            moved_from=None if moved_from is None else self.local(moved_from),
            note=note,
        )

    def coming(
        self, after: datetime, overrides: Sequence[Override] = (), *, count: int
    ) -> tuple[PlannedSession, ...]:
        """The next `count` rows of the plan starting at or after `after` (up to 3 years on)."""
        rows: list[PlannedSession] = []
        first = self.local(after).date()
        for _ in range(3):
            last = first + timedelta(days=366)
            rows.extend(
                row for row in self.plan(first, last, overrides) if _utc(row.start) >= _utc(after)
            )
            if len(rows) >= count:
                break
            first = last + timedelta(days=1)
        return tuple(rows[:count])

    # -- matching a meeting ----------------------------------------------------------------

    def match(self, started: datetime, overrides: Sequence[Override] = ()) -> Match:
        """Which session a meeting of the group starting at `started` is (module docstring).

        Raises:
            CalendarError: `started` is naive.
        """
        if started.utcoffset() is None:
            raise CalendarError("a meeting's start must be timezone-aware")
        at = _utc(started)
        day = self.local(started).date()
        span = timedelta(days=1) + self.early + self.length + self.reflection
        rows = self.plan(self.local(at - span).date(), self.local(at + span).date(), overrides)

        def inside(start: datetime) -> bool:
            begin, end = self.window(start)
            return begin <= at < end

        def nearest(row: PlannedSession) -> tuple[bool, float]:
            """A session under way first (the latest), then the next to begin."""
            begun = _utc(row.start) <= at
            return (not begun, abs((_utc(row.start) - at).total_seconds()))

        live = sorted((row for row in rows if row.live and inside(row.start)), key=nearest)
        if live:
            return MatchedSession(session=live[0], module=self._module_named(live[0]))
        gone = sorted((row for row in rows if not row.live and inside(row.start)), key=nearest)
        if gone:
            row = gone[0]
            reason: SkipReason = "holiday" if row.note == "holiday" else "cancelled"
            detail = f"the session of {show(row.start)} is cancelled"
            if reason == "holiday":
                detail = f"{row.day.isoformat()} is a holiday: no session"
            return SkippedMeeting(reason=reason, session=row, detail=detail)
        for override in overrides:
            if override.kind == "move" and override.slot is not None and inside(override.slot):
                assert override.to is not None
                moved = self._row(override.to, "moved", None, None, override.slot, "")
                return SkippedMeeting(
                    reason="moved",
                    session=moved,
                    detail=(
                        f"the session of {show(self.local(override.slot))} moved to "
                        f"{show(moved.start)}"
                    ),
                )
        days_off = self.in_break(day)
        if days_off is not None:
            return SkippedMeeting(
                reason="break",
                session=None,
                detail=f"{day.isoformat()} is in the group's break ({days_off.label})",
            )
        if self.is_holiday(day):
            return SkippedMeeting(
                reason="holiday", session=None, detail=f"{day.isoformat()} is a holiday"
            )
        start = self.local(started)
        return UnplannedSession(scheduled_start=start, module=self.module_on(day))

    def _module_named(self, row: PlannedSession) -> ModuleSpan | None:
        if row.module is None:
            return None
        span = self.module_on(row.day)
        if span is not None and span.name == row.module:
            return span
        # a moved session keeps its module, wherever it now falls
        origin = row.moved_from.date() if row.moved_from is not None else row.day
        span = self.module_on(origin)
        return span if span is not None and span.name == row.module else None
