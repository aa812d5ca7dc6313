"""`balint-bot registrants sync`: register each roster member on the group's Zoom meeting.

Registration (approved automatically; `balint-bot doctor` checks the meeting for it) gives
each member a personal join link (Zoom e-mails it) and Zoom's events then carry their
registrant id, so attendance matches members who show only their first name. The members
come from the roster stored by `balint-bot roster import` (`storage.roster.list_members`),
and each member's registrant id is stored back on their roster row, where the engine's
roster (`roster_entries`) reads it. Prints who was added, who already was, and who failed
(with Zoom's reason); exits 1 if anyone failed.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Iterable
from typing import Any, TextIO

from sqlalchemy.orm import Session

from bot.config import Settings
from bot.errors import ConfigError
from bot.groups import add_group_option
from bot.zoom_api.client import ZoomClient, open_http_client
from bot.zoom_api.registration import Member, Outcome, SyncReport, sync_registrants
from storage.db import make_engine, make_session_factory, session_scope
from storage.migrate import require_schema
from storage.roster import list_members
from storage.tables.core import Member as MemberRow

__all__ = ["members_from_roster", "print_report", "record_registrant_ids", "register", "run_sync"]


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("registrants", help="register roster members on the meeting")
    actions = parser.add_subparsers(dest="registrants_action", metavar="ACTION", required=True)
    sync = actions.add_parser(
        "sync", help="register every roster member (auto-approved); print the outcome"
    )
    sync.add_argument(
        "--meeting", default="", help="meeting number (default: the group's meeting_id)"
    )
    add_group_option(sync)
    sync.set_defaults(handler=_handle_sync)


def members_from_roster(session: Session, *, group_name: str) -> list[Member]:
    """The stored roster's members and facilitators, as registration needs them (not those a
    later import made inactive: they are no longer in the group)."""
    return [
        Member(
            first_name=row.first_name,
            last_name=row.last_name,
            display_name=row.display_name,
            email=row.email,
            member_id=row.member_id,
        )
        for row in list_members(session, group_name=group_name)
        if row.status == "active"
    ]


def record_registrant_ids(session: Session, *, outcomes: Iterable[Outcome]) -> int:
    """Store each member's Zoom registrant id on their roster row; returns rows changed."""
    changed = 0
    for outcome in outcomes:
        if outcome.member.member_id is None or not outcome.registrant_id:
            continue
        row = session.get(MemberRow, outcome.member.member_id)
        if row is not None and row.registrant_id != outcome.registrant_id:
            row.registrant_id = outcome.registrant_id
            changed += 1
    session.flush()
    return changed


def _handle_sync(args: argparse.Namespace, settings: Settings) -> int:
    meeting_id = args.meeting or next(iter(settings.group.meeting_numbers()), "")
    if not meeting_id:
        raise ConfigError("group.meeting_id is empty and no --meeting was given")
    engine = make_engine(settings.storage.url)
    try:
        require_schema(engine)
        factory = make_session_factory(engine)
        with session_scope(factory) as session:
            members = members_from_roster(session, group_name=settings.group.name)
        if not members:
            raise ConfigError(
                f"no roster for group {settings.group.name!r}: run `balint-bot roster import`"
            )
        report, status = asyncio.run(_run(settings, meeting_id, members, sys.stdout))
        with session_scope(factory) as session:
            stored = record_registrant_ids(session, outcomes=[*report.added, *report.already])
        print(f"registrant ids stored on {stored} roster row(s)")
        return status
    finally:
        engine.dispose()


async def _run(
    settings: Settings, meeting_id: str, members: list[Member], out: TextIO
) -> tuple[SyncReport, int]:
    async with open_http_client() as http:
        client = ZoomClient.from_settings(settings, http)
        report = await sync_registrants(client, meeting_id, members)
    print_report(report, out)
    return report, (0 if report.ok else 1)


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
