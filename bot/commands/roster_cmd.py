"""`balint-bot roster import FILE.csv` and `balint-bot roster list`.

Import validates the whole file first (every bad row and field is listed and nothing is
stored), seals PHI with `BALINT_DATA_KEY`, and records the import in the audit log. `list`
shows members with at most the masked health number (`******3217`), and is audited too.
The CSV columns are documented in `docs/roster.md`.
"""

from __future__ import annotations

import argparse
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bot.commands.db_cmd import keyring_from, open_session
from bot.config import Settings
from bot.errors import ConfigError
from bot.groups import add_group_option
from storage import audit
from storage.roster import decode_roster, import_roster, list_members, parse_roster

__all__ = ["register"]


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("roster", help="the group's members and facilitators")
    actions = parser.add_subparsers(dest="roster_action", metavar="ACTION", required=True)
    load = actions.add_parser("import", help="import a roster CSV (see docs/roster.md)")
    load.add_argument("file", type=Path, help="the CSV file")
    add_group_option(load)
    load.set_defaults(handler=_import)
    listing = actions.add_parser("list", help="list the roster (health numbers masked)")
    add_group_option(listing)
    listing.set_defaults(handler=_list)


def _import(args: argparse.Namespace, settings: Settings) -> int:
    try:
        data = args.file.read_bytes()
    except OSError as failed:
        raise ConfigError(f"{args.file}: cannot read ({failed.strerror})") from None
    text = decode_roster(data)
    now: datetime = args.clock()
    rows = parse_roster(text, today=now.astimezone(ZoneInfo(settings.group.timezone)).date())
    with open_session(settings) as session:
        result = import_roster(
            session,
            group_name=settings.group.name,
            rows=rows,
            keyring=keyring_from(settings),
            now=now,
        )
    print(
        f"roster imported into {settings.group.name!r}: "
        f"{result.created} new, {result.updated} updated"
        + (
            f", {result.deactivated} no longer listed (now inactive, kept for history)"
            if result.deactivated
            else ""
        )
    )
    return 0


def _list(args: argparse.Namespace, settings: Settings) -> int:
    with open_session(settings) as session:
        members = list_members(session, group_name=settings.group.name)
        audit.record(
            session,
            command="roster list",
            records=[f"member:{m.member_id}" for m in members],
            detail="listed with masked health numbers",
            at=args.clock(),
        )
    if not members:
        print(f"no roster for {settings.group.name!r}")
        return 0
    print(
        f"{'id':>4}  {'display name':<20}  {'role':<11}  {'health no.':<10}  name, e-mail, modules"
    )
    for m in members:
        full = f"{m.first_name} {m.last_name}".strip()
        gone = " (inactive)" if m.status != "active" else ""
        print(
            f"{m.member_id:>4}  {m.display_name:<20}  {m.role:<11}  {m.health_number or '-':<10}  "
            f"{full}, {m.email or '-'}, {';'.join(m.modules) or '-'}{gone}"
        )
    return 0
