"""Calendars for the calendar tests: seed 000's Ontario group and seed 001's monthly group."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from phases.calendar import Calendar, DayRange, ModuleRule, MonthlyDay

TORONTO = ZoneInfo("America/Toronto")
LOS_ANGELES = ZoneInfo("America/Los_Angeles")
ONTARIO_MODULES = (ModuleRule(start_month=9), ModuleRule(start_month=1), ModuleRule(start_month=4))
SUMMER = (DayRange.parse("july-august"),)


def ontario(**changes: object) -> Calendar:
    parts: dict[str, object] = {
        "zone": TORONTO,
        "weekday": 2,
        "start_time": time(19, 0),
        "length": timedelta(minutes=105),
        "reflection": timedelta(minutes=15),
        "early": timedelta(minutes=60),
        "modules": ONTARIO_MODULES,
        "breaks": SUMMER,
    }
    parts.update(changes)
    return Calendar(**parts)  # type: ignore[arg-type]


def monthly() -> Calendar:
    return Calendar(
        zone=LOS_ANGELES,
        cadence="monthly",
        monthly_day=MonthlyDay.parse("first thursday"),
        start_time=time(18, 45),
        length=timedelta(minutes=90),
        early=timedelta(minutes=60),
        modules=(ModuleRule(start_month=1, sessions=4), ModuleRule(start_month=9, sessions=4)),
    )


def toronto(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=TORONTO)  # type: ignore[misc]


WED_9 = toronto(2026, 12, 9, 19, 0)
THU_10 = toronto(2026, 12, 10, 19, 0)
