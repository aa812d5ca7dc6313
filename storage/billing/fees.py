"""Unit fees: which code and unit fee a specialty and group-size band get, and on what authority.

Two kinds of rows, never mixed up:

- **Reference rows** (`fee_table.csv`, shipped in the package): the group-psychotherapy codes
  and the unit fees found in the research notes (ohip-reference §1.1, source S1: a public
  repository's copy of the Schedule of Benefits, snapshot of 22 September 2022). The notes
  give no date on which those fees took effect and call them approximate, so these rows have
  no effective date and are *unverified*: a claim priced from one is held back
  (`fee_unverified`) until the physician loads the current schedule.
- **Schedule rows** (`billing fees import FILE`, stored in `billing_fees`): each with the
  Schedule of Benefits date it takes effect and where it was read. A past session is priced
  with the row in force on its service date; new schedules add rows, old ones stay.

Specialty and code family must agree (ohip-reference §1.1): specialty `00` bills the GP codes
(K019/K020/K012/K024/K025), specialty `19` the psychiatry out-patient codes
(K208/K209/K203/K204/K205). Parsing is pure; the database side is `fee_store`.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date
from importlib import resources
from typing import Final

from storage.billing.errors import BillingError
from storage.billing.units import BANDS

__all__ = [
    "FAMILY_CODES",
    "FAMILY_SPECIALTY",
    "FEE_COLUMNS",
    "FeeRow",
    "FeeTable",
    "family_for",
    "parse_fee_table",
    "reference_fees",
]

#: Settings' `fee_codes` value -> the specialty that bills that family.
FAMILY_SPECIALTY: Final[dict[str, str]] = {"gp": "00", "psychiatry": "19"}
#: The group-psychotherapy service codes of each specialty (ohip-reference §1.1).
FAMILY_CODES: Final[dict[str, frozenset[str]]] = {
    "00": frozenset({"K019A", "K020A", "K012A", "K024A", "K025A"}),
    "19": frozenset({"K208A", "K209A", "K203A", "K204A", "K205A"}),
}
#: Columns of a fee file: the reference table and an imported schedule alike.
FEE_COLUMNS: Final = (
    "code",
    "specialty",
    "band",
    "unit_fee_cents",
    "effective_date",
    "source",
    "note",
)


@dataclass(frozen=True, slots=True)
class FeeRow:
    """One unit fee.

    Args:
        code: the service code with its suffix, e.g. `K025A`.
        specialty: `00` (GP family) or `19` (psychiatry family).
        band: one of `units.BANDS`.
        unit_fee_cents: the fee for one unit, in cents.
        effective_date: the first service date it applies to (None: not known).
        source: where the fee was read.
        note: anything a billing agent should know about it.
        verified: loaded from a schedule the physician checked (`billing fees import`).
    """

    code: str
    specialty: str
    band: str
    unit_fee_cents: int
    effective_date: date | None
    source: str
    note: str = ""
    verified: bool = False


def family_for(specialty: str) -> str:
    """The fee family (`gp` / `psychiatry`) a specialty bills.

    Raises:
        BillingError: a specialty with no group-psychotherapy family here.
    """
    for family, code in FAMILY_SPECIALTY.items():
        if code == specialty:
            return family
    raise BillingError(f"specialty {specialty!r} has no group-psychotherapy codes here (00, 19)")


@dataclass(frozen=True, slots=True)
class FeeTable:
    """Every fee row known; `lookup` picks the one to price a claim with."""

    rows: tuple[FeeRow, ...]

    def lookup(self, *, specialty: str, band: str, on: date) -> FeeRow:
        """The verified row in force on `on`, else the unverified reference row.

        Raises:
            BillingError: no row at all for that specialty and band.
        """
        verified = [
            row
            for row in self.rows
            if row.verified
            and row.specialty == specialty
            and row.band == band
            and row.effective_date is not None
            and row.effective_date <= on
        ]
        if verified:
            return max(verified, key=lambda row: row.effective_date or date.min)
        reference = [
            row
            for row in self.rows
            if not row.verified and row.specialty == specialty and row.band == band
        ]
        if reference:
            return reference[-1]
        raise BillingError(
            f"no fee for specialty {specialty} band {band} in force on {on.isoformat()}"
        )

    def schedules(self) -> tuple[date, ...]:
        """The effective dates of the verified schedules, oldest first."""
        return tuple(
            sorted({row.effective_date for row in self.rows if row.verified and row.effective_date})
        )


def reference_fees() -> FeeTable:
    """The packaged reference table (unverified rows, see the module docstring)."""
    text = resources.files("storage.billing").joinpath("fee_table.csv").read_text("utf-8")
    return parse_fee_table(text, source_name="packaged fee_table.csv", schedule=False)


def parse_fee_table(text: str, *, source_name: str, schedule: bool) -> FeeTable:
    """Read and check a fee file.

    Args:
        text: the CSV text (columns `FEE_COLUMNS`, in that order).
        source_name: how to name the file in messages.
        schedule: True for a schedule the physician loads: every row then needs an
            effective date and a source, and the rows are verified.

    Raises:
        BillingError: other columns, an empty file, or a bad row (unknown specialty or band,
            a code outside the specialty's family, a fee that is not a positive whole number
            of cents, a bad date, a missing source or date in a schedule, or two rows for the
            same specialty, band and date). Every bad line is named.
    """
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    if tuple(name.strip() for name in reader.fieldnames or ()) != FEE_COLUMNS:
        raise BillingError(f"{source_name}: expected the columns {','.join(FEE_COLUMNS)}")
    rows: list[FeeRow] = []
    problems: list[str] = []
    seen: dict[tuple[str, str, date | None], int] = {}
    for line, record in enumerate(reader, start=2):
        if None in record:
            problems.append(f"line {line}: more fields than the header")
            continue
        row, found = _parse_row(record, schedule=schedule)
        problems.extend(f"line {line}: {problem}" for problem in found)
        if row is None:
            continue
        key = (row.specialty, row.band, row.effective_date)
        if key in seen:
            problems.append(
                f"line {line}: a second fee for the same band and date (line {seen[key]})"
            )
            continue
        seen[key] = line
        rows.append(row)
    if problems:
        raise BillingError(f"{source_name}: " + "; ".join(problems))
    if not rows:
        raise BillingError(f"{source_name}: the fee table is empty")
    return FeeTable(rows=tuple(rows))


def _parse_row(record: dict[str, str], *, schedule: bool) -> tuple[FeeRow | None, list[str]]:
    value = {name: (record.get(name) or "").strip() for name in FEE_COLUMNS}
    problems: list[str] = []
    code = value["code"].upper()
    specialty = value["specialty"]
    if specialty not in FAMILY_CODES:
        problems.append(f"specialty {specialty!r} is not 00 or 19")
    elif code not in FAMILY_CODES[specialty]:
        family = ", ".join(sorted(FAMILY_CODES[specialty]))
        problems.append(f"code {code!r} is not one of specialty {specialty}'s codes ({family})")
    band = value["band"]
    if band not in BANDS:
        problems.append(f"band {band!r} is not one of {', '.join(BANDS)}")
    fee = 0
    if not value["unit_fee_cents"].isdigit() or int(value["unit_fee_cents"]) <= 0:
        problems.append("unit_fee_cents must be a positive whole number of cents")
    else:
        fee = int(value["unit_fee_cents"])
    effective: date | None = None
    if value["effective_date"]:
        try:
            effective = date.fromisoformat(value["effective_date"])
        except ValueError:
            problems.append("effective_date is not a date YYYY-MM-DD")
    elif schedule:
        problems.append("effective_date is required (the date the Schedule takes effect)")
    if schedule and not value["source"]:
        problems.append("source is required (where the fee was read)")
    if problems:
        return None, problems
    return (
        FeeRow(
            code=code,
            specialty=specialty,
            band=band,
            unit_fee_cents=fee,
            effective_date=effective,
            source=value["source"],
            note=value["note"],
            verified=schedule,
        ),
        [],
    )
