"""`balint-bot notes`: the facilitators' confidential notes, and a member's link to their own.

- `notes add (--member NAME | --whole-group) (--session ID | --date DATE) [--text TEXT]`: a note
  on one member, or on the group as a whole, for one session. Without `--text` the note is
  read from standard input (so it stays out of the shell's history).
- `notes amend --note ID [--text TEXT]`: a dated correction; the original is kept.
- `notes list [--member NAME | --whole-group] [--session ID]`: the notes, each original followed
  by its amendments (every read is written to the audit log).
- `notes link --member NAME [--hours N]`: a single-use link, valid N hours (72 by default,
  at most 14 days), to a read-only page of that member's own notes and its PDF. Give it to
  that member only: whoever opens it first reads their notes.

Each takes `--group NAME`, the group as in every command (`bot.groups`; needed when the
settings hold several); a note on the group as a whole is `--whole-group`.

Notes are PHI: sealed with `BALINT_DATA_KEY`, never printed to the logs (`docs/notes.md`).
"""

from __future__ import annotations

import argparse
import getpass
import sys
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from bot.commands.db_cmd import keyring_from, open_session
from bot.config import Settings
from bot.console.context import public_url
from bot.errors import BalintError
from bot.groups import add_group_option
from phases.roster import normalise_name
from storage import audit, note_links, notes
from storage.roster import list_members
from storage.sessions import sessions_on

__all__ = ["member_by_name", "operator", "register"]

_DEFAULT_LINK_HOURS = 72


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("notes", help="confidential notes on members and the group")
    actions = parser.add_subparsers(dest="notes_action", metavar="ACTION", required=True)

    add = actions.add_parser("add", help="write a note on a member or the group for a session")
    whom = add.add_mutually_exclusive_group(required=True)
    whom.add_argument("--member", metavar="NAME", help="the member's roster name")
    whom.add_argument("--whole-group", action="store_true", help="a note on the group as a whole")
    when = add.add_mutually_exclusive_group(required=True)
    when.add_argument("--session", type=int, metavar="ID", help="session id (`sessions list`)")
    when.add_argument("--date", type=_day, metavar="YYYY-MM-DD", help="the session's date")
    add.add_argument("--text", help="the note (default: read from standard input)")
    add.add_argument("--author", help="who writes it (default: the operating-system user)")
    add_group_option(add)
    add.set_defaults(handler=_add)

    amend = actions.add_parser("amend", help="correct a note (the original is kept)")
    amend.add_argument("--note", type=int, required=True, metavar="ID", help="the note's id")
    amend.add_argument("--text", help="the correction (default: read from standard input)")
    amend.add_argument("--author", help="who writes it (default: the operating-system user)")
    add_group_option(amend)
    amend.set_defaults(handler=_amend)

    show = actions.add_parser("list", help="print notes (audited)")
    about = show.add_mutually_exclusive_group()
    about.add_argument("--member", metavar="NAME", help="only this member's notes")
    about.add_argument("--whole-group", action="store_true", help="only the group notes")
    show.add_argument("--session", type=int, metavar="ID", help="only this session")
    add_group_option(show)
    show.set_defaults(handler=_list)

    link = actions.add_parser("link", help="a single-use link to a member's own notes")
    link.add_argument("--member", required=True, metavar="NAME", help="the member's roster name")
    link.add_argument(
        "--hours",
        type=int,
        default=_DEFAULT_LINK_HOURS,
        help=f"how long the link may wait to be opened (default {_DEFAULT_LINK_HOURS})",
    )
    add_group_option(link)
    link.set_defaults(handler=_link)


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def operator() -> str:
    """The operating-system user running the command (the actor of the audit log)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def member_by_name(
    session: Session, *, group_name: str, name: str, command: str
) -> tuple[int, str]:
    """The (id, display name) of the one roster member called `name` (case, accents aside).

    Raises:
        BalintError: nobody, or a facilitator, is called that (the members are listed).
    """
    wanted = normalise_name(name)
    members = [m for m in list_members(session, group_name=group_name) if m.role == "member"]
    found = [m for m in members if normalise_name(m.display_name) == wanted]
    if len(found) != 1:
        known = ", ".join(m.display_name for m in members) or "none; import the roster"
        raise BalintError(
            f"{command}: {name!r} is not a member on the roster of {group_name!r} "
            f"(members: {known})"
        )
    return found[0].member_id, found[0].display_name


def _session_id(session: Session, *, group_name: str, args: argparse.Namespace) -> int:
    if args.session is not None:
        return int(args.session)
    found = sessions_on(session, group_name=group_name, day=args.date)
    if len(found) != 1:
        problem = "no session" if not found else f"{len(found)} sessions"
        raise BalintError(
            f"notes add: {problem} of {group_name!r} on {args.date.isoformat()}; "
            "give --session ID (see `balint-bot sessions list`)"
        )
    return found[0].id


def _text(args: argparse.Namespace) -> str:
    if args.text is not None:
        return str(args.text)
    if sys.stdin.isatty():
        print("Type the note, then Ctrl-D:", file=sys.stderr)
    return sys.stdin.read()


def _add(args: argparse.Namespace, settings: Settings) -> int:
    now: datetime = args.clock()
    group_name = settings.group.name
    text = _text(args)
    with open_session(settings) as session:
        member_id = None
        if args.member:
            member_id, _ = member_by_name(
                session, group_name=group_name, name=args.member, command="notes add"
            )
        note_id = notes.add_note(
            session,
            group_name=group_name,
            session_id=_session_id(session, group_name=group_name, args=args),
            member_id=member_id,
            text=text,
            author=args.author or operator(),
            keyring=keyring_from(settings),
            now=now,
        )
    print(f"note {note_id} written ({'group note' if member_id is None else 'member note'})")
    return 0


def _amend(args: argparse.Namespace, settings: Settings) -> int:
    now: datetime = args.clock()
    text = _text(args)
    with open_session(settings) as session:
        note_id = notes.amend_note(
            session,
            group_name=settings.group.name,
            note_id=args.note,
            text=text,
            author=args.author or operator(),
            keyring=keyring_from(settings),
            now=now,
        )
    print(f"note {note_id} written: amends note {args.note}; the original is kept")
    return 0


def _list(args: argparse.Namespace, settings: Settings) -> int:
    now: datetime = args.clock()
    group_name = settings.group.name
    zone = ZoneInfo(settings.group.timezone)
    with open_session(settings) as session:
        member_id = None
        names = {m.member_id: m.display_name for m in list_members(session, group_name=group_name)}
        if args.member:
            member_id, _ = member_by_name(
                session, group_name=group_name, name=args.member, command="notes list"
            )
        threads = notes.read_notes(
            session,
            group_name=group_name,
            keyring=keyring_from(settings),
            about="member" if member_id is not None else "group" if args.whole_group else "all",
            member_id=member_id,
            session_id=args.session,
            command="notes list",
            now=now,
            actor=operator(),
        )
    if not threads:
        print("no notes")
    for thread in threads:
        first = thread.original
        about = names.get(first.member_id, "?") if first.member_id is not None else "the group"
        print(
            f"note {first.id} · session {first.session_id} of {first.service_date.isoformat()} "
            f"· on {about} · {first.written_at.astimezone(zone):%Y-%m-%d %H:%M} {first.author}"
        )
        print(f"  {first.text}")
        for amendment in thread.amendments:
            print(
                f"  amended by note {amendment.id} · "
                f"{amendment.written_at.astimezone(zone):%Y-%m-%d %H:%M} {amendment.author}"
            )
            print(f"    {amendment.text}")
    return 0


def _link(args: argparse.Namespace, settings: Settings) -> int:
    now: datetime = args.clock()
    hours = int(args.hours)
    limit = int(note_links.MAX_LINK_LIFETIME.total_seconds() // 3600)
    if not 1 <= hours <= limit:
        raise BalintError(f"notes link: --hours must be between 1 and {limit}")
    with open_session(settings) as session:
        member_id, name = member_by_name(
            session, group_name=settings.group.name, name=args.member, command="notes link"
        )
        token = note_links.issue(
            session,
            member_id=member_id,
            now=now,
            ttl=timedelta(hours=hours),
            created_by=operator(),
        )
        audit.record(
            session,
            command="notes link",
            records=[f"member:{member_id}"],
            detail=f"valid {hours} h",
            at=now,
        )
    expires = (now + timedelta(hours=hours)).astimezone(ZoneInfo(settings.group.timezone))
    print(f"{public_url(settings)}/my-notes/open/{token}")
    print(
        f"for {name} only: opens their own notes once, until {expires:%Y-%m-%d %H:%M} "
        f"({settings.group.timezone}). Whoever opens it first reads them: give it to them only."
    )
    return 0
