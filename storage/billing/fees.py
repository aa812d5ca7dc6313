"""The versioned fee table: which code and unit fee a specialty and group-size band get.

The table is data (`fee_table.csv`, shipped in the package), not code: each row is a service
code, the billing family's specialty (`00` for the GP codes K019/K020/K012/K024/K025, `19`
for the psychiatry codes K208/K209/K203/K204/K205), the band, the unit fee in cents and the
Schedule of Benefits date it takes effect. A new Schedule adds rows with a later date; old
rows stay, so a past session is priced with the fees in force on its service date. The
settings' `fee_codes` (`gp` or `psychiatry`) picks the family. Loading only reads the file.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Final, Literal

from storage.billing.errors import BillingError
from storage.billing.units import BANDS

__all__ = [
    "FAMILY_SPECIALTY",
    "FeeRow",
    "FeeTable",
    "load_fee_table",
]

FeeFamily = Literal["gp", "psychiatry"]

#: Settings' `fee_codes` value -> the `specialty` column of the fee table.
FAMILY_SPECIALTY: Final[dict[str, str]] = {"gp": "00", "psychiatry": "19"}

_COLUMNS: Final = ("code", "specialty", "band", "unit_fee_cents", "effective_date")


@dataclass(frozen=True, slots=True)
class FeeRow:
    """One row of the fee table.

    Args:
        code: the service code with its suffix, e.g. `K025A`.
        specialty: `00` (GP family) or `19` (psychiatry family).
        band: one of `units.BANDS`.
        unit_fee_cents: the fee for one unit, in cents.
        effective_date: the first service date this fee applies to.
    """

    code: str
    specialty: str
    band: str
    unit_fee_cents: int
    effective_date: date


@dataclass(frozen=True, slots=True)
class FeeTable:
    """All rows of a fee table; `lookup` picks the one in force on a date."""

    rows: tuple[FeeRow, ...]

    def lookup(self, *, fee_codes: str, band: str, on: date) -> FeeRow:
        """The row for the `fee_codes` family and `band` in force on `on`.

        Raises:
            BillingError: unknown family, or no row takes effect on or before `on`.
        """
        specialty = FAMILY_SPECIALTY.get(fee_codes)
        if specialty is None:
            raise BillingError(f"unknown fee-code family {fee_codes!r} (expected gp or psychiatry)")
        candidates = [
            row
            for row in self.rows
            if row.specialty == specialty and row.band == band and row.effective_date <= on
        ]
        if not candidates:
            raise BillingError(
                f"the fee table has no {fee_codes} fee for band {band} in force on {on.isoformat()}"
            )
        return max(candidates, key=lambda row: row.effective_date)


def load_fee_table(path: Path | None = None) -> FeeTable:
    """Read and check a fee table; the packaged `fee_table.csv` when `path` is None.

    Raises:
        BillingError: the file is missing, has other columns, or a row is malformed
            (unknown specialty or band, a non-integer or negative fee, a bad date, a code
            that is not `ANNNA`, or two rows for the same specialty, band and date).
    """
    if path is None:
        text = resources.files("storage.billing").joinpath("fee_table.csv").read_text("utf-8")
        source = "packaged fee_table.csv"
    else:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as unreadable:
            raise BillingError(f"{path}: cannot read the fee table: {unreadable}") from None
        source = str(path)
    reader = csv.DictReader(io.StringIO(text))
    if tuple(reader.fieldnames or ()) != _COLUMNS:
        raise BillingError(f"{source}: expected columns {','.join(_COLUMNS)}")
    rows: list[FeeRow] = []
    seen: set[tuple[str, str, date]] = set()
    for line, record in enumerate(reader, start=2):
        row = _parse_row(record, where=f"{source} line {line}")
        key = (row.specialty, row.band, row.effective_date)
        if key in seen:
            raise BillingError(f"{source} line {line}: a second fee for the same band and date")
        seen.add(key)
        rows.append(row)
    if not rows:
        raise BillingError(f"{source}: the fee table is empty")
    return FeeTable(rows=tuple(rows))


def _parse_row(record: dict[str, str], *, where: str) -> FeeRow:
    code = record["code"].strip().upper()
    if not (len(code) == 5 and code[0].isalpha() and code[1:4].isdigit() and code[4] in "ABC"):
        raise BillingError(f"{where}: code {code!r} is not a service code like K025A")
    specialty = record["specialty"].strip()
    if specialty not in FAMILY_SPECIALTY.values():
        raise BillingError(f"{where}: specialty {specialty!r} is not 00 or 19")
    band = record["band"].strip()
    if band not in BANDS:
        raise BillingError(f"{where}: band {band!r} is not one of {', '.join(BANDS)}")
    try:
        fee = int(record["unit_fee_cents"])
        effective = date.fromisoformat(record["effective_date"].strip())
    except ValueError:
        raise BillingError(f"{where}: unit_fee_cents or effective_date is malformed") from None
    if fee < 0:
        raise BillingError(f"{where}: a negative fee")
    return FeeRow(
        code=code, specialty=specialty, band=band, unit_fee_cents=fee, effective_date=effective
    )
