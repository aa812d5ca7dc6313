"""A small billing world in a database: a group, a roster, finished sessions, attendance.

Synthetic names; health numbers from `storage.health_number.generate(random.Random(seed))`.
A session is stored as the runtime and attendance code store it: phase changes (the therapy
window), attendance rows with their spans (join sessions, with modality). The fee schedule
the tests load is `tests/fixtures/billing/test-schedule.csv` (the reference values with a
test date, marked as a fixture).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from sqlalchemy.orm import Session

from bot.config import AgendaSettings, BillingSettings, GroupSettings, Settings
from phases.agenda import Agenda
from phases.engine import new_session
from storage.billing.fee_store import import_fee_schedule
from storage.crypto import Keyring, generate_key
from storage.health_number import generate
from storage.phase_log import record_phase_change
from storage.roster import ROSTER_HEADERS, import_roster, parse_roster
from storage.runtime_state import create_meeting
from storage.sessions import ensure_session
from storage.tables.core import AttendanceRecord, AttendanceSpan, SessionRecord

GROUP = "Test Balint group"
LEADER = "Fay Leader"
#: Wednesday 18 November 2026, 19:00 in Toronto (EST, UTC-5).
START = datetime(2026, 11, 19, 0, 0, tzinfo=UTC)
NOW = datetime(2026, 11, 29, 15, 0, tzinfo=UTC)
SCHEDULE = Path(__file__).resolve().parents[2] / "fixtures" / "billing" / "test-schedule.csv"

#: The usual evening: (minutes from the start, phase entered). Closing at 105 minutes.
EVENING: tuple[tuple[int, str], ...] = (
    (0, "meditation"),
    (10, "case_call"),
    (12, "presentation"),
    (25, "questions"),
    (35, "discussion"),
    (70, "return"),
    (80, "case_call"),
    (82, "presentation"),
    (90, "questions"),
    (95, "discussion"),
    (100, "return"),
    (105, "closing"),
    (106, "reflection"),
    (121, "ended"),
)

#: A person's stay: minutes (from the start) joined and left, and how they joined.
Stay = tuple[int, int, str]


@dataclass
class World:
    settings: Settings
    keyring: Keyring
    members: dict[str, int]
    health_numbers: dict[str, str]
    key: str


def make_settings(key: str, **billing: Any) -> Settings:
    values: dict[str, Any] = {
        "provider_number": "123456",
        "moh_office": "N",
        "physician": LEADER,
    }
    values.update(billing)
    return Settings(
        group=GroupSettings(name=GROUP),
        agenda=AgendaSettings(length_minutes=105, reflection_minutes=15),
        billing=BillingSettings(**values),
        data_key=SecretStr(key),
    )


def _leader_row(first: str, last: str) -> dict[str, str]:
    leader = dict.fromkeys(ROSTER_HEADERS, "")
    leader.update(
        first_name=first,
        last_name=last,
        display_name=f"{first} {last}",
        email=f"{first.lower()}@example.org",
        role="facilitator",
        modules="2026-09",
    )
    return leader


def roster_csv(
    count: int, *, leaders: Sequence[tuple[str, str]] = (("Fay", "Leader"),), **overrides: Any
) -> str:
    lines = [",".join(ROSTER_HEADERS)]
    for first, last in leaders:
        leader = _leader_row(first, last)
        lines.append(",".join(leader[name] for name in ROSTER_HEADERS))
    for index in range(1, count + 1):
        values = {
            "first_name": f"Alex{index}",
            "last_name": f"Sample{index}",
            "display_name": f"Alex{index} Sample{index}",
            "email": f"alex{index}@example.org",
            "role": "member",
            "registrant_id": "",
            "health_number": generate(random.Random(index)),
            "version_code": "AB",
            "province": "ON",
            "birth_date": f"1970-01-{index:02d}",
            "sex": "2",
            "referring_name": "Dr Referrer",
            "referring_number": "654321",
            "diagnostic_code": "311",
            "relationship_basis": "in_person",
            "relationship_date": "2025-01-01",
            "consent_date": "2025-01-01",
            "modules": "2026-09",
            "bill_ohip": "yes",
        }
        values.update(overrides.get(f"m{index}", {}))
        lines.append(",".join(values[name] for name in ROSTER_HEADERS))
    return "\n".join(lines) + "\n"


def build_world(
    session: Session,
    *,
    members: int = 4,
    key: str | None = None,
    leaders: Sequence[tuple[str, str]] = (("Fay", "Leader"),),
    schedule: bool = True,
    **overrides: Any,
) -> World:
    """The roster in the database, and (unless `schedule` is False) the test fee schedule."""
    key = key or generate_key()
    keyring = Keyring.from_text(key)
    rows = parse_roster(roster_csv(members, leaders=leaders, **overrides), today=NOW.date())
    result = import_roster(session, group_name=GROUP, rows=rows, keyring=keyring, now=NOW)
    ids = dict(zip([row.display_name for row in rows], result.member_ids, strict=True))
    numbers = {row.display_name: row.health_number for row in rows}
    if schedule:
        import_fee_schedule(session, path=SCHEDULE, now=NOW)
    session.flush()
    return World(make_settings(key), keyring, ids, numbers, key)


def add_session(
    session: Session,
    world: World,
    *,
    start: datetime = START,
    minutes: dict[str, int] | None = None,
    stays: dict[str, Sequence[Stay]] | None = None,
    phases: Sequence[tuple[int, str]] | None = EVENING,
    finalized: bool = True,
    uuid: str | None = None,
    spans: bool = True,
    extension_minutes: int | None = 0,
    roles: dict[str, str] | None = None,
    guests: dict[str, Sequence[Stay]] | None = None,
) -> int:
    """A finished session at `start`, stored as the runtime and attendance code store it.

    Args:
        minutes: display name -> minutes from the start they stayed (joined 5 minutes
            before the start, by video); everyone on the roster stays 120 by default.
        stays: display name -> join sessions `(from, to, modality)`, instead of `minutes`.
        phases: the phase changes `(minutes from the start, phase)`; None stores none.
        spans: False stores the rows without spans (attendance finalised before them).
        extension_minutes: the engine state's `/extend` total, stored as the runtime stores
            it (None stores no engine state).
        roles: display name -> attendance role, for names that are not `Alex...` members.
        guests: people not on the roster and their stays.
    """
    meeting_uuid = uuid or f"uuid-{start.isoformat()}"
    session_id = ensure_session(
        session,
        group_name=GROUP,
        meeting_uuid=meeting_uuid,
        meeting_id="85012345678",
        scheduled_start=start,
        now=NOW,
    )
    record = session.get(SessionRecord, session_id)
    assert record is not None
    record.finalized_at = start + timedelta(minutes=130) if finalized else None
    if extension_minutes is not None:
        state, _ = new_session(agenda=Agenda(), roster=(), scheduled_start=start)
        create_meeting(
            session,
            meeting_uuid=meeting_uuid,
            meeting_id="85012345678",
            state_json=replace(state, extension_minutes=extension_minutes).to_json(),
            now=NOW,
        )
    previous = "social"
    for offset, phase in phases or ():
        record_phase_change(
            session,
            meeting_uuid=meeting_uuid,
            at=start + timedelta(minutes=offset),
            from_phase=previous,
            to_phase=phase,
            reason="test",
        )
        previous = phase
    if stays is None:
        attended = minutes if minutes is not None else dict.fromkeys(world.members, 120)
        stays = {name: [(-5, stayed, "video")] for name, stayed in attended.items() if stayed > 0}
    people: list[tuple[str, int | None]] = list(world.members.items())
    people += [(name, None) for name in guests or {}]
    stays = {**stays, **(guests or {})}
    for name, member_id in people:
        own = list(stays.get(name, ()))
        if not own:
            continue  # absent: attendance has no row for them
        role = (
            "guest" if member_id is None else "member" if name.startswith("Alex") else "facilitator"
        )
        total = sum(end - begin for begin, end, _ in own)
        row = AttendanceRecord(
            session_id=session_id,
            person_key=f"member:{member_id}" if member_id is not None else f"name:{name}",
            name=name,
            member_id=member_id,
            role=(roles or {}).get(name, role),
            minutes=total,
            waiting_minutes=0,
            first_join=start + timedelta(minutes=own[0][0]) if own else None,
            last_leave=start + timedelta(minutes=own[-1][1]) if own else None,
            late=False,
            left_early=False,
            present=total >= 60,
        )
        session.add(row)
        session.flush()
        if spans:
            session.add_all(
                AttendanceSpan(
                    attendance_id=row.id,
                    starts_at=start + timedelta(minutes=begin),
                    ends_at=start + timedelta(minutes=end),
                    modality=modality,
                )
                for begin, end, modality in own
            )
    session.flush()
    return session_id
