"""Fixtures for the runtime tests: the runtime tables on SQLite and, if available, PostgreSQL."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from storage.db import Base, make_engine, make_session_factory
from storage.tables import runtime as runtime_tables
from storage.tables.journal import JournalEntry

_RUNTIME_TABLES = [
    JournalEntry.__table__,
    runtime_tables.RuntimeMeeting.__table__,
    runtime_tables.RuntimeWakeup.__table__,
    runtime_tables.RuntimeAction.__table__,
    runtime_tables.RuntimeLease.__table__,
]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def runtime_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'runtime.db'}")
    else:
        url = os.environ.get("BALINT_TEST_POSTGRES_URL")
        if not url:
            pytest.skip("BALINT_TEST_POSTGRES_URL is not set (no PostgreSQL server)")
        engine = make_engine(url)
    Base.metadata.drop_all(engine, tables=_RUNTIME_TABLES)  # type: ignore[arg-type]
    Base.metadata.create_all(engine, tables=_RUNTIME_TABLES)  # type: ignore[arg-type]
    yield engine
    Base.metadata.drop_all(engine, tables=_RUNTIME_TABLES)  # type: ignore[arg-type]
    engine.dispose()


@pytest.fixture
def factory(runtime_engine: Engine) -> sessionmaker[Session]:
    return make_session_factory(runtime_engine)
