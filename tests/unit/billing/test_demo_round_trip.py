"""The billing round trip on the whole path: simulator -> webhooks -> storage -> claims.

`bot.demo.session.run_demo` plays the built-in evening against the real service (signed
webhooks over HTTP on loopback, journal, durable runtime, attendance finalised by storage).
The claims file exported from that database must carry exactly the members the stored
attendance marks present, with the units their minutes earn; a Claims Error Report naming two
of its claims must mark exactly those two rejected.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.demo import BUILTIN_SCENARIO
from bot.demo.session import DemoReport, run_demo
from bot.simulation.scenario import load_scenario
from storage.billing.exports import (
    ClaimsExportResult,
    claims_by_state,
    export_claims,
    import_error_report,
)
from storage.billing.units import units_for_minutes
from storage.db import make_engine, make_session_factory, session_scope
from storage.tables.core import AttendanceRecord

from . import mri_reader

#: The morning after the demo's evening (2 December 2026, 19:00 Toronto).
AFTER = datetime(2026, 12, 3, 15, 0, tzinfo=UTC)
EVENING = date(2026, 12, 2)


@pytest.fixture(scope="module")
def exported(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[DemoReport, ClaimsExportResult, dict[int, int], Path]:
    out = tmp_path_factory.mktemp("demo-billing")
    report = asyncio.run(run_demo(load_scenario(BUILTIN_SCENARIO), out_dir=out / "demo"))
    claims_dir = out / "claims"
    claims_dir.mkdir()
    engine = make_engine(report.settings.storage.url)
    try:
        with session_scope(make_session_factory(engine)) as session:
            present = {
                row.member_id: row.minutes
                for row in session.scalars(
                    select(AttendanceRecord).where(AttendanceRecord.session_id == report.session_id)
                )
                if row.present and row.role == "member" and row.member_id is not None
            }
            result = export_claims(
                session,
                settings=report.settings,
                date_from=EVENING,
                date_to=EVENING,
                out_dir=claims_dir,
                now=AFTER,
            )
    finally:
        engine.dispose()
    return report, result, present, out


def test_claims_match_the_stored_attendance(exported):
    report, result, present, _ = exported
    assert result.path is not None and not result.left_out
    assert {claim.member_id for claim in result.written} == set(present)
    assert len(present) >= 6  # the 6-12 band
    for claim in result.written:
        assert claim.fee_code == "K025A"
        assert claim.units == units_for_minutes(min(present[claim.member_id], 105))
        assert claim.fee_cents == claim.units * 1220
    records = [mri_reader.parse(r) for r in mri_reader.split_records(result.path.read_bytes())]
    assert records[0]["provider"] == report.settings.billing.provider_number
    headers = [r for r in records if r["record_id"] == "H"]
    assert [h["accounting"] for h in headers] == [c.accounting_number for c in result.written]
    items = [r for r in records if r["record_id"] == "T"]
    assert {i["service_date"] for i in items} == {"20261202"}
    assert int(records[-1]["h_count"]) == len(result.written)


def test_an_error_report_for_two_claims_rejects_exactly_those_two(exported):
    report, result, _, out = exported
    named = [result.written[0].accounting_number, result.written[-1].accounting_number]
    provider = report.settings.billing.provider_number
    lines = ["HX1V03N" + " " * 10 + "000000" + "0000" + provider + "00" + "001" + "20261210"]
    for number in named:
        lines.append("HXH" + " " * 10 + "  " + "19700101" + number + "HCPP")
        lines.append("HXTK025A  0036600320261202300".ljust(64) + "EH1")
    lines.append(f"HX9{2:07d}{0:07d}{2:07d}{0:07d}")
    path = out / "EL012345.001"
    path.write_bytes("".join(line.ljust(79) + "\r\n" for line in lines).encode("ascii"))
    engine = make_engine(report.settings.storage.url)
    try:
        with session_scope(make_session_factory(engine)) as session:
            imported = import_error_report(session, path=path, now=AFTER)
            status = claims_by_state(session)
    finally:
        engine.dispose()
    assert [number for number, _ in imported.rejected] == named
    assert [c.accounting_number for c in status["rejected"]] == named
    assert {c.accounting_number for c in status["exported"]} == {
        c.accounting_number for c in result.written
    } - set(named)
