"""Synthetic members and sessions for the pure billing tests (no real names or numbers)."""

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
from storage.billing.fees import FeeTable, parse_fee_table
from storage.health_number import generate

from .db_world import SCHEDULE

SERVICE_DATE = date(2026, 11, 18)
TODAY = date(2026, 11, 29)
OPTIONS = BillingOptions(
    provider_number="123456", group_number="0000", moh_office="N", physician="Fay Leader"
)
#: The test schedule (verified rows, reference values with a test date).
FEES: FeeTable = parse_fee_table(
    SCHEDULE.read_text("utf-8"), source_name="test-schedule.csv", schedule=True
)


def options(**changes: object) -> BillingOptions:
    return replace(OPTIONS, **changes)  # type: ignore[arg-type]


def member(index: int, **changes: object) -> MemberBilling:
    base = MemberBilling(
        member_id=str(index),
        first_name=f"Alex{index}",
        last_name=f"Sample{index}",
        bill_ohip=True,
        health_number=generate(random.Random(index)),
        version_code="AB",
        province="ON",
        birth_date=date(1970, 1, 1) + timedelta(days=index),
        sex="F",
        referring_name="Dr Referrer",
        referring_number="654321",
        diagnostic_code="311",
        relationship_basis="in_person",
        relationship_date=date(2025, 1, 1),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def attendance(
    index: int, minutes: int = 105, modality: str = "video", **changes: object
) -> BillableAttendance:
    start = datetime(2026, 11, 19, 0, 0, tzinfo=UTC)
    return BillableAttendance(
        member=member(index, **changes),
        claimable_minutes=minutes,
        modality=modality,
        minutes_in_meeting=minutes,
        first_join=start,
        last_leave=start + timedelta(minutes=minutes),
    )


def session(
    rows: list[BillableAttendance] | None = None,
    *,
    present: int = 8,
    group_size: int | None = None,
    window_minutes: int = 105,
    physician_minutes: int = 105,
    service_date: date = SERVICE_DATE,
    session_id: str = "1",
) -> SessionAttendance:
    if rows is None:
        rows = [attendance(i) for i in range(1, present + 1)]
    start = datetime(2026, 11, 19, 0, 0, tzinfo=UTC)
    return SessionAttendance(
        session_id=session_id,
        service_date=service_date,
        window_start=start,
        window_end=start + timedelta(minutes=window_minutes),
        window_minutes=window_minutes,
        reflection_minutes=15,
        window_basis="phases",
        physician_minutes=physician_minutes,
        group_size=len(rows) if group_size is None else group_size,
        group_size_rule="members",
        attendees=tuple(rows),
        attendee_count=len(rows) + 1,
        module="2026-09",
    )
