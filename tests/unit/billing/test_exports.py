"""The database-facing exports: the claims file, the worksheet, what is left out and why."""

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
from storage.billing.errors import BillingError
from storage.billing.exports import ClaimsExportResult, export_claims, export_worksheet
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
    return export_claims(db, settings=world.settings, out_dir=out, now=NOW, **{**NOV, **kwargs})


def _left(world: World, result: ClaimsExportResult) -> dict[str, set[str]]:
    names = {member_id: name for name, member_id in world.members.items()}
    return {names[lo.member_id]: {p.code for p in lo.problems} for lo in result.left_out}


def test_claims_file_matches_the_attendance(db, out):
    world = build_world(db, members=4)
    minutes = {"Fay Leader": 120, "Alex1 Sample1": 120, "Alex2 Sample2": 50, "Alex3 Sample3": 19}
    session_id = add_session(db, world, minutes=minutes)
    result = _claims(db, world, out)
    assert result.file_name == "HK123456.001"
    assert result.path == out / "HK123456.001"
    assert result.path is not None
    assert stat.S_IMODE(result.path.stat().st_mode) == 0o600
    # three members in the window: K020A. Alex3's 19 minutes are listed as left out; Alex4
    # was absent: no claim and nothing to list.
    written = [(c.member_id, c.units, c.fee_code, c.modality_item) for c in result.written]
    assert [c.fee_cents for c in result.written] == [6900, 4600]
    assert written == [
        (world.members["Alex1 Sample1"], 3, "K020A", "K300A"),
        (world.members["Alex2 Sample2"], 2, "K020A", "K300A"),
    ]  # fmt: skip
    assert _left(world, result) == {"Alex3 Sample3": {"under_20_minutes"}}
    records = [mri_reader.parse(r) for r in mri_reader.split_records(result.path.read_bytes())]
    assert "".join(r["record_id"] for r in records) == "BHTTHTTE"
    assert records[0]["batch_id"] == "202611290001" and records[0]["moh_office"] == "N"
    headers = [r for r in records if r["record_id"] == "H"]
    assert [h["health_number"] for h in headers] == [
        world.health_numbers["Alex1 Sample1"],
        world.health_numbers["Alex2 Sample2"],
    ]
    assert [h["accounting"] for h in headers] == ["00000001", "00000002"]
    items = [r for r in records if r["record_id"] == "T"]
    assert [(i["service_code"], i["fee"], i["services"], i["service_date"]) for i in items] == [
        ("K020A", "006900", "03", "20261118"),
        ("K300A", "000000", "01", "20261118"),
        ("K020A", "004600", "02", "20261118"),
        ("K300A", "000000", "01", "20261118"),
    ]
    rows = db.scalars(select(ClaimRecord).order_by(ClaimRecord.id)).all()
    assert [(r.accounting_number, r.state, r.session_id, r.modality) for r in rows] == [
        ("00000001", "exported", session_id, "video"),
        ("00000002", "exported", session_id, "video"),
    ]
    assert all(r.health_number_enc and r.content_sha256 for r in rows)
    phi_read, export = audit.entries(db, command="export claims")
    assert phi_read.detail == "billing export"  # storage.roster.read_phi audits the PHI read
    assert "claim:00000001" in export.records and "HK123456.001" in export.detail


def test_health_number_never_in_the_audit_log_nor_stored_in_clear(db, out):
    world = build_world(db, members=3)
    add_session(db, world)
    _claims(db, world, out)
    for entry in audit.entries(db):
        text = " ".join(entry.records) + entry.detail
        assert not any(number in text for number in world.health_numbers.values() if number)
    for claim in db.scalars(select(ClaimRecord)):
        assert claim.health_number_enc is not None
        assert not any(
            number.encode() in claim.health_number_enc
            for number in world.health_numbers.values()
            if number
        )


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


def test_more_than_twelve_members_writes_nothing(db, out):
    world = build_world(db, members=13)
    add_session(db, world)
    result = _claims(db, world, out)
    assert result.file_name is None and list(out.iterdir()) == []
    assert len(result.left_out) == 13
    assert all("group_too_large" in {p.code for p in lo.problems} for lo in result.left_out)


def test_every_member_left_out_is_listed_with_the_reason(db, out):
    world = build_world(
        db,
        members=5,
        m1={"relationship_basis": "none"},
        m2={"bill_ohip": "no", "diagnostic_code": ""},
        m3={"bill_ohip": "", "diagnostic_code": ""},
        m4={"version_code": ""},  # allowed: cards without a version code exist
    )
    add_session(db, world)
    result = _claims(db, world, out)
    assert [c.member_id for c in result.written] == [
        world.members["Alex4 Sample4"],
        world.members["Alex5 Sample5"],
    ]
    assert _left(world, result) == {
        "Alex1 Sample1": {"relationship_basis"},
        "Alex2 Sample2": {"not_billable"},
        "Alex3 Sample3": {"bill_ohip_undecided"},
    }


def test_the_group_size_counts_members_the_physician_does_not_bill(db, out):
    world = build_world(db, members=6, m6={"bill_ohip": "no", "diagnostic_code": ""})
    add_session(db, world)
    result = _claims(db, world, out, dry_run=True)
    assert {c.fee_code for c in result.written} == {"K025A"}  # six members: the 6-12 band
    world.settings = make_settings(world.key, group_size="billable_members")
    counted = _claims(db, world, out, dry_run=True)
    assert {c.fee_code for c in counted.written} == {"K024A"}  # five billable: band 5


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


def test_without_a_loaded_schedule_nothing_is_claimed_and_the_export_says_why(db, out):
    world = build_world(db, members=3, schedule=False)
    add_session(db, world)
    result = _claims(db, world, out)
    assert result.file_name is None
    assert all(codes == {"fee_unverified"} for codes in _left(world, result).values())


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"physician": "Nobody Here"}, "not a facilitator on the roster"),
        ({"physician": "Alex1 Sample1"}, "is a member on the roster"),
        ({"physician": ""}, "physician must name"),
        ({"moh_office": ""}, "moh_office"),
    ],
)
def test_settings_that_cannot_bill_stop_the_export(db, out, changes, message):
    world = build_world(db, members=3)
    add_session(db, world)
    world.settings = make_settings(world.key, **changes)
    with pytest.raises(BillingError, match=message):
        _claims(db, world, out)


def test_the_physician_may_be_named_by_full_name_or_display_name(db, out):
    world = build_world(db, members=2, leaders=(("Fay", "Leader"),))
    add_session(db, world)
    world.settings = make_settings(world.key, physician="  fay   LEADER ")
    assert len(_claims(db, world, out, dry_run=True).written) == 2


def test_worksheet_rows_and_permissions(db, tmp_path):
    world = build_world(db, members=3, m3={"bill_ohip": "no", "diagnostic_code": ""})
    session_id = add_session(
        db, world, minutes={"Fay Leader": 120, "Alex1 Sample1": 120, "Alex2 Sample2": 30}
    )
    path = tmp_path / "worksheet.csv"
    result = export_worksheet(db, settings=world.settings, out=path, session_id=session_id, now=NOW)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    rows = list(csv.DictReader(io.StringIO(path.read_text("utf-8"))))
    assert result.rows == len(rows) == 2  # the members who attended; the facilitator excluded
    by_name = {row["last_name"]: row for row in rows}
    one = by_name["Sample1"]
    assert (one["fee_code"], one["units"], one["unit_fee_cents"], one["fee_submitted_cents"]) == (
        "K019A", "3", "3460", "10380",
    )  # fmt: skip
    assert (one["group_size"], one["group_size_rule"], one["duration_min"]) == (
        "2",
        "members",
        "105",
    )
    assert (one["physician"], one["physician_minutes"], one["window_basis"]) == (
        "Fay Leader", "105", "phases",
    )  # fmt: skip
    assert (one["minutes_present"], one["claimable_minutes"]) == ("125", "105")
    assert (one["modality"], one["modality_item"], one["bill_ohip"]) == ("video", "K300A", "yes")
    assert (one["fee_verified"], one["fee_effective_date"]) == ("yes", "2022-09-22")
    assert one["health_number"] == world.health_numbers["Alex1 Sample1"]
    assert one["valid"] == "yes" and one["problems"] == "" and one["reasons"] == ""
    assert by_name["Sample2"]["units"] == "1" and by_name["Sample2"]["claimable_minutes"] == "30"
    assert audit.entries(db, command="export billing")


def test_the_worksheet_says_why_a_session_is_not_claimed(db, tmp_path):
    world = build_world(db, members=3)
    session_id = add_session(db, world, minutes={"Alex1 Sample1": 120, "Alex2 Sample2": 120})
    path = tmp_path / "worksheet.csv"
    export_worksheet(db, settings=world.settings, out=path, session_id=session_id, now=NOW)
    rows = list(csv.DictReader(io.StringIO(path.read_text("utf-8"))))
    assert {row["problems"] for row in rows} == {"physician_absent"}
    assert {row["physician_minutes"] for row in rows} == {"0"}
    assert all("billing physician was not present" in row["reasons"] for row in rows)


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
