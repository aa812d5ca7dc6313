"""A small billing world in a database: a group, a roster, finished sessions, attendance.

Synthetic names; health numbers from `storage.health_number.generate(random.Random(seed))`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import SecretStr
from sqlalchemy.orm import Session

from bot.config import AgendaSettings, BillingSettings, GroupSettings, Settings
from storage.crypto import Keyring, generate_key
from storage.health_number import generate
from storage.roster import ROSTER_HEADERS, import_roster, parse_roster
from storage.sessions import ensure_session
from storage.tables.core import AttendanceRecord, TherapyInterval

GROUP = "Test Balint group"
#: Wednesday 18 November 2026, 19:00 in Toronto (EST, UTC-5).
START = datetime(2026, 11, 19, 0, 0, tzinfo=UTC)
NOW = datetime(2026, 11, 29, 15, 0, tzinfo=UTC)


@dataclass
class World:
    settings: Settings
    keyring: Keyring
    members: dict[str, int]
    health_numbers: dict[str, str]


def make_settings(key: str, **billing: Any) -> Settings:
    return Settings(
        group=GroupSettings(name=GROUP),
        agenda=AgendaSettings(length_minutes=105, reflection_minutes=15),
        billing=BillingSettings(provider_number="123456", **billing),
        data_key=SecretStr(key),
    )


def roster_csv(count: int, *, facilitator: bool = True, **overrides: dict[str, str]) -> str:
    lines = [",".join(ROSTER_HEADERS)]
    if facilitator:
        leader = dict.fromkeys(ROSTER_HEADERS, "")
        leader.update(
            first_name="Fay",
            last_name="Leader",
            display_name="Fay Leader",
            email="fay@example.org",
            role="facilitator",
            modules="2026-09",
        )
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
            "diagnostic_code": "300",
            "relationship_basis": "in_person",
            "relationship_date": "2025-01-01",
            "consent_date": "2025-01-01",
            "modules": "2026-09",
        }
        values.update(overrides.get(f"m{index}", {}))
        lines.append(",".join(values[name] for name in ROSTER_HEADERS))
    return "\n".join(lines) + "\n"


def build_world(
    session: Session, *, members: int = 4, key: str | None = None, **overrides: dict[str, str]
) -> World:
    key = key or generate_key()
    keyring = Keyring.from_text(key)
    rows = parse_roster(roster_csv(members, facilitator=True, **overrides), today=NOW.date())
    result = import_roster(session, group_name=GROUP, rows=rows, keyring=keyring, now=NOW)
    ids = dict(zip([row.display_name for row in rows], result.member_ids, strict=True))
    numbers = {row.display_name: row.health_number for row in rows}
    session.flush()
    return World(make_settings(key), keyring, ids, numbers)


def add_session(
    session: Session,
    world: World,
    *,
    start: datetime = START,
    minutes: dict[str, int] | None = None,
    finalized: bool = True,
    uuid: str | None = None,
) -> int:
    """A session at `start` whose members (display name -> minutes from the start) attended."""
    session_id = ensure_session(
        session,
        group_name=GROUP,
        meeting_uuid=uuid or f"uuid-{start.isoformat()}",
        meeting_id="85012345678",
        scheduled_start=start,
        now=NOW,
    )
    from storage.tables.core import SessionRecord

    record = session.get(SessionRecord, session_id)
    assert record is not None
    record.finalized_at = start + timedelta(minutes=130) if finalized else None
    record.therapy_start = start - timedelta(minutes=10)
    record.therapy_end = start + timedelta(minutes=121)
    session.add(
        TherapyInterval(
            session_id=session_id,
            starts_at=start - timedelta(minutes=10),
            ends_at=start + timedelta(minutes=121),
        )
    )
    attended = minutes if minutes is not None else dict.fromkeys(world.members, 120)
    for name, member_id in world.members.items():
        stayed = attended.get(name, 0)
        present = stayed > 0
        session.add(
            AttendanceRecord(
                session_id=session_id,
                person_key=f"member:{member_id}",
                name=name,
                member_id=member_id,
                role="facilitator" if name == "Fay Leader" else "member",
                minutes=stayed + (5 if present else 0),
                waiting_minutes=0,
                first_join=start - timedelta(minutes=5) if present else None,
                last_leave=start + timedelta(minutes=stayed) if present else None,
                late=False,
                left_early=False,
                present=present,
            )
        )
    session.flush()
    return session_id
