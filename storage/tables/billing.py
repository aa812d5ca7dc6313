"""Billing tables: claims sent to the Ministry, the claims files that carried them, sequences, fees.

- `billing_claim_files`: one row per claims file written, with its name (`HA123456.001`),
  sequence, batch numbers, claim count and SHA-256, so a file can be matched to its claims.
- `billing_claims`: one row per claim written, keyed by its 8-character accounting number,
  unique across all files. A claim moves `exported` -> `rejected` (the Ministry's Claims
  Error Report named it by its full key; its error codes are kept) -> `corrected` (`billing
  correct`: something in it changed) or `marked` (`billing resubmit`: to be sent again as it
  is, by the physician's decision) -> `resubmitted` (the next export sent the new claim;
  `replaces_id` on the new row points back). A rejected claim is never sent again until it
  is corrected or marked. The health number sent is kept sealed (`health_number_enc` under
  `key_id`, like the roster's) so an error report can be matched to what was sent even after
  the roster changed; `content_sha256` fingerprints the claim's records without the
  accounting number, so a "correction" that changes nothing is refused.
- `billing_sequences`: named counters kept in the database (the claims-file sequence
  001-999, the batch sequence 0001-9999 and the accounting-number counter), so numbers are
  never reused across processes or files.
- `billing_fees`: the unit fees loaded with `billing fees import`, each with the Schedule of
  Benefits date it takes effect and where it was read; rows are never changed, a new
  schedule adds rows.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Date, ForeignKey, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.db import Base
from storage.tables.core import UtcDateTime

__all__ = ["CLAIM_STATES", "BillingSequence", "ClaimFile", "ClaimRecord", "FeeRecord"]

#: The states a claim can be in, in the order `billing status` lists them.
CLAIM_STATES = ("exported", "rejected", "corrected", "marked", "resubmitted")


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
    #: The tracking item sent with it (`K300A` video, `K301A` telephone) or "".
    modality_item: Mapped[str] = mapped_column(String(5), default="")
    #: `video` or `telephone`, as Zoom reported the member's connection.
    modality: Mapped[str] = mapped_column(String(16), default="")
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
    #: The health (or registration) number sent, sealed like the roster's PHI.
    health_number_enc: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    key_id: Mapped[str] = mapped_column(String(16), default="")
    #: SHA-256 of the claim's records as sent, accounting number blanked.
    content_sha256: Mapped[str] = mapped_column(String(64), default="")
    #: `billing correct --diagnostic-code`: the code the resubmission carries instead.
    diagnostic_override: Mapped[str] = mapped_column(String(4), default="")
    corrected_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    #: What the physician said when correcting or marking it (no PHI by convention).
    correction_note: Mapped[str] = mapped_column(Text, default="")


class BillingSequence(Base):
    """A named counter: `claims_file`, `batch` or `accounting`; `value` is the last one used."""

    __tablename__ = "billing_sequences"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[int] = mapped_column(Integer)


class FeeRecord(Base):
    """A unit fee from a Schedule of Benefits the physician loaded (`billing fees import`)."""

    __tablename__ = "billing_fees"
    __table_args__ = (UniqueConstraint("specialty", "band", "effective_date"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(5))
    specialty: Mapped[str] = mapped_column(String(2))
    band: Mapped[str] = mapped_column(String(8))
    unit_fee_cents: Mapped[int] = mapped_column(Integer)
    effective_date: Mapped[date] = mapped_column(Date)
    source: Mapped[str] = mapped_column(Text)
    note: Mapped[str] = mapped_column(Text, default="")
    file_name: Mapped[str] = mapped_column(String(255))
    file_sha256: Mapped[str] = mapped_column(String(64))
    imported_at: Mapped[datetime] = mapped_column(UtcDateTime())
