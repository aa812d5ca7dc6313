"""Roster import: whole-file validation, PHI sealed, the engine's view, audited PHI reads."""

from __future__ import annotations

import csv
import io
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from storage import audit
from storage.crypto import DataKeyError, Keyring, generate_key
from storage.roster import (
    ROSTER_HEADERS,
    ImportResult,
    RosterImportError,
    decode_roster,
    import_roster,
    list_members,
    parse_roster,
    read_phi,
    reseal_all,
    roster_entries,
)
from storage.tables.core import Member
from tests.clock import TEST_NOW

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "roster"
HEADER = ",".join(ROSTER_HEADERS)
TODAY = date(2026, 11, 29)


def _csv(*rows: str) -> str:
    return "\n".join((HEADER, *rows)) + "\n"


def test_good_file_parses():
    rows = parse_roster((FIXTURES / "good.csv").read_text(), today=TODAY)
    assert [r.display_name for r in rows] == ["Fay", "Ann", "Ben T", "Cal"]
    assert [r.row for r in rows] == [2, 3, 4, 5]
    assert rows[0].role == "facilitator" and not rows[0].has_phi
    assert rows[1].sex == "2" and rows[1].modules == ("2026-09", "2027-01")
    assert rows[1].birth_date == date(1980, 2, 29)


def test_bad_file_is_refused_whole_naming_every_row_and_field():
    with pytest.raises(RosterImportError) as refused:
        parse_roster((FIXTURES / "bad.csv").read_text(), today=TODAY)
    found = {(p.row, p.field) for p in refused.value.problems}
    assert found == {
        (3, "health_number"),  # bad check digit
        (4, "referring_number"),  # 5 digits
        (5, "birth_date"),  # 1990-02-30
        (6, "role"),  # observer
        (7, "display_name"),  # duplicate of Ann (row 3)
    }
    message = str(refused.value)
    assert "row 4, referring_number: must be exactly 6 digits" in message
    assert "row 7, display_name: duplicate member (same as row 3)" in message
    assert "9876543218" not in message


@pytest.mark.parametrize(
    ("row", "field"),
    [
        ("A,B,A,,member,,9876543217,,ON,1980-01-01,,,12345,,,,,", "referring_number"),
        ("A,B,A,,member,,9876543217,,ON,1980-01-01,,,,,,2026-13-01,,", "relationship_date"),
        ("A,B,A,,member,,9876543217,,ON,1980-01-01,,,,,,,,2026-07", "modules"),
        ("A,B,A,,member,,9876543217,ABC,ON,1980-01-01,,,,,,,,", "version_code"),
        ("A,B,A,,member,,,,ON,1980-01-01,,,,,,,,", "health_number"),
        # digits, but Arabic-Indic ones: the check digit passes, the claims file is ASCII
        ("A,B,A,,member,,٩٨٧٦٥٤٣٢١٧,,ON,1980-01-01,,,,,,,,", "health_number"),
        ("A,B,A,,member,,9876543217,,ON,1980-01-01,,,١٢٣٤٥٦,,,,,", "referring_number"),
        ("A,B,A\x1b[2J,,member,,9876543217,,ON,1980-01-01,,,,,,,,", "display_name"),
        ("A,B,\u202eA,,member,,9876543217,,ON,1980-01-01,,,,,,,,", "display_name"),
        ('A,B,A,,member,,9876543217,,ON,1980-01-01,,"Dr\nX",,,,,,', "referring_name"),
        ("A,B,A,,member,,9876543217,,ON,1980-01-01,,,,٣١١,,,,", "diagnostic_code"),
        ("A,B,A,,member,,9876543217,,ON,١٩٨٠-٠١-٠١,,,,,,,,", "birth_date"),
        ("A,B,A,,member,,9876543217,,ON,,,,,,,,,", "birth_date"),
        ("A,B,A,,member,,9876543217,,ON,2030-01-01,,,,,,,,", "birth_date"),
        ("A,B,A,,member,,9876543217,,XX,1980-01-01,,,,,,,,", "province"),
        ("A,B,A,,member,,9876543217,,ON,1980-01-01,X,,,,,,,", "sex"),
        ("A,B,A,,member,,9876543217,,ON,1980-01-01,,,,31,,,,", "diagnostic_code"),
        ("A,B,A,,member,,9876543217,,ON,1980-01-01,,,,,friend,,,", "relationship_basis"),
        ("A,B,A,not-mail,member,,9876543217,,ON,1980-01-01,,,,,,,,", "email"),
    ],
)
def test_each_rule_names_its_field(row, field):
    with pytest.raises(RosterImportError) as refused:
        parse_roster(_csv(row), today=TODAY)
    assert [(p.row, p.field) for p in refused.value.problems] == [(2, field)]


def test_out_of_province_numbers_skip_the_ontario_check_digit():
    (row,) = parse_roster(_csv("A,B,A,,member,,QC12345,,QC,1980-01-01,1,,,,,,,"), today=TODAY)
    assert row.province == "QC" and row.health_number == "QC12345"


def test_header_must_match_exactly():
    text = _csv().replace("referring_number", "referrer_number")
    with pytest.raises(RosterImportError) as refused:
        parse_roster(text, today=TODAY)
    assert {(p.field, p.message) for p in refused.value.problems} == {
        ("referring_number", "missing column"),
        ("referrer_number", "unknown column"),
    }


def _import(session: Session, text: str, keyring: Keyring) -> ImportResult:
    rows = parse_roster(text, today=TODAY)
    result = import_roster(session, group_name="G", rows=rows, keyring=keyring, now=TEST_NOW)
    session.commit()
    return result


def test_import_seals_phi_and_lists_masked(db_session):
    ring = Keyring.from_text(generate_key())
    result = _import(db_session, (FIXTURES / "good.csv").read_text(), ring)
    assert (result.created, result.updated) == (4, 0)
    ann = db_session.scalars(select(Member).where(Member.display_name == "Ann")).one()
    assert ann.key_id == ring.current_id
    assert ann.health_number_enc is not None and b"9876543217" not in ann.health_number_enc
    listed = {m.display_name: m for m in list_members(db_session, group_name="G")}
    assert listed["Ann"].health_number == "******3217"
    assert listed["Fay"].health_number == ""
    assert listed["Ann"].modules == ("2026-09", "2027-01")
    phi = read_phi(
        db_session, member_ids=[ann.id], keyring=ring, command="billing export", now=TEST_NOW
    )
    assert phi[ann.id].health_number == "9876543217"
    assert phi[ann.id].version_code == "AB"
    assert phi[ann.id].birth_date == date(1980, 2, 29)
    logged = audit.entries(db_session, command="billing export")
    assert [e.records for e in logged] == [[f"member:{ann.id}"]]


def test_reimport_updates_by_display_name(db_session):
    ring = Keyring.from_text(generate_key())
    _import(db_session, (FIXTURES / "good.csv").read_text(), ring)
    again = _import(
        db_session, _csv("Fay,Changed,fay,new@example.org,facilitator,,,,,,,,,,,,,"), ring
    )
    assert (again.created, again.updated) == (0, 1)
    fay = next(m for m in list_members(db_session, group_name="G") if m.display_name == "fay")
    assert fay.email == "new@example.org" and fay.modules == ()


def test_without_a_key_phi_is_refused_but_facilitators_import(db_session):
    no_key = Keyring.from_text(None)
    with pytest.raises(RosterImportError, match="BALINT_DATA_KEY") as refused:
        _import(db_session, (FIXTURES / "good.csv").read_text(), no_key)
    assert [p.row for p in refused.value.problems] == [3, 4, 5]
    db_session.rollback()
    assert db_session.scalars(select(Member)).all() == []
    result = _import(db_session, _csv("Fay,E,Fay,,facilitator,,,,,,,,,,,,,"), no_key)
    assert result.created == 1


def test_roster_entries_for_the_engine(db_session):
    ring = Keyring.from_text(generate_key())
    _import(db_session, (FIXTURES / "good.csv").read_text(), ring)
    entries = roster_entries(db_session, group_name="G")
    assert [(e.display_name, e.role) for e in entries] == [
        ("Fay", "facilitator"),
        ("Ann", "member"),
        ("Ben T", "member"),
        ("Cal", "member"),
    ]
    assert entries[2].registrant_id == "reg-ben-1"
    ids = {m.member_id for m in list_members(db_session, group_name="G")}
    assert {int(e.member_id) for e in entries} == ids
    assert roster_entries(db_session, group_name="nobody") == ()


def test_reseal_all_moves_every_row_to_the_new_key(db_session):
    old = generate_key()
    _import(db_session, (FIXTURES / "good.csv").read_text(), Keyring.from_text(old))
    new_ring = Keyring.from_text(generate_key(), old)
    assert reseal_all(db_session, keyring=new_ring, now=TEST_NOW) == 3
    db_session.commit()
    assert {m.key_id for m in db_session.scalars(select(Member))} == {"", new_ring.current_id}
    assert reseal_all(db_session, keyring=new_ring, now=TEST_NOW) == 0
    unrelated = Keyring.from_text(generate_key())
    ann_id = next(
        m.member_id for m in list_members(db_session, group_name="G") if m.display_name == "Ann"
    )
    with pytest.raises(DataKeyError):
        read_phi(db_session, member_ids=[ann_id], keyring=unrelated, command="t", now=TEST_NOW)
    assert (
        read_phi(db_session, member_ids=[ann_id], keyring=new_ring, command="t", now=TEST_NOW)[
            ann_id
        ].version_code
        == "AB"
    )


# The physician's billing decision: `bill_ohip`, a column a file may leave out.
BILLING_HEADER = HEADER  # ROSTER_HEADERS ends with bill_ohip
MEMBER = (
    "Ann,Sample,Ann,,member,,9876543217,AB,ON,1980-02-29,F,,,{dx},in_person,2026-01-01,,,{bill}"
)


@pytest.mark.parametrize(
    ("bill", "dx", "expected"),
    [("yes", "311", True), ("YES", "311", True), ("no", "", False), ("", "", None)],
)
def test_bill_ohip_is_the_physicians_yes_or_no_and_never_defaulted(bill, dx, expected):
    assert ROSTER_HEADERS[-1] == "bill_ohip"
    (row,) = parse_roster(_csv(MEMBER.format(dx=dx, bill=bill)), today=TODAY)
    assert row.bill_ohip is expected


@pytest.mark.parametrize(
    ("line", "field"),
    [
        (MEMBER.format(dx="311", bill="maybe"), "bill_ohip"),
        (MEMBER.format(dx="", bill="yes"), "diagnostic_code"),
        ("Fay,X,Fay,,facilitator,,,,,,,,,,,,,,yes", "bill_ohip"),
    ],
)
def test_bill_ohip_rules(line, field):
    with pytest.raises(RosterImportError) as refused:
        parse_roster(_csv(line), today=TODAY)
    assert [p.field for p in refused.value.problems] == [field]


def test_a_file_without_the_column_imports_everyone_undecided(db_session):
    rows = parse_roster((FIXTURES / "good.csv").read_text(), today=TODAY)
    assert "bill_ohip" not in (FIXTURES / "good.csv").read_text().splitlines()[0]
    assert {row.bill_ohip for row in rows} == {None}
    import_roster(db_session, group_name="G", rows=rows, keyring=Keyring.from_text(generate_key()),
                  now=TEST_NOW)  # fmt: skip
    assert {m.bill_ohip for m in db_session.scalars(select(Member))} == {None}
    decided = parse_roster(_csv(MEMBER.format(dx="311", bill="no")), today=TODAY)
    import_roster(db_session, group_name="G", rows=decided,
                  keyring=Keyring.from_text(generate_key()), now=TEST_NOW)  # fmt: skip
    ann = db_session.scalar(select(Member).where(Member.display_name == "Ann"))
    assert ann is not None and ann.bill_ohip is False


def test_a_roster_excel_saved_with_semicolons_reads_as_the_comma_one():
    text = (FIXTURES / "good.csv").read_text()
    rows = list(csv.reader(io.StringIO(text)))
    out = io.StringIO()
    csv.writer(out, delimiter=";", lineterminator="\r\n").writerows(rows)
    assert parse_roster(out.getvalue(), today=TODAY) == parse_roster(text, today=TODAY)


def test_a_roster_that_is_not_utf8_is_refused_with_where_and_what_to_do():
    text = (FIXTURES / "good.csv").read_text()
    assert decode_roster(("\ufeff" + text).encode()) == text  # Excel's "CSV UTF-8"
    windows = (text + "Zoë,Müller,Zoë,,member,,9876543217,,ON,1980-01-01,,,,,,,,\n").encode(
        "cp1252"
    )
    with pytest.raises(RosterImportError) as refused:
        decode_roster(windows)
    (problem,) = refused.value.problems
    assert problem.row == text.count("\n") + 1 and problem.field == "file"
    assert "0xEB" in problem.message and "CSV UTF-8" in problem.message
