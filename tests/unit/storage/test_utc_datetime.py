"""`UtcDateTime`: aware datetimes in, aware UTC datetimes out, on SQLite and PostgreSQL alike;
on SQLite, stored as the same text SQLAlchemy's `DATETIME` writes (rows already stored, and
comparisons of the text in SQL, depend on it)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.exc import StatementError
from sqlalchemy.orm import Session

from storage.tables.core import Group

_TORONTO_WINTER = timezone(timedelta(hours=-5))

_MOMENTS = [
    datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),  # no microseconds
    datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC),
    datetime(2026, 12, 31, 22, 30, 0, 1, tzinfo=_TORONTO_WINTER),  # next year in UTC
    datetime(999, 3, 4, 5, 6, 7, tzinfo=UTC),  # a year of three digits
]


#: What SQLAlchemy's SQLite `DATETIME` writes for each of `_MOMENTS` in UTC: the year in four
#: digits, a space, the microseconds always.
_TEXTS = [
    "2026-01-02 03:04:05.000000",
    "2026-01-02 03:04:05.123456",
    "2027-01-01 03:30:00.000001",
    "0999-03-04 05:06:07.000000",
]


@pytest.mark.parametrize(("moment", "stored"), list(zip(_MOMENTS, _TEXTS, strict=True)))
def test_sqlite_text_is_what_sqlalchemy_datetime_writes(
    sqlite_engine: Engine, moment: datetime, stored: str
) -> None:
    with Session(sqlite_engine) as db, db.begin():
        db.add(Group(name="g", created_at=moment))
        db.flush()
        assert db.scalar(text("SELECT created_at FROM groups")) == stored


@pytest.mark.parametrize("moment", _MOMENTS)
def test_a_moment_reads_back_aware_in_utc(db_session: Session, moment: datetime) -> None:
    db_session.add(Group(name=f"g{moment.isoformat()}", created_at=moment))
    db_session.flush()
    db_session.expire_all()
    stored = db_session.scalar(select(Group.created_at))
    assert stored == moment
    assert stored is not None and stored.utcoffset() == timedelta(0)


def test_a_comparison_in_sql_orders_as_time(db_session: Session) -> None:
    for number, moment in enumerate(_MOMENTS):
        db_session.add(Group(name=f"g{number}", created_at=moment))
    db_session.flush()
    after = datetime(2026, 1, 2, 3, 4, 5, 1, tzinfo=UTC)
    names = db_session.scalars(
        select(Group.name).where(Group.created_at >= after).order_by(Group.created_at)
    ).all()
    assert names == ["g1", "g2"]


def test_a_naive_datetime_is_refused(db_session: Session) -> None:
    db_session.add(Group(name="naive", created_at=datetime(2026, 1, 2, 3, 4, 5)))
    with pytest.raises(StatementError, match="naive datetime"):
        db_session.flush()


@pytest.mark.parametrize(
    ("stored", "read"),
    [
        # SQLite's CURRENT_TIMESTAMP: no fraction
        ("2026-01-02 03:04:05", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)),
        # text with an offset of its own, not written by this type
        ("2026-01-02 03:04:05.000000-05:00", datetime(2026, 1, 2, 8, 4, 5, tzinfo=UTC)),
        ("2026-01-02T03:04:05Z", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)),
    ],
)
def test_sqlite_text_written_by_others_reads_as_utc(
    sqlite_engine: Engine, stored: str, read: datetime
) -> None:
    with sqlite_engine.begin() as connection:
        connection.execute(
            text("INSERT INTO groups (name, timezone, created_at) VALUES ('g', 'UTC', :at)"),
            {"at": stored},
        )
        found = connection.scalar(select(Group.created_at))
    assert found == read
    assert found is not None and found.tzinfo is UTC
