"""Continuing-education hours for every member at once, and a printable certificate each."""

from __future__ import annotations

import re
import stat
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from storage import audit
from storage.billing.cme import CmeSession, certificate_html, certificate_pdf, cme_report
from storage.billing.errors import BillingError
from storage.billing.exports import export_cme
from storage.billing.pdf import Line, text_pdf
from tests.storage_fixtures import (  # noqa: F401
    db_engine,
    db_session,
    postgres_engine,
    postgres_ready,
    sqlite_engine,
    sqlite_template,
    sqlite_url,
)

from .db_world import GROUP, NOW, START, add_session, build_world

WHOLE = [(-5, 125, "video")]


@pytest.fixture
def db(db_session: Session) -> Session:  # noqa: F811
    return db_session


def test_every_member_at_once_billable_or_not(db, tmp_path):
    world = build_world(db, members=3, m3={"bill_ohip": "no", "diagnostic_code": ""})
    add_session(db, world)  # everyone -5..120: 105 therapy + 14 of the reflection (106..120)
    add_session(
        db,
        world,
        start=START + timedelta(days=7),
        stays={
            "Fay Leader": WHOLE,
            "Alex1 Sample1": [(-5, 40, "video"), (70, 125, "telephone")],  # 30 minutes away
            "Alex3 Sample3": WHOLE,
        },
    )
    out = tmp_path / "cme"
    out.mkdir()
    result = export_cme(db, settings=world.settings, group=GROUP, year=2026, out_dir=out, now=NOW)
    by_name = {report.display_name: report for report in result.reports}
    assert set(by_name) == {"Alex1 Sample1", "Alex2 Sample2", "Alex3 Sample3"}
    assert [s.minutes for s in by_name["Alex1 Sample1"].sessions] == [119, 90]
    assert [s.minutes for s in by_name["Alex2 Sample2"].sessions] == [119]
    assert [s.minutes for s in by_name["Alex3 Sample3"].sessions] == [119, 120]
    alex3 = by_name["Alex3 Sample3"]  # not billed by the physician: still gets the hours
    assert (alex3.total_minutes, alex3.hours, alex3.quarter_hours) == (239, 3.98, 3.75)
    assert alex3.facilitators == ("Fay Leader",) and alex3.name == "Alex3 Sample3"
    names = sorted(path.name for path in result.files)
    member = world.members["Alex1 Sample1"]
    assert "cme-2026.csv" in names and f"cme-2026-member-{member}.pdf" in names
    assert len(names) == 1 + 3 * 3
    assert all(stat.S_IMODE(path.stat().st_mode) == 0o600 for path in result.files)
    summary = (out / "cme-2026.csv").read_text("utf-8")
    assert "Alex3 Sample3,Test Balint group,2026,2,239,3.98,3.75,Fay Leader" in summary
    page = (out / f"cme-2026-member-{member}.html").read_text("utf-8")
    assert "Alex1 Sample1" in page and "2 sessions" in page and "Fay Leader" in page
    assert audit.entries(db, command="export cme")
    with pytest.raises(BillingError, match="nothing was written"):
        export_cme(db, settings=world.settings, year=2026, out_dir=out, now=NOW)


def test_one_member_and_the_groups_name_are_checked(db):
    world = build_world(db, members=2)
    add_session(db, world)
    member = world.members["Alex1 Sample1"]
    one = export_cme(db, settings=world.settings, year=2026, member_id=member, now=NOW)
    assert one.report.member_id == str(member) and "total" in one.text
    with pytest.raises(BillingError, match="not the group these settings are narrowed to"):
        export_cme(db, settings=world.settings, group="Another group", year=2026, now=NOW)
    with pytest.raises(BillingError, match="no member"):
        export_cme(db, settings=world.settings, year=2026, member_id=9999, now=NOW)
    facilitator = world.members["Fay Leader"]
    with pytest.raises(BillingError, match="no member"):
        export_cme(db, settings=world.settings, year=2026, member_id=facilitator, now=NOW)
    empty = export_cme(db, settings=world.settings, year=2025, now=NOW)
    assert all(report.total_minutes == 0 for report in empty.reports)


REPORT = cme_report(
    member_id="7",
    display_name="Ann",
    full_name='Ann <script>alert("x")</script> Müller',
    group_name="Weekly group",
    year=2026,
    sessions=[CmeSession("1", date(2026, 11, 18), 119), CmeSession("2", date(2026, 11, 25), 105)],
    facilitators=["Fay Leader", "Gil Second"],
)


def test_the_html_certificate_escapes_every_value():
    page = certificate_html(REPORT, issued=date(2026, 12, 1))
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "Fay Leader and Gil Second" in page and "3.50 hours" in page
    assert "2026-11-25</td><td>105" in page and "Issued 2026-12-01" in page


def _xref_is_exact(data: bytes) -> int:
    """Every xref offset points at its object; returns the object count."""
    start = int(re.search(rb"startxref\n(\d+)\n%%EOF\n$", data).group(1))  # type: ignore[union-attr]
    assert data[start:].startswith(b"xref\n")
    header = data[start:].split(b"\n")[1]
    count = int(header.split()[1])
    entries = data[start:].split(b"\n")[3 : 3 + count - 1]
    for number, entry in enumerate(entries, start=1):
        offset = int(entry[:10])
        assert data[offset:].startswith(f"{number} 0 obj\n".encode()), number
    return count - 1


def test_the_pdf_certificate_is_a_well_formed_pdf_with_the_facts():
    data = certificate_pdf(REPORT, issued=date(2026, 12, 1))
    assert data.startswith(b"%PDF-1.4\n")
    assert _xref_is_exact(data) >= 6
    assert "Müller".encode("cp1252") in data  # WinAnsiEncoding
    assert b"Fay Leader and Gil Second" in data and b"3.50 hours" in data
    assert certificate_pdf(REPORT, issued=date(2026, 12, 1)) == data  # deterministic


def test_a_long_year_breaks_onto_more_pages_and_escapes_parentheses():
    lines = [Line(f"row {index} (a) \\ b") for index in range(120)]
    data = text_pdf(lines, title="t")
    assert _xref_is_exact(data) > 6
    assert b"/Count 3" in data and b"(row 0 \\(a\\) \\\\ b)" in data


def test_cme_only_counts_the_requested_year(tmp_path: Path):
    report = cme_report(
        member_id="1",
        display_name="Ann",
        year=2026,
        sessions=[CmeSession("1", date(2025, 12, 31), 100), CmeSession("2", date(2026, 1, 7), 0)],
    )
    assert report.sessions == () and report.hours == 0
