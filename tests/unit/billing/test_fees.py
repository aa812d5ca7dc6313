"""The versioned fee table: each band of both specialties, effective dates, bad files."""

from __future__ import annotations

from datetime import date

import pytest

from storage.billing.errors import BillingError
from storage.billing.fees import load_fee_table

HEADER = "code,specialty,band,unit_fee_cents,effective_date\n"


@pytest.mark.parametrize(
    ("family", "band", "code", "cents"),
    [
        ("gp", "2", "K019A", 3460),
        ("gp", "3", "K020A", 2300),
        ("gp", "4", "K012A", 1740),
        ("gp", "5", "K024A", 1435),
        ("gp", "6-12", "K025A", 1220),
        ("psychiatry", "2", "K208A", 4430),
        ("psychiatry", "3", "K209A", 2955),
        ("psychiatry", "4", "K203A", 2220),
        ("psychiatry", "5", "K204A", 1770),
        ("psychiatry", "6-12", "K205A", 1595),
    ],
)
def test_packaged_table_has_every_band_of_both_families(family, band, code, cents):
    row = load_fee_table().lookup(fee_codes=family, band=band, on=date(2026, 11, 18))
    assert (row.code, row.unit_fee_cents) == (code, cents)


def test_the_fee_in_force_on_the_service_date_is_used(tmp_path):
    path = tmp_path / "fees.csv"
    path.write_text(
        HEADER + "K025A,00,6-12,1220,2022-09-22\nK025A,00,6-12,1250,2026-10-01\n",
        encoding="utf-8",
    )
    table = load_fee_table(path)
    assert table.lookup(fee_codes="gp", band="6-12", on=date(2026, 9, 30)).unit_fee_cents == 1220
    assert table.lookup(fee_codes="gp", band="6-12", on=date(2026, 10, 1)).unit_fee_cents == 1250
    with pytest.raises(BillingError, match="in force"):
        table.lookup(fee_codes="gp", band="6-12", on=date(2020, 1, 1))
    with pytest.raises(BillingError, match="in force"):
        table.lookup(fee_codes="psychiatry", band="6-12", on=date(2026, 10, 1))


@pytest.mark.parametrize(
    "body",
    [
        "K025,00,6-12,1220,2022-09-22\n",
        "K025A,07,6-12,1220,2022-09-22\n",
        "K025A,00,13,1220,2022-09-22\n",
        "K025A,00,6-12,12.20,2022-09-22\n",
        "K025A,00,6-12,-5,2022-09-22\n",
        "K025A,00,6-12,1220,2022-13-01\n",
        "K025A,00,6-12,1220,2022-09-22\nK025A,00,6-12,1300,2022-09-22\n",
        "",
    ],
)
def test_malformed_tables_are_refused(tmp_path, body):
    path = tmp_path / "fees.csv"
    path.write_text(HEADER + body, encoding="utf-8")
    with pytest.raises(BillingError):
        load_fee_table(path)


def test_wrong_columns_and_missing_file_are_refused(tmp_path):
    path = tmp_path / "fees.csv"
    path.write_text("code,fee\nK025A,1220\n", encoding="utf-8")
    with pytest.raises(BillingError, match="columns"):
        load_fee_table(path)
    with pytest.raises(BillingError, match="cannot read"):
        load_fee_table(tmp_path / "missing.csv")


def test_unknown_family_is_refused():
    with pytest.raises(BillingError, match="family"):
        load_fee_table().lookup(fee_codes="dental", band="2", on=date(2026, 1, 1))
