"""`balint-bot sessions list [--jsonl]`: recorded meeting instances, their modules and counts."""

from __future__ import annotations

import argparse
import json
from typing import Any
from zoneinfo import ZoneInfo

from bot.commands.db_cmd import open_session
from bot.config import Settings
from storage.sessions import list_sessions

__all__ = ["register"]


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("sessions", help="recorded sessions (meeting instances)")
    actions = parser.add_subparsers(dest="sessions_action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="list sessions, oldest first")
    listing.add_argument("--all-groups", action="store_true", help="not only [group] name")
    listing.add_argument("--jsonl", action="store_true", help="one JSON object per line")
    listing.set_defaults(handler=_list)


def _list(args: argparse.Namespace, settings: Settings) -> int:
    zone = ZoneInfo(settings.group.timezone)
    with open_session(settings) as session:
        found = list_sessions(session, group_name=None if args.all_groups else settings.group.name)
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
        start = item.scheduled_start.astimezone(zone).strftime("%Y-%m-%d %H:%M")
        print(
            f"{item.id:>4}  {start:<16}  {item.module or '-':<7}  "
            f"{'yes' if item.finalized else 'no':<5}  {item.attendees:>7}  {item.meeting_uuid}"
        )
    return 0
