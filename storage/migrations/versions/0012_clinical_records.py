"""Clinical records: notes, members' links to their notes, the safety plan, absences, contacts.

New tables `clinical_notes` (append-only: a trigger refuses changing a note's who, when and
what, and its text unless re-encrypted under a new key), `note_links`, `emergency_contacts`,
`session_locations`, `absences`, `member_contacts`; `members.trains_to_lead` (the roster
column: the reflection is for them).

Revision ID: 0012_clinical_records
Revises: 0011_calendar
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012_clinical_records"
down_revision = "0011_calendar"
branch_labels = None
depends_on = None

_MESSAGE = "clinical notes are append-only: write an amendment instead"

#: The columns of a note nothing may change (`key_id` and `text_enc` only together).
_FIXED = ("group_id", "session_id", "member_id", "amends_id", "written_at", "author")

_SQLITE_TRIGGER = f"""
CREATE TRIGGER clinical_notes_append_only BEFORE UPDATE ON clinical_notes
WHEN {" OR ".join(f"NEW.{c} IS NOT OLD.{c}" for c in _FIXED)}
  OR (NEW.key_id = OLD.key_id AND NEW.text_enc IS NOT OLD.text_enc)
BEGIN
  SELECT RAISE(ABORT, '{_MESSAGE}');
END
"""

_POSTGRES_FUNCTION = f"""
CREATE FUNCTION clinical_notes_append_only() RETURNS trigger AS $$
BEGIN
  IF {" OR ".join(f"NEW.{c} IS DISTINCT FROM OLD.{c}" for c in _FIXED)}
     OR (NEW.key_id = OLD.key_id AND NEW.text_enc IS DISTINCT FROM OLD.text_enc) THEN
    RAISE EXCEPTION '{_MESSAGE}';
  END IF;
  RETURN NEW;
END;
$$ LANGUAGE plpgsql
"""

_POSTGRES_TRIGGER = """
CREATE TRIGGER clinical_notes_append_only BEFORE UPDATE ON clinical_notes
FOR EACH ROW EXECUTE FUNCTION clinical_notes_append_only()
"""


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def _fk(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column],
        [f"{target}.id"],
        name=op.f(f"fk_{table}_{column}_{target}"),
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.add_column(
        "members",
        sa.Column("trains_to_lead", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.create_table(
        "clinical_notes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=True),
        sa.Column("amends_id", sa.Integer(), nullable=True),
        sa.Column("written_at", _utc(), nullable=False),
        sa.Column("author", sa.String(length=200), nullable=False),
        sa.Column("key_id", sa.String(length=16), nullable=False),
        sa.Column("text_enc", sa.LargeBinary(), nullable=False),
        _fk("clinical_notes", "group_id", "groups"),
        _fk("clinical_notes", "session_id", "sessions"),
        _fk("clinical_notes", "member_id", "members"),
        _fk("clinical_notes", "amends_id", "clinical_notes"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_clinical_notes")),
    )
    for column in ("group_id", "session_id", "member_id", "amends_id"):
        op.create_index(op.f(f"ix_clinical_notes_{column}"), "clinical_notes", [column])
    op.create_table(
        "note_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("expires_at", _utc(), nullable=False),
        sa.Column("used_at", _utc(), nullable=True),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("view_hash", sa.String(length=64), nullable=True),
        sa.Column("view_expires_at", _utc(), nullable=True),
        _fk("note_links", "member_id", "members"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_note_links")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_note_links_token_hash")),
        sa.UniqueConstraint("view_hash", name=op.f("uq_note_links_view_hash")),
    )
    op.create_index(op.f("ix_note_links_member_id"), "note_links", ["member_id"])
    op.create_table(
        "emergency_contacts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("key_id", sa.String(length=16), nullable=False),
        sa.Column("contact_enc", sa.LargeBinary(), nullable=False),
        sa.Column("updated_at", _utc(), nullable=False),
        sa.Column("updated_by", sa.String(length=200), nullable=False),
        _fk("emergency_contacts", "member_id", "members"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_emergency_contacts")),
    )
    op.create_index(op.f("ix_emergency_contacts_member_id"), "emergency_contacts", ["member_id"])
    op.create_table(
        "session_locations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=True),
        sa.Column("person_key", sa.String(length=200), nullable=False),
        sa.Column("given_at", _utc(), nullable=False),
        sa.Column("key_id", sa.String(length=16), nullable=False),
        sa.Column("location_sealed", sa.Text(), nullable=False),
        _fk("session_locations", "session_id", "sessions"),
        _fk("session_locations", "member_id", "members"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_session_locations")),
    )
    for column in ("session_id", "member_id"):
        op.create_index(op.f(f"ix_session_locations_{column}"), "session_locations", [column])
    op.create_table(
        "absences",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("session_date", sa.Date(), nullable=False),
        sa.Column("late", sa.Boolean(), nullable=False),
        sa.Column("key_id", sa.String(length=16), nullable=False),
        sa.Column("reason_enc", sa.LargeBinary(), nullable=True),
        sa.Column("recorded_at", _utc(), nullable=False),
        sa.Column("recorded_by", sa.String(length=200), nullable=False),
        _fk("absences", "member_id", "members"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_absences")),
        sa.UniqueConstraint("member_id", "session_date", name=op.f("uq_absences_member_id")),
    )
    for column in ("member_id", "session_date"):
        op.create_index(op.f(f"ix_absences_{column}"), "absences", [column])
    op.create_table(
        "member_contacts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("contacted_on", sa.Date(), nullable=False),
        sa.Column("key_id", sa.String(length=16), nullable=False),
        sa.Column("note_enc", sa.LargeBinary(), nullable=True),
        sa.Column("recorded_at", _utc(), nullable=False),
        sa.Column("recorded_by", sa.String(length=200), nullable=False),
        _fk("member_contacts", "member_id", "members"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_member_contacts")),
    )
    for column in ("member_id", "contacted_on"):
        op.create_index(op.f(f"ix_member_contacts_{column}"), "member_contacts", [column])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_POSTGRES_FUNCTION)
        op.execute(_POSTGRES_TRIGGER)
    else:
        op.execute(_SQLITE_TRIGGER)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS clinical_notes_append_only ON clinical_notes")
        op.execute("DROP FUNCTION IF EXISTS clinical_notes_append_only()")
    else:
        op.execute("DROP TRIGGER IF EXISTS clinical_notes_append_only")
    for table in (
        "member_contacts",
        "absences",
        "session_locations",
        "emergency_contacts",
        "note_links",
        "clinical_notes",
    ):
        op.drop_table(table)
    with op.batch_alter_table("members") as batch:
        batch.drop_column("trains_to_lead")
