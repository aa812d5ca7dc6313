"""Round trip on the storage path: presence events -> attendance -> claims file -> error report.

The attendance is computed by the storage layer itself (`storage.attendance.finalize`) from
presence events like those the webhook receiver records, so the claims must match what the
attendance code decided; then a Claims Error Report naming two of the claims marks exactly
those two rejected. (The full simulator + webhooks path is assembled in the scenario tests.)
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.attendance import PresenceEvent, finalize, record_presence
from storage.billing.exports import claims_by_state, export_claims, import_error_report
from storage.sessions import ensure_session
from storage.tables.core import AttendanceRecord
from tests.clock import TEST_NOW
from tests.storage_fixtures import (  # noqa: F401
    db_engine,
    db_session,
    postgres_engine,
    postgres_ready,
    sqlite_engine,
    sqlite_template,
    sqlite_url,
)

from . import mri_reader
from .db_world import GROUP, NOW, START, build_world

UUID = "round-trip-meeting=="


def _events(stays: dict[str, int]) -> list[PresenceEvent]:
    events = [PresenceEvent(kind="meeting_started", at=START - timedelta(minutes=15))]
    for index, (name, minutes) in enumerate(stays.items()):
        joined = START - timedelta(minutes=3)
        events.append(
            PresenceEvent(kind="joined", at=joined, participant_key=f"p{index}", name=name)
        )
        events.append(
            PresenceEvent(
                kind="left",
                at=START + timedelta(minutes=minutes),
                participant_key=f"p{index}",
                name=name,
            )
        )
    events.append(PresenceEvent(kind="meeting_ended", at=START + timedelta(minutes=125)))
    return events


def test_claims_match_storage_attendance_and_two_rejections(
    db_session: Session,  # noqa: F811
    tmp_path: Path,
) -> None:
    world = build_world(db_session, members=5)
    ensure_session(
        db_session,
        group_name=GROUP,
        meeting_uuid=UUID,
        meeting_id="85012345678",
        scheduled_start=START,
        now=TEST_NOW,
    )
    stays = {
        "Fay Leader": 122,
        "Alex1 Sample1": 120,
        "Alex2 Sample2": 105,
        "Alex3 Sample3": 70,
        "Alex4 Sample4": 40,  # under the 60-minute presence threshold: not present
        "Alex5 Sample5": 120,
    }
    for number, event in enumerate(_events(stays)):
        record_presence(db_session, meeting_uuid=UUID, journal_id=number, event=event)
    finalize(db_session, meeting_uuid=UUID, now=NOW)

    present = {
        row.member_id
        for row in db_session.scalars(select(AttendanceRecord))
        if row.present and row.role == "member"
    }
    out = tmp_path / "out"
    out.mkdir()
    result = export_claims(
        db_session,
        settings=world.settings,
        date_from=date(2026, 11, 18),
        date_to=date(2026, 11, 18),
        out_dir=out,
        now=NOW,
    )
    assert {claim.member_id for claim in result.written} == present
    assert len(present) == 4 and not result.left_out
    # 4 present -> band 4 (K012A); 105 therapy minutes -> 3 units; 70 minutes -> 2 units.
    units = {claim.member_id: claim.units for claim in result.written}
    assert units == {
        world.members["Alex1 Sample1"]: 3,
        world.members["Alex2 Sample2"]: 3,
        world.members["Alex3 Sample3"]: 2,
        world.members["Alex5 Sample5"]: 3,
    }
    assert {claim.fee_code for claim in result.written} == {"K012A"}
    assert result.path is not None
    records = [mri_reader.parse(r) for r in mri_reader.split_records(result.path.read_bytes())]
    headers = [r for r in records if r["record_id"] == "H"]
    assert sorted(h["health_number"] for h in headers) == sorted(
        world.health_numbers[name]
        for name in ("Alex1 Sample1", "Alex2 Sample2", "Alex3 Sample3", "Alex5 Sample5")
    )
    trailer = records[-1]
    assert (trailer["h_count"], trailer["r_count"], trailer["t_count"]) == ("0004", "0000", "00004")

    named = [result.written[1].accounting_number, result.written[3].accounting_number]
    lines = ["HX1V03N" + " " * 10 + "000000" + "0000" + "123456" + "00" + "001" + "20261204"]
    for accounting in named:
        lines.append("HXH" + " " * 10 + "  " + "19700101" + accounting + "HCPP")
        lines.append("HXTK012A  0052200320261118300".ljust(64) + "V40")
    lines.append(f"HX9{2:07d}{0:07d}{2:07d}{0:07d}")
    report = tmp_path / "EL123456.001"
    report.write_bytes("".join(line.ljust(79) + "\r\n" for line in lines).encode("ascii"))
    import_error_report(db_session, path=report, now=NOW)
    status = claims_by_state(db_session)
    assert [claim.accounting_number for claim in status["rejected"]] == named
    assert len(status["exported"]) == 2
    assert all(claim.error_codes == ("V40",) for claim in status["rejected"])
