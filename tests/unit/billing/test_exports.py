"""The database-facing exports: claims file, worksheet, error-report import, status, CME."""

from __future__ import annotations

import csv
import io
import stat
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from storage import audit
from storage.billing.error_report import parse_error_report
from storage.billing.errors import BillingError
from storage.billing.exports import (
    ClaimsExportResult,
    claims_by_state,
    export_claims,
    export_cme,
    export_worksheet,
    import_error_report,
)
from storage.tables.billing import BillingSequence, ClaimRecord
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
from .db_world import NOW, START, World, add_session, build_world, make_settings

NOV = {"date_from": date(2026, 11, 1), "date_to": date(2026, 11, 30)}


@pytest.fixture
def db(db_session: Session) -> Session:  # noqa: F811
    """A session on a database migrated to head (SQLite, and PostgreSQL under .ci/run)."""
    return db_session


@pytest.fixture
def out(tmp_path: Path) -> Path:
    folder = tmp_path / "out"
    folder.mkdir()
    return folder


def _claims(db: Session, world: World, out: Path, **kwargs: Any) -> ClaimsExportResult:
    return export_claims(
        db,
        settings=world.settings,
        out_dir=out,
        now=NOW,
        **{**NOV, **kwargs},
    )


def test_claims_file_matches_the_attendance(db, out):
    world = build_world(db, members=4)
    minutes = {"Alex1 Sample1": 120, "Alex2 Sample2": 50, "Alex3 Sample3": 19, "Alex4 Sample4": 0}
    session_id = add_session(db, world, minutes=minutes)
    result = _claims(db, world, out)
    assert result.file_name == "HK123456.001"
    assert result.path == out / "HK123456.001"
    assert result.path is not None
    assert stat.S_IMODE(result.path.stat().st_mode) == 0o600
    # Alex3 stayed 19 minutes: left out with the reason; Alex4 absent: not a claim at all.
    assert [(c.member_id, c.units, c.fee_code, c.fee_cents) for c in result.written] == [
        (world.members["Alex1 Sample1"], 3, "K020A", 6900),
        (world.members["Alex2 Sample2"], 2, "K020A", 4600),
    ]
    assert [(lo.member_id, [p.code for p in lo.problems]) for lo in result.left_out] == [
        (world.members["Alex3 Sample3"], ["under_20_minutes"])
    ]
    records = [mri_reader.parse(r) for r in mri_reader.split_records(result.path.read_bytes())]
    assert "".join(r["record_id"] for r in records) == "BHTHTE"
    assert records[0]["batch_id"] == "202611290001"
    headers = [r for r in records if r["record_id"] == "H"]
    assert [h["health_number"] for h in headers] == [
        world.health_numbers["Alex1 Sample1"],
        world.health_numbers["Alex2 Sample2"],
    ]
    assert [h["accounting"] for h in headers] == ["00000001", "00000002"]
    items = [r for r in records if r["record_id"] == "T"]
    assert [(i["service_code"], i["fee"], i["services"], i["service_date"]) for i in items] == [
        ("K020A", "006900", "03", "20261118"),
        ("K020A", "004600", "02", "20261118"),
    ]
    rows = db.scalars(select(ClaimRecord).order_by(ClaimRecord.id)).all()
    assert [(r.accounting_number, r.state, r.session_id) for r in rows] == [
        ("00000001", "exported", session_id),
        ("00000002", "exported", session_id),
    ]
    phi_read, export = audit.entries(db, command="export claims")
    assert phi_read.detail == "billing export"  # storage.roster.read_phi audits the PHI read
    assert "claim:00000001" in export.records and "HK123456.001" in export.detail


def test_health_number_never_in_the_audit_log(db, out):
    world = build_world(db, members=3)
    add_session(db, world)
    _claims(db, world, out)
    for entry in audit.entries(db):
        text = " ".join(entry.records) + entry.detail
        assert not any(number in text for number in world.health_numbers.values() if number)


def test_sequences_come_from_the_database_and_nothing_is_written_twice(db, out):
    world = build_world(db, members=3)
    add_session(db, world)
    first = _claims(db, world, out)
    again = _claims(db, world, out)
    assert again.file_name is None and again.already_exported == 3 and not again.written
    add_session(db, world, start=START + timedelta(days=7))
    second = _claims(db, world, out)
    assert (first.file_name, second.file_name) == ("HK123456.001", "HK123456.002")
    assert [c.accounting_number for c in second.written] == ["00000004", "00000005", "00000006"]
    assert second.batch_sequences == (2,)
    assert db.get(BillingSequence, "claims_file").value == 2


def test_dry_run_writes_nothing_and_uses_no_number(db, out):
    world = build_world(db, members=3)
    add_session(db, world)
    dry = _claims(db, world, out, dry_run=True)
    assert dry.dry_run and dry.file_name == "HK123456.001" and len(dry.written) == 3
    assert list(out.iterdir()) == []
    assert db.scalars(select(ClaimRecord)).all() == []
    assert db.get(BillingSequence, "claims_file") is None
    assert audit.entries(db, command="export claims --dry-run")
    real = _claims(db, world, out)
    assert real.file_name == dry.file_name
    assert [c.accounting_number for c in real.written] == [c.accounting_number for c in dry.written]


def test_more_than_twelve_present_writes_nothing(db, out):
    world = build_world(db, members=13)
    add_session(db, world)
    result = _claims(db, world, out)
    assert result.file_name is None and list(out.iterdir()) == []
    assert len(result.left_out) == 13
    assert all("group_too_large" in {p.code for p in lo.problems} for lo in result.left_out)


def test_bad_health_number_and_missing_basis_are_left_out(db, out):
    world = build_world(
        db,
        members=3,
        m1={"relationship_basis": "none"},
        m2={"diagnostic_code": ""},
    )
    add_session(db, world)
    result = _claims(db, world, out)
    assert len(result.written) == 1
    assert {lo.member_id: [p.code for p in lo.problems] for lo in result.left_out} == {
        world.members["Alex1 Sample1"]: ["relationship_basis"],
        world.members["Alex2 Sample2"]: ["diagnostic_code"],
    }


def test_unfinished_sessions_are_not_billed(db, out):
    world = build_world(db, members=3)
    session_id = add_session(db, world, finalized=False)
    result = _claims(db, world, out)
    assert result.unfinished_sessions == (session_id,) and result.file_name is None


def test_existing_file_is_not_overwritten(db, out):
    world = build_world(db, members=3)
    add_session(db, world)
    (out / "HK123456.001").write_bytes(b"keep")
    with pytest.raises(BillingError, match="not overwritten"):
        _claims(db, world, out)
    assert (out / "HK123456.001").read_bytes() == b"keep"


def test_reflection_counts_only_when_configured(db, out):
    world = build_world(db, members=2)
    add_session(db, world)  # members stay 120 minutes; the therapy is 105, reflection 15
    plain = _claims(db, world, out, dry_run=True)
    assert {c.units for c in plain.written} == {3}
    assert world.settings.data_key is not None
    world.settings = make_settings(
        world.settings.data_key.get_secret_value(), count_reflection=True
    )
    counted = _claims(db, world, out, dry_run=True)
    assert {c.units for c in counted.written} == {4}


def _error_report(accounting: list[str], codes: list[str]) -> str:
    lines = ["HX1V03N" + " " * 10 + "000000" + "0000" + "123456" + "00" + "001" + "20261204"]
    for number, code in zip(accounting, codes, strict=True):
        lines.append("HXH" + " " * 10 + "  " + "19700101" + number + "HCPP")
        lines.append(("HXTK020A  0069000320261118300").ljust(64) + code.ljust(3))
        lines.append("HX8EHHEALTH NUMBER NOT ELIGIBLE")
    lines.append(f"HX9{len(accounting):07d}{0:07d}{len(accounting):07d}{len(accounting):07d}")
    return "".join(line.ljust(79) + "\r\n" for line in lines)


def test_error_report_marks_exactly_the_named_claims_rejected(db, out, tmp_path):
    world = build_world(db, members=4)
    add_session(db, world)
    result = _claims(db, world, out)
    assert len(result.written) == 4
    report = tmp_path / "EL123456.001"
    report.write_text(_error_report(["00000002", "00000004"], ["EH1", "V40"]), "ascii")
    assert len(parse_error_report(report.read_bytes()).claims) == 2
    imported = import_error_report(db, path=report, now=NOW)
    assert imported.rejected == (("00000002", ("EH1",)), ("00000004", ("V40",)))
    states = {
        claim.accounting_number: (claim.state, tuple(claim.error_codes))
        for claim in db.scalars(select(ClaimRecord))
    }
    assert states == {
        "00000001": ("exported", ()),
        "00000002": ("rejected", ("EH1",)),
        "00000003": ("exported", ()),
        "00000004": ("rejected", ("V40",)),
    }
    status = claims_by_state(db)
    assert [c.accounting_number for c in status["rejected"]] == ["00000002", "00000004"]
    assert len(status["exported"]) == 2 and status["resubmitted"] == ()
    assert audit.entries(db, command="import claims-errors")[0].records == [
        "claim:00000002",
        "claim:00000004",
    ]

    # The rejected claims go out again (resubmission); the others are not repeated.
    again = _claims(db, world, out)
    assert [c.resubmits for c in again.written] == ["00000002", "00000004"]
    assert [c.accounting_number for c in again.written] == ["00000005", "00000006"]
    status = claims_by_state(db)
    assert [c.accounting_number for c in status["resubmitted"]] == ["00000002", "00000004"]
    # Importing the same report again leaves resubmitted claims alone.
    assert import_error_report(db, path=report, now=NOW).unchanged == ("00000002", "00000004")


def test_error_report_for_unknown_claims_changes_nothing(db, out, tmp_path):
    world = build_world(db, members=2)
    add_session(db, world)
    _claims(db, world, out)
    report = tmp_path / "EL123456.002"
    report.write_text(_error_report(["00000099"], ["V05"]), "ascii")
    imported = import_error_report(db, path=report, now=NOW)
    assert imported.rejected == () and imported.unmatched == ("00000099",)
    assert {c.state for c in db.scalars(select(ClaimRecord))} == {"exported"}


def test_worksheet_rows_and_permissions(db, tmp_path):
    world = build_world(db, members=3, m3={"version_code": ""})
    session_id = add_session(db, world, minutes={"Alex1 Sample1": 120, "Alex2 Sample2": 30})
    path = tmp_path / "worksheet.csv"
    result = export_worksheet(db, settings=world.settings, out=path, session_id=session_id, now=NOW)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    rows = list(csv.DictReader(io.StringIO(path.read_text("utf-8"))))
    assert result.rows == len(rows) == 3  # one row per member, facilitator excluded
    by_name = {row["last_name"]: row for row in rows}
    one = by_name["Sample1"]
    assert (one["fee_code"], one["units"], one["unit_fee_cents"], one["fee_submitted_cents"]) == (
        "K019A", "3", "3460", "10380",
    )  # fmt: skip
    assert one["members_present"] == "2" and one["duration_min"] == "105"
    assert one["health_number"] == world.health_numbers["Alex1 Sample1"]
    assert one["valid"] == "yes" and one["problems"] == ""
    assert by_name["Sample2"]["units"] == "1"
    assert by_name["Sample3"]["present"] == "no"
    assert set(by_name["Sample3"]["problems"].split(";")) >= {"absent", "version_code"}
    assert audit.entries(db, command="export billing")


def test_worksheet_needs_exactly_one_selection(db, tmp_path):
    world = build_world(db, members=2)
    with pytest.raises(BillingError, match="exactly one"):
        export_worksheet(db, settings=world.settings, out=tmp_path / "w.csv", now=NOW)
    with pytest.raises(BillingError, match="no session"):
        export_worksheet(
            db, settings=world.settings, out=tmp_path / "w.csv", session_id=999, now=NOW
        )


def test_worksheet_by_module(db, tmp_path):
    world = build_world(db, members=2)
    add_session(db, world)
    add_session(db, world, start=START + timedelta(days=7))
    result = export_worksheet(
        db, settings=world.settings, out=tmp_path / "w.csv", module="2026-09", now=NOW
    )
    assert result.rows == 4 and len(result.sessions) == 2


def test_cme_hours(db, tmp_path):
    world = build_world(db, members=2)
    add_session(db, world)
    add_session(db, world, start=START + timedelta(days=7), minutes={"Alex1 Sample1": 60})
    member_id = world.members["Alex1 Sample1"]
    path = tmp_path / "cme.csv"
    result = export_cme(
        db, settings=world.settings, member_id=member_id, year=2026, out=path, now=NOW
    )
    # 125 minutes in the meeting the first week (5 before the start): 120 count; then 60.
    assert [held.minutes for held in result.report.sessions] == [120, 60]
    assert result.report.hours == 3.0 and result.report.quarter_hours == 3.0
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "total" in path.read_text("utf-8")
    assert audit.entries(db, command="export cme")[0].records[0] == f"member:{member_id}"
    with pytest.raises(BillingError, match="no member"):
        export_cme(db, settings=world.settings, member_id=9999, year=2026, now=NOW)
