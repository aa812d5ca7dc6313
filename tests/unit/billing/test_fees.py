"""Fees: the unverified reference table, loaded schedules with dates and sources, bad files."""

from __future__ import annotations

from datetime import date

import pytest

from storage.billing.errors import BillingError
from storage.billing.fees import FEE_COLUMNS, FeeTable, parse_fee_table, reference_fees

HEADER = ",".join(FEE_COLUMNS) + "\n"
SOURCE = "Schedule of Benefits (test)"


def schedule(body: str):
    return parse_fee_table(HEADER + body, source_name="fees.csv", schedule=True)


@pytest.mark.parametrize(
    ("specialty", "band", "code", "cents"),
    [
        ("00", "2", "K019A", 3460),
        ("00", "3", "K020A", 2300),
        ("00", "4", "K012A", 1740),
        ("00", "5", "K024A", 1435),
        ("00", "6-12", "K025A", 1220),
        ("19", "2", "K208A", 4430),
        ("19", "3", "K209A", 2955),
        ("19", "4", "K203A", 2220),
        ("19", "5", "K204A", 1770),
        ("19", "6-12", "K205A", 1595),
    ],
)
def test_the_reference_table_has_every_band_with_its_source_and_no_invented_date(
    specialty, band, code, cents
):
    row = reference_fees().lookup(specialty=specialty, band=band, on=date(2026, 11, 18))
    assert (row.code, row.unit_fee_cents) == (code, cents)
    assert row.effective_date is None and not row.verified
    assert "S1" in row.source and "22 Sep 2022" in row.source
    assert "not known" in row.note


def test_the_reference_notes_what_the_research_could_not_settle():
    notes = {row.code: row.note for row in reference_fees().rows}
    assert "35.10" in notes["K019A"] and "VERIFY" in notes["K012A"]


def test_the_fee_in_force_on_the_service_date_is_used():
    table = schedule(
        f"K025A,00,6-12,1220,2022-09-22,{SOURCE},\nK025A,00,6-12,1250,2026-10-01,{SOURCE},\n"
    )
    assert table.lookup(specialty="00", band="6-12", on=date(2026, 9, 30)).unit_fee_cents == 1220
    assert table.lookup(specialty="00", band="6-12", on=date(2026, 10, 1)).unit_fee_cents == 1250
    assert table.schedules() == (date(2022, 9, 22), date(2026, 10, 1))
    with pytest.raises(BillingError, match="in force"):
        table.lookup(specialty="00", band="6-12", on=date(2020, 1, 1))


def test_before_a_loaded_schedule_the_unverified_reference_is_what_remains():

    table = FeeTable(
        reference_fees().rows + schedule(f"K025A,00,6-12,1250,2026-10-01,{SOURCE},\n").rows
    )
    older = table.lookup(specialty="00", band="6-12", on=date(2026, 9, 30))
    newer = table.lookup(specialty="00", band="6-12", on=date(2026, 10, 1))
    assert (older.verified, older.unit_fee_cents) == (False, 1220)
    assert (newer.verified, newer.unit_fee_cents, newer.source) == (True, 1250, SOURCE)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (f"K025,00,6-12,1220,2022-09-22,{SOURCE},\n", "not one of specialty 00"),
        (f"K205A,00,6-12,1220,2022-09-22,{SOURCE},\n", "not one of specialty 00"),
        (f"K025A,19,6-12,1220,2022-09-22,{SOURCE},\n", "not one of specialty 19"),
        (f"K025A,07,6-12,1220,2022-09-22,{SOURCE},\n", "not 00 or 19"),
        (f"K025A,00,13,1220,2022-09-22,{SOURCE},\n", "band"),
        (f"K025A,00,6-12,12.20,2022-09-22,{SOURCE},\n", "whole number of cents"),
        (f"K025A,00,6-12,0,2022-09-22,{SOURCE},\n", "whole number of cents"),
        (f"K025A,00,6-12,1220,2022-13-01,{SOURCE},\n", "not a date"),
        (f"K025A,00,6-12,1220,,{SOURCE},\n", "effective_date is required"),
        ("K025A,00,6-12,1220,2022-09-22,,\n", "source is required"),
        (f"K025A,00,6-12,1220,2022-09-22,{SOURCE},\n" * 2, "a second fee"),
        (f"K025A,00,6-12,1220,2022-09-22,{SOURCE},,extra\n", "more fields"),
        ("", "empty"),
    ],
)
def test_malformed_schedules_are_refused_naming_the_line(body, message):
    with pytest.raises(BillingError, match=message):
        schedule(body)


def test_every_bad_line_is_named_at_once():
    with pytest.raises(BillingError) as refused:
        schedule(f"K025A,00,13,1220,2022-09-22,{SOURCE},\nK019A,00,2,x,2022-09-22,,\n")
    assert "line 2" in str(refused.value) and "line 3" in str(refused.value)


def test_wrong_columns_are_refused():
    with pytest.raises(BillingError, match="columns"):
        parse_fee_table("code,fee\nK025A,1220\n", source_name="fees.csv", schedule=True)
