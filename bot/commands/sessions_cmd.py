"""`balint-bot sessions list|plan|cancel|move|add`: the group's sessions, held and planned.

- `list [--jsonl]`: recorded meeting instances, their modules and attendee counts.
- `plan [--from DATE] [--to DATE] [--count N] [--jsonl]`: the group's calendar with the
  facilitators' changes: the next 10 sessions from now by default.
- `cancel DATE`, `move DATE --to DATETIME`, `add DATETIME`: change the calendar. DATE names
  a session by its date (or its date and time, if the day has two); DATETIME is like
  `2026-12-10 19:00` and is read on the group's clock unless it carries an offset
  (`2026-12-10T19:00-05:00`); the command says when it read it so.

Every sub-command takes `--group NAME` (optional while the settings hold one group). Bad
input gets one line on stderr and changes nothing (`phases.calendar` checks every change).
"""

from __future__ import annotations

import argparse
import getpass
import json
from collections.abc import Callable
from datetime import date, datetime, time
from typing import Any

from bot.calendar import calendar_from_settings, coming_sessions, group_zone, planned_sessions
from bot.commands.db_cmd import open_session
from bot.commands.export_cmd import parse_day
from bot.config import Settings
from bot.errors import ConfigError
from bot.groups import add_group_option, group_for
from phases.calendar import Calendar, Override, PlannedSession
from phases.calendar_changes import (
    CalendarChange,
    add_session,
    cancel_session,
    move_session,
    parse_day_or_when,
    parse_when,
)
from storage import calendar as stored
from storage.sessions import list_sessions

__all__ = ["register"]

#: How many sessions `sessions plan` shows without --to or --count.
PLAN_COUNT = 10


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("sessions", help="the group's sessions, held and planned")
    actions = parser.add_subparsers(dest="sessions_action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="list recorded sessions, oldest first")
    listing.add_argument("--all-groups", action="store_true", help="every group's sessions")
    listing.add_argument("--jsonl", action="store_true", help="one JSON object per line")
    add_group_option(listing)
    # chooses its group itself: --all-groups needs none
    listing.set_defaults(handler=_list, group_scoped=False)

    plan = actions.add_parser("plan", help="the coming sessions of the group's calendar")
    plan.add_argument(
        "--from", dest="date_from", type=parse_day, help="first day, YYYY-MM-DD (default: now)"
    )
    plan.add_argument("--to", dest="date_to", type=parse_day, help="last day, YYYY-MM-DD")
    plan.add_argument(
        "--count",
        type=_positive,
        help=f"at most this many sessions (default {PLAN_COUNT}; all of --from..--to)",
    )
    plan.add_argument("--jsonl", action="store_true", help="one JSON object per line")
    add_group_option(plan)
    plan.set_defaults(handler=_plan)

    cancel = actions.add_parser("cancel", help="cancel the session on a date")
    cancel.add_argument("day", metavar="DATE", help="its date, YYYY-MM-DD (or date and time)")
    add_group_option(cancel)
    cancel.set_defaults(handler=_cancel)

    move = actions.add_parser("move", help="move the session on a date to another time")
    move.add_argument("day", metavar="DATE", help="its date, YYYY-MM-DD (or date and time)")
    move.add_argument(
        "--to", dest="to", required=True, metavar="DATETIME", help="new start: 2026-12-10 19:00"
    )
    add_group_option(move)
    move.set_defaults(handler=_move)

    add = actions.add_parser("add", help="add a session")
    add.add_argument("when", metavar="DATETIME", help="its start: 2026-12-10 19:00")
    add_group_option(add)
    add.set_defaults(handler=_add)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return value


# -- list ---------------------------------------------------------------------------------------


def _list(args: argparse.Namespace, settings: Settings) -> int:
    chosen = None if args.all_groups else group_for(settings, getattr(args, "group", None))
    zones = {group.name: group_zone(group) for group in settings.all_groups()}
    with open_session(settings) as session:
        found = list_sessions(session, group_name=None if chosen is None else chosen.name)
    if args.jsonl:
        for item in found:
            print(
                json.dumps(
                    {
                        "id": item.id,
                        "group": item.group,
                        "module": item.module,
                        "meeting_uuid": item.meeting_uuid,
                        "meeting_id": item.meeting_id,
                        "scheduled_start": item.scheduled_start.isoformat(),
                        "finalized": item.finalized,
                        "present": item.attendees,
                    }
                )
            )
        return 0
    if not found:
        print("no sessions recorded")
        return 0
    print(
        f"{'id':>4}  {'scheduled start':<16}  {'module':<7}  {'final':<5}  {'present':>7}  meeting"
    )
    for item in found:
        zone = zones.get(item.group, group_zone(chosen or settings.all_groups()[0]))
        start = item.scheduled_start.astimezone(zone).strftime("%Y-%m-%d %H:%M")
        print(
            f"{item.id:>4}  {start:<16}  {item.module or '-':<7}  "
            f"{'yes' if item.finalized else 'no':<5}  {item.attendees:>7}  {item.meeting_uuid}"
        )
    return 0


# -- plan ---------------------------------------------------------------------------------------


def _plan(args: argparse.Namespace, settings: Settings) -> int:
    group = settings.group
    calendar = calendar_from_settings(group, settings.agenda)
    now: datetime = args.clock()
    first: date | None = args.date_from
    last: date | None = args.date_to
    if first is not None and last is not None and last < first:
        raise ConfigError("--to is before --from")
    begin = first if first is not None else calendar.local(now).date()
    if last is not None and (last - begin).days > 3660:
        raise ConfigError("sessions plan: at most ten years at a time")
    with open_session(settings) as session:
        if last is not None:
            rows = planned_sessions(
                session, calendar=calendar, group_name=group.name, first=begin, last=last
            )
            if first is None:
                rows = tuple(row for row in rows if row.start >= now)
            rows = rows[: args.count] if args.count else rows
        else:
            after = now if first is None else calendar.on_clock(first, time(0, 0))
            rows = coming_sessions(
                session,
                calendar=calendar,
                group_name=group.name,
                after=after,
                count=args.count or PLAN_COUNT,
            )
    if args.jsonl:
        for row in rows:
            print(json.dumps(_row_json(group.name, row)))
        return 0
    length = settings.agenda.length_minutes
    print(f"{group.name} ({group.timezone}): {calendar.describe()}, {length} minutes")
    if not rows:
        print("no sessions planned in that range")
        return 0
    print(f"{'date':<10}  day  start  end    {'status':<9}  {'module':<7}  {'no.':>3}  note")
    for row in rows:
        line = (
            f"{row.day.isoformat():<10}  {row.start:%a}  {row.start:%H:%M}  {row.end:%H:%M}  "
            f"{row.status:<9}  {row.module or '-':<7}  {row.number or '':>3}  {_note(row)}"
        )
        print(line.rstrip())
    return 0


def _note(row: PlannedSession) -> str:
    if row.moved_from is not None:
        return f"from {row.moved_from:%a %Y-%m-%d %H:%M}"
    return row.note


def _row_json(group_name: str, row: PlannedSession) -> dict[str, object]:
    return {
        "group": group_name,
        "date": row.day.isoformat(),
        "start": row.start.isoformat(),
        "end": row.end.isoformat(),
        "status": row.status,
        "module": row.module,
        "number": row.number,
        "moved_from": None if row.moved_from is None else row.moved_from.isoformat(),
        "note": row.note,
    }


# -- cancel, move, add ----------------------------------------------------------------------------

Compute = Callable[[Calendar, tuple[Override, ...], datetime], CalendarChange]


def _cancel(args: argparse.Namespace, settings: Settings) -> int:
    group = settings.group
    which, read = parse_day_or_when(args.day, group_zone(group), group.timezone)
    return _change(
        args,
        settings,
        lambda calendar, current, now: cancel_session(calendar, current, which, now=now),
        read,
    )


def _move(args: argparse.Namespace, settings: Settings) -> int:
    group = settings.group
    zone = group_zone(group)
    which, read_which = parse_day_or_when(args.day, zone, group.timezone)
    to, read_to = parse_when(args.to, zone, group.timezone)
    return _change(
        args,
        settings,
        lambda calendar, current, now: move_session(calendar, current, which, to, now=now),
        read_which,
        read_to,
    )


def _add(args: argparse.Namespace, settings: Settings) -> int:
    group = settings.group
    when, read = parse_when(args.when, group_zone(group), group.timezone)
    return _change(
        args,
        settings,
        lambda calendar, current, now: add_session(calendar, current, when, now=now),
        read,
    )


def _change(args: argparse.Namespace, settings: Settings, compute: Compute, *reads: str) -> int:
    """Compute a change against the stored overrides and store it, in one transaction."""
    group = settings.group
    calendar = calendar_from_settings(group, settings.agenda)
    now: datetime = args.clock()
    with open_session(settings) as session:
        current = stored.overrides(session, group_name=group.name)
        change = compute(calendar, current, now)
        stored.apply_change(session, group_name=group.name, change=change, now=now, actor=_actor())
    print(change.message)
    for note in (*reads, *change.notes):
        if note:
            print(f"  note: {note}")
    return 0


def _actor() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
