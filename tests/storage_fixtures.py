"""Database fixtures: a migrated SQLite engine always, a migrated PostgreSQL engine when available.

How to use (other engineers too): put a `conftest.py` in your test directory containing

    from tests.storage_fixtures import *  # noqa: F403

(as `tests/unit/storage/conftest.py` does; importing fixture names into a test module works
too but then every helper fixture must be imported and ruff flags the parameters). Then

- `sqlite_engine`: an engine on a fresh SQLite file migrated to head (Alembic). Migrating
  once per test run and copying the file keeps each test at a few milliseconds.
- `postgres_engine`: an engine on `BALINT_TEST_POSTGRES_URL` (set by `.ci/run`), migrated to
  head once, every table truncated before each test; skipped without the variable.
- `db_engine`: parametrised over both, so a test using it runs on SQLite and on PostgreSQL.
- `db_session`: a `Session` on `db_engine`; the test commits or not as it likes.
- `db_url`: the URL behind `db_engine` (for CLI tests that read `[storage] url`).

Every test starts on a clean schema at head. Tests that need an EMPTY database (migration
tests) use `empty_sqlite_url` / `empty_postgres_url`.
"""

from __future__ import annotations

import os
import shutil
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, inspect, text
from sqlalchemy.orm import Session

from storage.db import Base, make_engine
from storage.migrate import current_revision, head_revision, upgrade

__all__ = [
    "db_engine",
    "db_session",
    "db_url",
    "empty_postgres_url",
    "empty_sqlite_url",
    "postgres_engine",
    "postgres_ready",
    "sqlite_engine",
    "sqlite_template",
    "sqlite_url",
]

POSTGRES_ENV = "BALINT_TEST_POSTGRES_URL"


def _postgres_url_or_skip() -> str:
    url = os.environ.get(POSTGRES_ENV, "")
    if not url:
        pytest.skip(f"{POSTGRES_ENV} not set (run .ci/run for the PostgreSQL tests)")
    return url


def reset_postgres(url: str) -> None:
    """Drop and recreate the public schema: the database is empty afterwards."""
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("balint-db-template") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture
def sqlite_url(sqlite_template: Path, tmp_path: Path) -> str:
    path = tmp_path / "balint.db"
    shutil.copyfile(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def sqlite_engine(sqlite_url: str) -> Iterator[Engine]:
    engine = make_engine(sqlite_url)
    yield engine
    engine.dispose()


@pytest.fixture
def empty_sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'empty.db'}"


@pytest.fixture(scope="session")
def postgres_ready() -> str:
    url = _postgres_url_or_skip()
    reset_postgres(url)
    upgrade(url)
    return url


@pytest.fixture
def postgres_engine(postgres_ready: str) -> Iterator[Engine]:
    url = postgres_ready
    if current_revision(url) != head_revision():  # a migration test emptied it
        reset_postgres(url)
        upgrade(url)
    engine = make_engine(url)
    existing = set(inspect(engine).get_table_names())
    names = [table.name for table in Base.metadata.sorted_tables if table.name in existing]
    if names:
        tables = ", ".join(f'"{name}"' for name in names)
        with engine.begin() as connection:
            connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    yield engine
    engine.dispose()


@pytest.fixture
def empty_postgres_url() -> Iterator[str]:
    url = _postgres_url_or_skip()
    reset_postgres(url)
    yield url
    reset_postgres(url)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_engine(request: pytest.FixtureRequest) -> Engine:
    name = "sqlite_engine" if request.param == "sqlite" else "postgres_engine"
    engine: Engine = request.getfixturevalue(name)
    return engine


@pytest.fixture
def db_url(db_engine: Engine) -> str:
    return db_engine.url.render_as_string(hide_password=False)


@pytest.fixture
def db_session(db_engine: Engine) -> Iterator[Session]:
    with Session(db_engine, expire_on_commit=False) as session:
        yield session


def wal_frames(database: Path) -> tuple[int, int]:
    """(frames in the SQLite file's write-ahead log, frames of them copied into the database),
    read from the WAL index's header (the `-shm` file: `mxFrame` at byte 16, `nBackfill` at
    byte 96, in the machine's byte order; SQLite's file format documents it). Reading it
    looks without checkpointing, as running a checkpoint to look would."""
    header = database.with_name(database.name + "-shm").read_bytes()[:100]
    return struct.unpack("=I", header[16:20])[0], struct.unpack("=I", header[96:100])[0]
