"""Continuing-education hours: how long a member attended the group in a year.

Pure. The American Balint Society accredits its online groups for CME; the certificate needs
the hours actually attended. A session counts with the member's minutes inside the session
window (the agenda's length plus the reflection, which is teaching time); hours are reported
to a hundredth and also rounded down to the quarter hour that accrediting bodies usually claim
in.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

__all__ = ["CmeReport", "CmeSession", "cme_report", "render_cme"]


@dataclass(frozen=True, slots=True)
class CmeSession:
    """One session the member attended, with the minutes that count."""

    session_id: str
    service_date: date
    minutes: int


@dataclass(frozen=True, slots=True)
class CmeReport:
    member_id: str
    display_name: str
    year: int
    sessions: tuple[CmeSession, ...]

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
    *, member_id: str, display_name: str, year: int, sessions: Sequence[CmeSession]
) -> CmeReport:
    """The member's sessions of `year` that count (over 0 minutes), by date."""
    kept = sorted(
        (held for held in sessions if held.service_date.year == year and held.minutes > 0),
        key=lambda held: (held.service_date, held.session_id),
    )
    return CmeReport(
        member_id=member_id, display_name=display_name, year=year, sessions=tuple(kept)
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
                report.display_name,
                report.year,
                held.session_id,
                held.service_date.isoformat(),
                held.minutes,
            ]
        )
    writer.writerow(
        [
            report.member_id,
            report.display_name,
            report.year,
            "total",
            f"{report.hours:.2f} h ({report.quarter_hours:.2f} h in quarter hours)",
            report.total_minutes,
        ]
    )
    return buffer.getvalue()
