"""`balint-bot absence`: members' notices of absence or lateness, and contacts with members.

- `absence add --member NAME --date DATE [--late] [--reason TEXT]`: the member told the
  facilitators they will miss (or, `--late`, be late to) the session of DATE. A second
  notice for the same day replaces the first. The reason is PHI: sealed with the data key.
- `absence contact --member NAME --date DATE [--note TEXT]`: a facilitator contacted the
  member on DATE (about attendance); the module report shows the last contact.

- `absence list --member NAME`: that member's notices (with their reasons) and contacts (with
  their notes), newest first; the read is written to the audit log.

Attendance (`balint-bot attendance --session ID`) then tells notified absences from
unexplained ones, and `attendance report --module NAME` lists whom to contact.
"""

from __future__ import annotations

import argparse
from datetime import date, datetime
from typing import Any

from bot.commands.db_cmd import keyring_from, open_session
from bot.commands.notes_cmd import member_by_name, operator
from bot.config import Settings
from bot.groups import add_group_option
from storage import absences, audit

__all__ = ["register"]


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("absence", help="notified absences and contacts with members")
    actions = parser.add_subparsers(dest="absence_action", metavar="ACTION", required=True)

    add = actions.add_parser("add", help="record a member's notice of absence or lateness")
    add.add_argument("--member", required=True, metavar="NAME", help="the member's roster name")
    add.add_argument(
        "--date", required=True, type=_day, metavar="YYYY-MM-DD", help="the session's date"
    )
    add.add_argument("--late", action="store_true", help="late, not absent")
    add.add_argument("--reason", default="", help="why (PHI: sealed with the data key)")
    add_group_option(add)
    add.set_defaults(handler=_add)

    contact = actions.add_parser("contact", help="record that you contacted a member")
    contact.add_argument("--member", required=True, metavar="NAME")
    contact.add_argument(
        "--date", required=True, type=_day, metavar="YYYY-MM-DD", help="the day of the contact"
    )
    contact.add_argument("--note", default="", help="what was said (PHI: sealed)")
    add_group_option(contact)
    contact.set_defaults(handler=_contact)

    show = actions.add_parser("list", help="a member's notices and contacts (audited)")
    show.add_argument("--member", required=True, metavar="NAME")
    add_group_option(show)
    show.set_defaults(handler=_list)


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def _add(args: argparse.Namespace, settings: Settings) -> int:
    now: datetime = args.clock()
    with open_session(settings) as session:
        member_id, name = member_by_name(
            session, group_name=settings.group.name, name=args.member, command="absence add"
        )
        _, replaced = absences.add_absence(
            session,
            group_name=settings.group.name,
            member_id=member_id,
            day=args.date,
            late=bool(args.late),
            reason=args.reason,
            keyring=keyring_from(settings),
            now=now,
            actor=operator(),
        )
    what = "late to" if args.late else "absent from"
    again = " (replaces the earlier notice for that day)" if replaced else ""
    print(f"{name}: notified {what} the session of {args.date.isoformat()}{again}")
    return 0


def _contact(args: argparse.Namespace, settings: Settings) -> int:
    now: datetime = args.clock()
    with open_session(settings) as session:
        member_id, name = member_by_name(
            session, group_name=settings.group.name, name=args.member, command="absence contact"
        )
        absences.record_contact(
            session,
            group_name=settings.group.name,
            member_id=member_id,
            day=args.date,
            note=args.note,
            keyring=keyring_from(settings),
            now=now,
            actor=operator(),
        )
    print(f"{name}: contacted on {args.date.isoformat()}")
    return 0


def _list(args: argparse.Namespace, settings: Settings) -> int:
    now: datetime = args.clock()
    keyring = keyring_from(settings)
    with open_session(settings) as session:
        member_id, name = member_by_name(
            session, group_name=settings.group.name, name=args.member, command="absence list"
        )
        told = absences.notices(session, member_ids=[member_id], keyring=keyring)
        contacts = absences.contact_log(session, member_id=member_id, keyring=keyring)
        audit.record(
            session,
            command="absence list",
            records=[f"member:{member_id}"]
            + [f"absence:{n.id}" for n in told.values()]
            + [f"contact:{c.id}" for c in contacts],
            at=now,
            actor=operator(),
        )
    print(f"{name}: {len(told)} notice(s), {len(contacts)} contact(s)")
    for notice in sorted(told.values(), key=lambda n: n.day, reverse=True):
        what = "late" if notice.late else "absent"
        reason = f": {notice.reason}" if notice.reason else ""
        print(f"  {notice.day.isoformat()}  notified {what}{reason}")
    for contact in contacts:
        note = f": {contact.note}" if contact.note else ""
        print(f"  {contact.day.isoformat()}  contacted{note}")
    return 0
