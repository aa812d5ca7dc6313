"""Database engines for the journal and receiver tests: a SQLite file, and PostgreSQL if set.

PostgreSQL comes from `BALINT_TEST_POSTGRES_URL` (started by `.ci/run`); each use gets a fresh
database of its own on that server, dropped afterwards, so tests never see each other's rows.
Tables are made with `Base.metadata.create_all` (the migration chain has its own test).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Engine, make_url, text

import storage.tables  # noqa: F401  (registers every table on Base.metadata)
from storage.db import Base, make_engine

__all__ = ["BACKENDS", "engine_for"]

BACKENDS = ("sqlite", pytest.param("postgresql", marks=pytest.mark.postgres))


@contextmanager
def engine_for(backend: str, tmp_path: Path) -> Iterator[Engine]:
    """An engine with every table created, on a private database of `backend`."""
    if backend == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'journal.db'}")
        Base.metadata.create_all(engine)
        try:
            yield engine
        finally:
            engine.dispose()
        return
    server_url = os.environ.get("BALINT_TEST_POSTGRES_URL")
    if not server_url:
        pytest.skip("BALINT_TEST_POSTGRES_URL is not set")
    name = f"balint_journal_{uuid.uuid4().hex[:12]}"
    admin = make_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    engine = make_engine(make_url(server_url).set(database=name).render_as_string(False))
    try:
        Base.metadata.create_all(engine)
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
