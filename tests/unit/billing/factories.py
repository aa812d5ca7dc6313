"""Synthetic members and sessions for the billing tests (no real names or numbers)."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

from storage.billing.claims import (
    BillableAttendance,
    BillingOptions,
    MemberBilling,
    SessionAttendance,
)
from storage.health_number import generate

SERVICE_DATE = date(2026, 11, 18)
TODAY = date(2026, 11, 29)
OPTIONS = BillingOptions(provider_number="123456", group_number="0000", moh_office="N")


def member(index: int, **changes: object) -> MemberBilling:
    base = MemberBilling(
        member_id=str(index),
        first_name=f"Alex{index}",
        last_name=f"Sample{index}",
        health_number=generate(random.Random(index)),
        version_code="AB",
        province="ON",
        birth_date=date(1970, 1, 1) + timedelta(days=index),
        sex="F",
        referring_name="Dr Referrer",
        referring_number="654321",
        diagnostic_code="300",
        relationship_basis="in-person",
        relationship_date=date(2025, 1, 1),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def attendance(
    index: int, minutes: int = 105, present: bool = True, **changes: object
) -> BillableAttendance:
    start = datetime(2026, 11, 19, 0, 0, tzinfo=UTC)
    return BillableAttendance(
        member=member(index, **changes),
        minutes=minutes,
        present=present,
        first_join=start,
        last_leave=start + timedelta(minutes=minutes),
    )


def session(
    rows: list[BillableAttendance] | None = None,
    *,
    present: int = 8,
    therapy_minutes: int = 105,
    reflection_minutes: int = 15,
    service_date: date = SERVICE_DATE,
    session_id: str = "1",
) -> SessionAttendance:
    if rows is None:
        rows = [attendance(i) for i in range(1, present + 1)]
    start = datetime(2026, 11, 19, 0, 0, tzinfo=UTC)
    return SessionAttendance(
        session_id=session_id,
        service_date=service_date,
        therapy_start=start,
        therapy_end=start + timedelta(minutes=therapy_minutes),
        therapy_minutes=therapy_minutes,
        reflection_minutes=reflection_minutes,
        attendees=tuple(rows),
        attendee_count=len(rows) + 1,
        module="2026-09",
    )
