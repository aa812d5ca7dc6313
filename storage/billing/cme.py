"""Continuing-education hours: how long each member attended the group in a year.

Pure. A session counts with the member's minutes inside the session's therapy window and
its reflection (the reflection is teaching time), absences subtracted; billing eligibility
plays no part, so a member the physician does not bill gets their hours too. Hours are
reported to a hundredth and rounded down to the quarter hour accrediting bodies usually
claim in. The outputs: a CSV summary for every member at once, a CSV per member, and a
printable certificate per member (HTML, and PDF through `pdf.text_pdf`) with the hours, the
sessions and the facilitators' names. The certificate states attendance only: the bot makes
no claim about which credit an accrediting body grants for it.
"""

from __future__ import annotations

import csv
import html
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from storage.billing.pdf import Line, text_pdf
from storage.billing.spreadsheet import cell

__all__ = [
    "CmeReport",
    "CmeSession",
    "certificate_html",
    "certificate_pdf",
    "cme_report",
    "render_cme",
    "render_cme_summary",
]


@dataclass(frozen=True, slots=True)
class CmeSession:
    """One session the member attended, with the minutes that count."""

    session_id: str
    service_date: date
    minutes: int


@dataclass(frozen=True, slots=True)
class CmeReport:
    """A member's year: the sessions that count and who led them."""

    member_id: str
    display_name: str
    year: int
    sessions: tuple[CmeSession, ...]
    full_name: str = ""
    group_name: str = ""
    facilitators: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        """The name for a certificate: the full name on the roster, else the display name."""
        return self.full_name.strip() or self.display_name

    @property
    def total_minutes(self) -> int:
        return sum(held.minutes for held in self.sessions)

    @property
    def hours(self) -> float:
        """Hours attended, to a hundredth."""
        return round(self.total_minutes / 60, 2)

    @property
    def quarter_hours(self) -> float:
        """Hours attended, rounded down to the quarter hour."""
        return (self.total_minutes // 15) / 4


def cme_report(
    *,
    member_id: str,
    display_name: str,
    year: int,
    sessions: Sequence[CmeSession],
    full_name: str = "",
    group_name: str = "",
    facilitators: Sequence[str] = (),
) -> CmeReport:
    """The member's sessions of `year` that count (over 0 minutes), by date."""
    kept = sorted(
        (held for held in sessions if held.service_date.year == year and held.minutes > 0),
        key=lambda held: (held.service_date, held.session_id),
    )
    return CmeReport(
        member_id=member_id,
        display_name=display_name,
        year=year,
        sessions=tuple(kept),
        full_name=full_name,
        group_name=group_name,
        facilitators=tuple(facilitators),
    )


def render_cme(report: CmeReport) -> str:
    """A CSV: one line per session, then a total line in minutes, hours and quarter hours."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(["member_id", "name", "year", "session_id", "date", "minutes"])
    for held in report.sessions:
        writer.writerow(
            [
                report.member_id,
                cell(report.display_name),
                report.year,
                held.session_id,
                held.service_date.isoformat(),
                held.minutes,
            ]
        )
    writer.writerow(
        [
            report.member_id,
            cell(report.display_name),
            report.year,
            "total",
            f"{report.hours:.2f} h ({report.quarter_hours:.2f} h in quarter hours)",
            report.total_minutes,
        ]
    )
    return buffer.getvalue()


def render_cme_summary(reports: Sequence[CmeReport]) -> str:
    """A CSV with one line per member: sessions, minutes, hours, quarter hours, facilitators."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(
        [
            "member_id",
            "name",
            "group",
            "year",
            "sessions",
            "minutes",
            "hours",
            "quarter_hours",
            "facilitators",
        ]
    )
    for report in reports:
        writer.writerow(
            [
                report.member_id,
                cell(report.name),
                cell(report.group_name),
                report.year,
                len(report.sessions),
                report.total_minutes,
                f"{report.hours:.2f}",
                f"{report.quarter_hours:.2f}",
                cell("; ".join(report.facilitators)),
            ]
        )
    return buffer.getvalue()


def _statement(report: CmeReport) -> str:
    sessions = len(report.sessions)
    return (
        f"attended {sessions} session{'s' if sessions != 1 else ''} of {report.group_name} "
        f"in {report.year}, for {report.quarter_hours:.2f} hours "
        f"({report.total_minutes} minutes)."
    )


def _facilitated(report: CmeReport) -> str:
    return "Facilitated by " + (" and ".join(report.facilitators) or "the group's facilitator")


_NOTE = (
    "Hours are the time present in each session (the group and its reflection), absences "
    "subtracted, rounded down to the quarter hour, as recorded by the group's attendance log."
)


def certificate_html(report: CmeReport, *, issued: date) -> str:
    """A printable one-page certificate of attendance (HTML, every value escaped)."""
    e = html.escape
    rows = "\n".join(
        f"<tr><td>{held.service_date.isoformat()}</td><td>{held.minutes}</td></tr>"
        for held in report.sessions
    )
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Certificate of attendance: {e(report.name)}, {report.year}</title>
<style>
@page {{ size: letter; margin: 2cm; }}
body {{ font-family: Georgia, serif; max-width: 42rem; margin: 2rem auto; color: #111; }}
h1 {{ text-align: center; font-weight: normal; letter-spacing: 0.05em; }}
.name {{ text-align: center; font-size: 1.6rem; margin: 1.5rem 0 0.5rem; }}
table {{ border-collapse: collapse; margin: 1rem auto; }}
td, th {{ border-bottom: 1px solid #ccc; padding: 0.2rem 1rem; text-align: left; }}
.sign {{ margin-top: 3rem; border-top: 1px solid #111; width: 18rem; padding-top: 0.3rem; }}
.note {{ font-size: 0.8rem; color: #444; margin-top: 2rem; }}
</style>
</head>
<body>
<h1>Certificate of attendance</h1>
<p>This certifies that</p>
<p class="name">{e(report.name)}</p>
<p>{e(_statement(report))}</p>
<p>{e(_facilitated(report))}.</p>
<table>
<tr><th>Session</th><th>Minutes</th></tr>
{rows}
</table>
<div class="sign">{e(" / ".join(report.facilitators) or "Facilitator")}</div>
<p class="note">{e(_NOTE)} Issued {issued.isoformat()}.</p>
</body>
</html>
"""


def certificate_pdf(report: CmeReport, *, issued: date) -> bytes:
    """The same certificate as a PDF (no dependency: see `storage.billing.pdf`)."""
    lines = [
        Line("Certificate of attendance", size=20, bold=True),
        Line(""),
        Line("This certifies that"),
        Line(report.name, size=16, bold=True),
        Line(_statement(report)),
        Line(_facilitated(report) + "."),
        Line(""),
        Line("Session        Minutes", bold=True),
        *(
            Line(f"{held.service_date.isoformat()}     {held.minutes:>4}")
            for held in report.sessions
        ),
        Line(""),
        Line(""),
        Line("______________________________"),
        Line(" / ".join(report.facilitators) or "Facilitator"),
        Line(""),
        Line(f"{_NOTE} Issued {issued.isoformat()}.", size=8),
    ]
    return text_pdf(lines, title=f"Certificate of attendance: {report.name}, {report.year}")
