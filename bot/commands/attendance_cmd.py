"""`balint-bot attendance`: show, rebuild and report attendance.

- `attendance --session ID | --meeting UUID [--jsonl]`: per person name, member id, role,
  minutes, first join, last leave, late, left early, present. A finalised session shows what
  was stored; otherwise it is computed now from the presence events.
- `attendance rebuild --session ID`: re-derive the session's presence rows from the webhook
  journal (`webhooks.parse.parse_event` + `webhooks.translate.to_presence`, exactly as live
  processing does) and finalise again.
  Below the table, every member enrolled in the session's module who was not present, with
  their notice (`balint-bot absence add`) or "unexplained".
- `attendance report --module NAME`: per member sessions attended of sessions held, rate, and
  a flag under one third with how many more absences would cross it; missed sessions split
  into notified and unexplained; then whom to contact: every enrolled member under one third
  (those who never came included) with the date of the last contact (`absence contact`).
- `attendance reconcile --session ID`: fetch Zoom's past-meeting participant report (REST),
  fill gaps in the stored attendance and record disagreements (`storage.reconcile`).

Attendance of a therapy group is health information: every run is written to the audit log.

Names come from Zoom without control characters (`storage.text`); rows stored by an
earlier version may still hold some, so the tables print names through `display_text` too
(`attendance rebuild` re-reads a session's names through the edge).
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.commands.db_cmd import open_session
from bot.config import Settings
from bot.errors import ConfigError
from bot.groups import add_group_option, ensure_groups_session
from bot.zoom_api.client import ZoomClient, open_http_client
from storage import absences, audit, journal
from storage.attendance import (
    AttendancePolicy,
    PresenceEvent,
    attendance_for,
    finalize,
    module_report,
    policy_for,
    replace_presence,
    stored_attendance,
)
from storage.billing.snapshots import held_sessions, member_times
from storage.reconcile import ParticipantReportSource, ReportRow, reconcile
from storage.sessions import get_session, session_by_meeting
from storage.tables.core import Member, SessionRecord
from storage.text import display_text
from webhooks.errors import WebhookError
from webhooks.parse import parse_event
from webhooks.translate import to_presence

__all__ = ["ZoomReportSource", "attendance_policy", "register"]

_COLUMNS = (
    "name",
    "member_id",
    "role",
    "minutes",
    "first_join",
    "last_leave",
    "late",
    "left_early",
    "present",
)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("attendance", help="attendance per session, rebuild, report")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--session", type=int, help="session id (see `sessions list`)")
    which.add_argument("--meeting", help="Zoom meeting instance uuid")
    parser.add_argument("--jsonl", action="store_true", help="one JSON object per line")
    parser.add_argument(
        "--present-minutes",
        type=int,
        default=None,
        help="minutes in the meeting needed to count as present (default 60)",
    )
    add_group_option(parser)
    parser.set_defaults(handler=_show)
    actions = parser.add_subparsers(dest="attendance_action", metavar="ACTION")
    rebuild = actions.add_parser(
        "rebuild", help="re-derive a session's attendance from the journal"
    )
    rebuild.add_argument("--session", dest="rebuild_session", type=int, required=True)
    add_group_option(rebuild)
    rebuild.set_defaults(handler=_rebuild)
    report = actions.add_parser("report", help="per-member attendance over a module")
    report.add_argument("--module", dest="module_name", required=True, help="e.g. 2026-09")
    report.add_argument("--jsonl", dest="report_jsonl", action="store_true")
    add_group_option(report)
    report.set_defaults(handler=_report)
    check = actions.add_parser(
        "reconcile", help="compare with Zoom's participant report; fill gaps, note differences"
    )
    check.add_argument("--session", dest="reconcile_session", type=int, required=True)
    add_group_option(check)
    check.set_defaults(handler=_reconcile)


def attendance_policy(settings: Settings, present_minutes: int | None = None) -> AttendancePolicy:
    """The policy live processing and these commands share: agenda length, bot excluded."""
    return policy_for(
        length_minutes=settings.agenda.length_minutes,
        bot_name=settings.zoom.bot_name,
        present_minutes=present_minutes,
    )


def _time(value: datetime | None, zone: ZoneInfo) -> str:
    return value.astimezone(zone).strftime("%Y-%m-%d %H:%M") if value else ""


def _show(args: argparse.Namespace, settings: Settings) -> int:
    now: datetime = args.clock()
    if args.session is None and not args.meeting:
        raise ConfigError("attendance: give --session ID or --meeting UUID (or an action)")
    zone = ZoneInfo(settings.group.timezone)
    policy = attendance_policy(settings, args.present_minutes)
    with open_session(settings) as session:
        record: SessionRecord | None
        if args.session is not None:
            record = get_session(session, session_id=args.session)
            meeting_uuid = record.meeting_uuid
        else:
            meeting_uuid = args.meeting
            record = session_by_meeting(session, meeting_uuid=meeting_uuid)
        if record is not None:
            ensure_groups_session(session, record, settings)
        rows: list[dict[str, Any]]
        if record is not None and record.finalized_at is not None and args.present_minutes is None:
            rows = [
                {
                    "name": r.name,
                    "member_id": str(r.member_id or ""),
                    "role": r.role,
                    "minutes": r.minutes,
                    "first_join": r.first_join,
                    "last_leave": r.last_leave,
                    "late": r.late,
                    "left_early": r.left_early,
                    "present": r.present,
                }
                for r in stored_attendance(session, session_id=record.id)
            ]
        else:
            computed = attendance_for(session, meeting_uuid=meeting_uuid, policy=policy)
            rows = [{column: getattr(p, column) for column in _COLUMNS} for p in computed.people]
        reflection = _reflection(session, record, settings) if record is not None else None
        missed = (
            absences.missed_session(
                session,
                session_id=record.id,
                present_member_ids=[
                    int(row["member_id"]) for row in rows if row["present"] and row["member_id"]
                ],
            )
            if record is not None
            else ()
        )
        audit.record(
            session,
            command="attendance --jsonl" if args.jsonl else "attendance",
            records=[f"session:{record.id}" if record else f"meeting:{meeting_uuid}"],
            detail=f"{len(rows)} people",
            at=now,
        )
    if args.jsonl:
        for row in rows:
            print(
                json.dumps(
                    {
                        key: value.isoformat() if isinstance(value, datetime) else value
                        for key, value in row.items()
                    }
                )
            )
        return 0
    print(
        f"{'name':<20} {'member':>6} {'role':<11} {'min':>4}  {'first join':<16}  "
        f"{'last leave':<16}  late  early  present"
    )
    for row in rows:
        print(
            f"{display_text(row['name'][:20]):<20} {row['member_id'] or '-':>6} {row['role']:<11} "
            f"{row['minutes']:>4}  {_time(row['first_join'], zone):<16}  "
            f"{_time(row['last_leave'], zone):<16}  {'yes' if row['late'] else 'no':<4}  "
            f"{'yes' if row['left_early'] else 'no':<5}  {'yes' if row['present'] else 'no'}"
        )
    if reflection is not None:
        print(
            "reflection: "
            + (", ".join(reflection) or "no member")
            + " (counted for CME: "
            + settings.billing.cme_reflection.replace("_", " ")
            + ")"
        )
    if missed:
        print("not present (enrolled in the module):")
    for gone in missed:
        told = f"notified ({gone.notice})" if gone.notice else "unexplained"
        print(f"  {display_text(gone.name[:20]):<20} {gone.member_id:>6}  {told}")
    return 0


def _reflection(session: Session, record: SessionRecord, settings: Settings) -> list[str] | None:
    """Who of the members attended the session's reflection, with their minutes and whether
    they train to lead; None when the session is not finalised or had no reflection."""
    if record.finalized_at is None:
        return None
    held = held_sessions(session, records=[record], length_minutes=settings.agenda.length_minutes)
    if not held or not held[0].window.reflection:
        return None
    times = [
        t for t in member_times(held, timezone=settings.group.timezone) if t.reflection_minutes
    ]
    members = {
        m.id: m
        for m in session.scalars(select(Member).where(Member.id.in_([t.member_id for t in times])))
    }
    return [
        f"{members[t.member_id].display_name} {t.reflection_minutes} min"
        + (" (trains to lead)" if members[t.member_id].trains_to_lead else "")
        for t in sorted(times, key=lambda t: members[t.member_id].display_name)
    ]


def presence_from_journal(entries: list[journal.JournalEntry]) -> list[tuple[int, PresenceEvent]]:
    """(journal id, presence event) for every journaled body that carries presence."""
    found = []
    for entry in entries:
        if not entry.parsed_ok:
            continue
        try:
            presence = to_presence(parse_event(entry.body))
        except WebhookError:
            continue
        if presence is not None:
            found.append((entry.id, presence))
    return found


def _rebuild(args: argparse.Namespace, settings: Settings) -> int:
    now: datetime = args.clock()
    policy = attendance_policy(settings)
    with open_session(settings) as session:
        record = get_session(session, session_id=args.rebuild_session)
        ensure_groups_session(session, record, settings)
        entries = journal.entries_for_meeting(session, meeting_uuid=record.meeting_uuid)
        stored = replace_presence(
            session, meeting_uuid=record.meeting_uuid, events=presence_from_journal(entries)
        )
        result = finalize(session, meeting_uuid=record.meeting_uuid, policy=policy, now=now)
        audit.record(
            session,
            command="attendance rebuild",
            records=[f"session:{record.id}"],
            detail=f"{len(entries)} journal entries, {stored} presence events",
            at=now,
        )
    print(
        f"session {args.rebuild_session}: rebuilt from {len(entries)} journal entries "
        f"({stored} presence events); {len(result.people)} people"
    )
    return 0


class ZoomReportSource:
    """`ParticipantReportSource` over the REST client (`GET /past_meetings/{uuid}/participants`)."""

    def __init__(self, client: ZoomClient) -> None:
        self._client = client

    async def report_rows(self, meeting_uuid: str) -> Sequence[ReportRow]:
        rows = await self._client.past_participants(meeting_uuid)
        return [ReportRow.from_api(row.model_dump(mode="json")) for row in rows]


async def _fetch(settings: Settings, meeting_uuid: str) -> Sequence[ReportRow]:
    async with open_http_client() as http:
        source: ParticipantReportSource = ZoomReportSource(ZoomClient.from_settings(settings, http))
        return await source.report_rows(meeting_uuid)


def _reconcile(args: argparse.Namespace, settings: Settings) -> int:
    now: datetime = args.clock()
    with open_session(settings) as session:
        record = get_session(session, session_id=args.reconcile_session)
        ensure_groups_session(session, record, settings)
        meeting_uuid = record.meeting_uuid
    rows = asyncio.run(_fetch(settings, meeting_uuid))
    with open_session(settings) as session:
        result = reconcile(
            session,
            meeting_uuid=meeting_uuid,
            report_rows=rows,
            now=now,
            policy=attendance_policy(settings),
        )
        audit.record(
            session,
            command="attendance reconcile",
            records=[f"session:{args.reconcile_session}"],
            detail=f"{len(rows)} report rows",
            at=now,
        )
    print(
        f"session {args.reconcile_session}: {len(rows)} report row(s), "
        f"{len(result.filled)} filled from the report, {len(result.disagreements)} disagreement(s)"
    )
    for name, field, ours, theirs in result.disagreements:
        print(
            f"  {display_text(name)}: {field}: ours {display_text(ours) or '-'}, "
            f"Zoom {display_text(theirs) or '-'}"
        )
    return 0


def _report(args: argparse.Namespace, settings: Settings) -> int:
    now: datetime = args.clock()
    with open_session(settings) as session:
        standings = module_report(
            session, module_name=args.module_name, group_name=settings.group.name
        )
        audit.record(
            session,
            command="attendance report",
            records=[f"member:{s.member_id}" for s in standings],
            detail=f"module {args.module_name}",
            at=now,
        )
    if args.report_jsonl:
        for s in standings:
            print(
                json.dumps(
                    {
                        "member_id": s.member_id,
                        "name": s.name,
                        "attended": s.attended,
                        "held": s.held,
                        "rate": round(s.rate, 3),
                        "under_third": s.under_third,
                        "absences_to_cross": s.absences_to_cross,
                        "notified": s.notified,
                        "unexplained": s.unexplained,
                        "last_contact": s.last_contact.isoformat() if s.last_contact else None,
                    }
                )
            )
        return 0
    if not standings:
        print(f"module {args.module_name}: no members and no sessions held")
        return 0
    held = standings[0].held
    print(f"module {args.module_name}: {held} session(s) held; the group asks for one third")
    print(
        f"{'member':>6}  {'name':<20}  {'attended':>8}  {'rate':>5}  "
        f"{'notified':>8}  {'unexpl.':>7}  status"
    )
    for s in standings:
        status = (
            "UNDER ONE THIRD"
            if s.under_third
            else f"ok; {s.absences_to_cross} more absence(s) would cross one third"
        )
        print(
            f"{s.member_id:>6}  {s.name[:20]:<20}  {s.attended:>3}/{s.held:<4}  "
            f"{s.rate:>5.0%}  {s.notified:>8}  {s.unexplained:>7}  {status}"
        )
    under = [s for s in standings if s.under_third]
    if under:
        print("to contact (under one third):")
    for s in under:
        last = s.last_contact.isoformat() if s.last_contact else "never"
        print(f"  {display_text(s.name[:20]):<20}  last contact: {last}")
    return 0
