"""CSV cells a spreadsheet opens as text: names that look like formulas are not run."""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from datetime import date

import pytest

from storage.billing.cme import CmeSession, cme_report, render_cme, render_cme_summary
from storage.billing.spreadsheet import cell
from storage.billing.worksheet import WORKSHEET_COLUMNS, render_worksheet


@pytest.mark.parametrize(
    "value",
    ['=HYPERLINK("http://x","y")', "+1+1", "-2+3", "@SUM(A1)", "\t=1+1", "\r=1+1", "\uff1d1+1"],
)
def test_a_cell_a_spreadsheet_would_run_starts_with_an_apostrophe(value: str) -> None:
    assert cell(value) == "'" + value


@pytest.mark.parametrize("value", ["Ann", "", "Dr. Ann = Bea", "'=1", "1-2"])
def test_other_cells_are_written_as_they_are(value: str) -> None:
    assert cell(value) == value


def test_the_cme_files_write_a_formula_name_as_text() -> None:
    report = cme_report(
        member_id="7",
        display_name='=HYPERLINK("http://example.org","Ann")',
        full_name="@Ann Sample",
        group_name="+Weekly group",
        year=2026,
        sessions=[CmeSession("1", date(2026, 11, 18), 119)],
        facilitators=["-Fay Leader"],
    )
    rows = list(csv.reader(io.StringIO(render_cme(report))))
    assert {row[1] for row in rows[1:]} == {"'" + report.display_name}
    summary = list(csv.reader(io.StringIO(render_cme_summary([report, replace(report)]))))
    for row in summary[1:]:
        assert not any(value[:1] in "=+-@" for value in row if value), row


def test_the_worksheet_writes_every_cell_through_the_same_rule() -> None:
    row = dict.fromkeys(WORKSHEET_COLUMNS, "x")
    hostile = dict.fromkeys(WORKSHEET_COLUMNS, "\t=1+1")
    read = list(csv.DictReader(io.StringIO(render_worksheet([row, hostile]))))
    assert read[0] == row
    assert read[1] == dict.fromkeys(WORKSHEET_COLUMNS, "'\t=1+1")
