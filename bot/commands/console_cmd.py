"""`balint-bot console link --facilitator NAME`: a one-time sign-in link to the console.

For setting up and for emergencies (no Zoom sign-in, a new laptop): NAME must be a
facilitator on the group's roster (display name; case and accents do not matter). The link
works once, within `[console] link_minutes` (10 by default); only its hash is stored. Print
it for the facilitator only: whoever opens it first is signed in as them. Issuing a link is
written to the audit log.
"""

from __future__ import annotations

import argparse
import getpass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.commands.db_cmd import open_session
from bot.config import Settings
from bot.console.context import public_url
from bot.errors import BalintError
from bot.groups import add_group_option
from storage import audit
from storage import console as records

__all__ = ["register"]


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("console", help="the facilitator's console: sign-in links")
    actions = parser.add_subparsers(dest="console_action", metavar="ACTION", required=True)
    link = actions.add_parser("link", help="print a one-time sign-in link for a facilitator")
    link.add_argument(
        "--facilitator", required=True, metavar="NAME", help="the facilitator's roster name"
    )
    add_group_option(link)
    link.set_defaults(handler=_link)


def _operator() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _link(args: argparse.Namespace, settings: Settings) -> int:
    now: datetime = args.clock()
    minutes = settings.console.link_minutes
    with open_session(settings) as session:
        facilitator = records.facilitator_by_name(
            session, group_name=settings.group.name, name=args.facilitator
        )
        if facilitator is None:
            known = ", ".join(
                f.name for f in records.facilitators(session, group_name=settings.group.name)
            )
            raise BalintError(
                f"console link: {args.facilitator!r} is not a facilitator on the roster of "
                f"{settings.group.name!r} (facilitators: {known or 'none; import the roster'})"
            )
        token = records.issue_link(
            session,
            member_id=facilitator.member_id,
            now=now,
            ttl=timedelta(minutes=minutes),
            created_by=_operator(),
        )
        audit.record(
            session,
            command="console link",
            records=[f"member:{facilitator.member_id}"],
            detail=f"valid {minutes} min",
            at=now,
        )
    expires = (now + timedelta(minutes=minutes)).astimezone(ZoneInfo(settings.group.timezone))
    print(f"{public_url(settings)}/signin/link/{token}")
    print(
        f"for {facilitator.name}; works once, until {expires:%H:%M} ({settings.group.timezone}). "
        "Whoever opens it first is signed in as them: give it to them only."
    )
    return 0
