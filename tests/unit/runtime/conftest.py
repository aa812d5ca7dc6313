"""Fixtures for the runtime tests: migrated SQLite and (if available) PostgreSQL databases."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from storage.db import make_session_factory
from tests.storage_fixtures import *  # noqa: F403


@pytest.fixture
def factory(db_engine: Engine) -> sessionmaker[Session]:
    return make_session_factory(db_engine)
