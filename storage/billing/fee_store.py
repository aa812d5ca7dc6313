"""The fee schedules the physician loaded (`billing fees import FILE`), and the table claims use.

`import_fee_schedule` reads a schedule file (`fees.FEE_COLUMNS`; every row with the Schedule
of Benefits date it takes effect and its source), refuses it whole on any bad row, and adds
its rows to `billing_fees`. Rows are never edited: loading the same schedule again adds
nothing, and a file that gives a different fee for a specialty, band and date already loaded
is refused (the history of what was billed at which fee must not move). `fee_table` is what
every export prices with: the loaded schedules plus the unverified reference rows.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage import audit
from storage.billing.errors import BillingError
from storage.billing.fees import FeeRow, FeeTable, parse_fee_table, reference_fees
from storage.tables.billing import FeeRecord

__all__ = ["FeeImportResult", "fee_table", "import_fee_schedule"]

#: Largest schedule file read (a schedule for these codes is a few kilobytes).
_MAX_BYTES = 1_000_000


@dataclass(frozen=True, slots=True)
class FeeImportResult:
    """What `import_fee_schedule` did."""

    file_name: str
    added: tuple[FeeRow, ...]
    already_loaded: int


def import_fee_schedule(session: Session, *, path: Path, now: datetime) -> FeeImportResult:
    """Load a Schedule of Benefits fee file into the database.

    Raises:
        BillingError: the file cannot be read, is not a valid schedule (every problem is
            named), or contradicts a fee already loaded for the same specialty, band and date.
    """
    try:
        data = path.read_bytes()
    except OSError as failed:
        raise BillingError(f"cannot read {path}: {failed.strerror}") from None
    if len(data) > _MAX_BYTES:
        raise BillingError(f"{path.name}: over {_MAX_BYTES} bytes; not a fee schedule")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise BillingError(f"{path.name}: not UTF-8 text") from None
    table = parse_fee_table(text, source_name=path.name, schedule=True)
    existing = {
        (row.specialty, row.band, row.effective_date): row
        for row in session.scalars(select(FeeRecord))
    }
    added: list[FeeRow] = []
    conflicts: list[str] = []
    already = 0
    for row in table.rows:
        assert row.effective_date is not None  # parse_fee_table(schedule=True) guarantees it
        loaded = existing.get((row.specialty, row.band, row.effective_date))
        if loaded is None:
            added.append(row)
        elif (loaded.code, loaded.unit_fee_cents) == (row.code, row.unit_fee_cents):
            already += 1
        else:
            conflicts.append(
                f"{row.code} band {row.band} from {row.effective_date.isoformat()} is already "
                f"loaded as {loaded.code} at {loaded.unit_fee_cents} cents "
                f"(from {loaded.file_name})"
            )
    if conflicts:
        raise BillingError(f"{path.name}: refused, nothing was loaded: " + "; ".join(conflicts))
    digest = hashlib.sha256(data).hexdigest()
    for row in added:
        assert row.effective_date is not None
        session.add(
            FeeRecord(
                code=row.code,
                specialty=row.specialty,
                band=row.band,
                unit_fee_cents=row.unit_fee_cents,
                effective_date=row.effective_date,
                source=row.source,
                note=row.note,
                file_name=path.name[:255],
                file_sha256=digest,
                imported_at=now,
            )
        )
    session.flush()
    audit.record(
        session,
        command="billing fees import",
        records=[f"fee:{row.code}:{row.effective_date}" for row in added],
        detail=f"{path.name}: {len(added)} added, {already} already loaded",
        at=now,
    )
    return FeeImportResult(file_name=path.name, added=tuple(added), already_loaded=already)


def fee_table(session: Session) -> FeeTable:
    """The reference rows and every loaded schedule row (verified), for pricing claims."""
    loaded = tuple(
        FeeRow(
            code=row.code,
            specialty=row.specialty,
            band=row.band,
            unit_fee_cents=row.unit_fee_cents,
            effective_date=row.effective_date,
            source=row.source,
            note=row.note,
            verified=True,
        )
        for row in session.scalars(
            select(FeeRecord).order_by(FeeRecord.effective_date, FeeRecord.id)
        )
    )
    return FeeTable(rows=reference_fees().rows + loaded)
