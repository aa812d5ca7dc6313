"""Billing tables: claims sent to the Ministry, the claims files that carried them, sequences.

- `billing_claim_files`: one row per claims file written, with its name (`HA123456.001`),
  sequence, batch numbers, claim count and SHA-256, so a file can be matched to its claims.
- `billing_claims`: one row per claim written, keyed by its 8-character accounting number,
  unique across all files. A claim moves `exported` -> `rejected` (the Ministry's Claims
  Error Report named it; its error codes are kept) -> `resubmitted` (a corrected claim for
  the same member and session was exported; `replaces_id` on the new row points back).
  No PHI is stored here: the health number stays sealed in `members`.
- `billing_sequences`: named counters kept in the database (the claims-file sequence
  001-999, the batch sequence 0001-9999 and the accounting-number counter), so numbers are
  never reused across processes or files.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Date, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from storage.db import Base
from storage.tables.core import UtcDateTime

__all__ = ["CLAIM_STATES", "BillingSequence", "ClaimFile", "ClaimRecord"]

#: The states a claim can be in, in the order `billing status` lists them.
CLAIM_STATES = ("exported", "rejected", "resubmitted")


class ClaimFile(Base):
    """A claims file written by `export claims`."""

    __tablename__ = "billing_claim_files"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    file_name: Mapped[str] = mapped_column(String(16))
    sequence: Mapped[int] = mapped_column(Integer)
    created_on: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    provider_number: Mapped[str] = mapped_column(String(6))
    group_number: Mapped[str] = mapped_column(String(4))
    batch_sequences: Mapped[list[int]] = mapped_column(JSON)
    claim_count: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    path: Mapped[str] = mapped_column(String(1024))


class ClaimRecord(Base):
    """One claim written to a claims file, and what the Ministry said about it."""

    __tablename__ = "billing_claims"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    accounting_number: Mapped[str] = mapped_column(String(8), unique=True)
    file_id: Mapped[int] = mapped_column(
        ForeignKey("billing_claim_files.id", ondelete="RESTRICT"), index=True
    )
    session_id: Mapped[int] = mapped_column(
        ForeignKey("sessions.id", ondelete="RESTRICT"), index=True
    )
    member_id: Mapped[int] = mapped_column(
        ForeignKey("members.id", ondelete="RESTRICT"), index=True
    )
    service_date: Mapped[date] = mapped_column(Date, index=True)
    payment_program: Mapped[str] = mapped_column(String(3))
    fee_code: Mapped[str] = mapped_column(String(5))
    units: Mapped[int] = mapped_column(Integer)
    fee_cents: Mapped[int] = mapped_column(Integer)
    modality_item: Mapped[str] = mapped_column(String(5), default="")
    diagnostic_code: Mapped[str] = mapped_column(String(4))
    state: Mapped[str] = mapped_column(String(16), index=True)
    error_codes: Mapped[list[str]] = mapped_column(JSON, default=list)
    error_messages: Mapped[list[str]] = mapped_column(JSON, default=list)
    exported_at: Mapped[datetime] = mapped_column(UtcDateTime())
    rejected_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    error_report: Mapped[str] = mapped_column(String(255), default="")
    replaces_id: Mapped[int | None] = mapped_column(
        ForeignKey("billing_claims.id", ondelete="RESTRICT"), nullable=True
    )


class BillingSequence(Base):
    """A named counter: `claims_file`, `batch` or `accounting`; `value` is the last one used."""

    __tablename__ = "billing_sequences"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[int] = mapped_column(Integer)
