"""`balint-bot registrants sync`: register each roster member on the group's Zoom meeting.

Registration (approved automatically; `balint-bot doctor` checks the meeting for it) gives
each member a personal join link, and Zoom's events then carry their registrant id, so
attendance matches members who show only their first name. Prints who was added, who already
was, and who failed (with Zoom's reason); exits 1 if anyone failed.

The members come from the roster CSV at `group.roster` (columns `first_name`, `last_name`,
`display_name`, `email`; other columns, including PHI, are not read).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import sys
from pathlib import Path
from typing import Any, TextIO

from bot.config import Settings
from bot.errors import ConfigError
from bot.zoom_api.client import ZoomClient, open_http_client
from bot.zoom_api.registration import Member, SyncReport, sync_registrants

__all__ = ["members_from_csv", "print_report", "register", "run_sync"]

_REQUIRED_COLUMNS = ("first_name", "email")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("registrants", help="register roster members on the meeting")
    actions = parser.add_subparsers(dest="registrants_action", metavar="ACTION", required=True)
    sync = actions.add_parser(
        "sync", help="register every roster member (auto-approved); print the outcome"
    )
    sync.add_argument("--meeting", default="", help="meeting number (default group.meeting_id)")
    sync.set_defaults(handler=_handle_sync)


def members_from_csv(path: Path) -> list[Member]:
    """The roster's members, read from its CSV (only the name and e-mail columns).

    Raises:
        ConfigError: the file is missing or lacks a required column.
    """
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            columns = set(reader.fieldnames or ())
            missing = [name for name in _REQUIRED_COLUMNS if name not in columns]
            if missing:
                raise ConfigError(f"{path}: roster lacks column(s) {', '.join(missing)}")
            return [
                Member(
                    first_name=(row.get("first_name") or "").strip(),
                    last_name=(row.get("last_name") or "").strip(),
                    display_name=(row.get("display_name") or "").strip(),
                    email=(row.get("email") or "").strip(),
                )
                for row in reader
            ]
    except OSError as unreadable:
        raise ConfigError(f"{path}: cannot read the roster ({unreadable.strerror})") from None


def _handle_sync(args: argparse.Namespace, settings: Settings) -> int:
    meeting_id = args.meeting or settings.group.meeting_id
    if not meeting_id:
        raise ConfigError("group.meeting_id is empty and no --meeting was given")
    if not settings.group.roster:
        raise ConfigError("group.roster is empty: point it at the roster CSV")
    members = members_from_csv(Path(settings.group.roster))
    return asyncio.run(_run(settings, meeting_id, members, sys.stdout))


async def _run(settings: Settings, meeting_id: str, members: list[Member], out: TextIO) -> int:
    async with open_http_client() as http:
        client = ZoomClient.from_settings(settings, http)
        return await run_sync(client, meeting_id, members, out)


async def run_sync(client: ZoomClient, meeting_id: str, members: list[Member], out: TextIO) -> int:
    """Sync and print the report; 0 when no one failed, else 1."""
    report = await sync_registrants(client, meeting_id, members)
    print_report(report, out)
    return 0 if report.ok else 1


def print_report(report: SyncReport, out: TextIO) -> None:
    for outcome in report.added:
        print(f"added    {outcome.member.label}", file=out)
    for outcome in report.already:
        print(f"already  {outcome.member.label}", file=out)
    for outcome in report.failed:
        print(f"FAILED   {outcome.member.label}: {outcome.error}", file=out)
    print(
        f"{len(report.added)} added, {len(report.already)} already registered, "
        f"{len(report.failed)} failed",
        file=out,
    )
