"""`billing fees import`: a schedule is loaded whole or not at all, and never rewrites history."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from storage import audit
from storage.billing.errors import BillingError
from storage.billing.fee_store import fee_table, import_fee_schedule
from storage.billing.fees import FEE_COLUMNS
from storage.tables.billing import FeeRecord
from tests.storage_fixtures import (  # noqa: F401
    db_engine,
    db_session,
    postgres_engine,
    postgres_ready,
    sqlite_engine,
    sqlite_template,
    sqlite_url,
)

from .db_world import NOW, SCHEDULE

HEADER = ",".join(FEE_COLUMNS) + "\n"


@pytest.fixture
def db(db_session: Session) -> Session:  # noqa: F811
    return db_session


def _file(tmp_path: Path, body: str, name: str = "sob.csv") -> Path:
    path = tmp_path / name
    path.write_text(HEADER + body, encoding="utf-8")
    return path


def test_a_schedule_is_loaded_with_its_dates_and_sources(db):
    result = import_fee_schedule(db, path=SCHEDULE, now=NOW)
    assert len(result.added) == 10 and result.already_loaded == 0
    table = fee_table(db)
    row = table.lookup(specialty="00", band="6-12", on=date(2026, 11, 18))
    assert row.verified and row.effective_date == date(2022, 9, 22)
    assert row.source.startswith("TEST FIXTURE ONLY")
    assert audit.entries(db, command="billing fees import")
    again = import_fee_schedule(db, path=SCHEDULE, now=NOW)
    assert again.added == () and again.already_loaded == 10


def test_a_conflicting_fee_for_a_loaded_date_is_refused_and_nothing_loads(db, tmp_path):
    import_fee_schedule(db, path=SCHEDULE, now=NOW)
    path = _file(
        tmp_path,
        "K025A,00,6-12,1300,2022-09-22,SOB,\nK025A,00,6-12,1300,2027-04-01,SOB,\n",
    )
    with pytest.raises(BillingError, match="already loaded as K025A at 1220 cents"):
        import_fee_schedule(db, path=path, now=NOW)
    assert len(db.scalars(select(FeeRecord)).all()) == 10


def test_a_new_schedule_adds_rows_and_the_old_fees_stay_for_past_sessions(db, tmp_path):
    import_fee_schedule(db, path=SCHEDULE, now=NOW)
    import_fee_schedule(
        db, path=_file(tmp_path, "K025A,00,6-12,1300,2027-04-01,SOB 2027,\n"), now=NOW
    )
    table = fee_table(db)
    assert table.lookup(specialty="00", band="6-12", on=date(2027, 3, 31)).unit_fee_cents == 1220
    assert table.lookup(specialty="00", band="6-12", on=date(2027, 4, 1)).unit_fee_cents == 1300


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("K025A,00,6-12,1300,,SOB,\n", "effective_date is required"),
        ("K208A,00,2,1300,2027-04-01,SOB,\n", "not one of specialty 00"),
    ],
)
def test_a_bad_schedule_is_refused_whole(db, tmp_path, body, message):
    path = _file(tmp_path, "K019A,00,2,3500,2027-04-01,SOB,\n" + body)
    with pytest.raises(BillingError, match=message):
        import_fee_schedule(db, path=path, now=NOW)
    assert db.scalars(select(FeeRecord)).all() == []


def test_unreadable_files_are_refused(db, tmp_path):
    with pytest.raises(BillingError, match="cannot read"):
        import_fee_schedule(db, path=tmp_path / "missing.csv", now=NOW)
    binary = tmp_path / "fees.csv"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(BillingError, match="UTF-8"):
        import_fee_schedule(db, path=binary, now=NOW)
