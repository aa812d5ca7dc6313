"""Fixtures for the console tests: a migrated database with a roster, and the console app."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot.config import Settings
from storage.crypto import Keyring, generate_key
from storage.db import make_session_factory, session_scope
from storage.roster import import_roster, parse_roster
from tests.clock import TEST_NOW, HandClock
from tests.storage_fixtures import *  # noqa: F403

GROUP = "Test group"
ROSTER = Path(__file__).parents[2] / "fixtures" / "roster" / "good.csv"


@pytest.fixture
def factory(db_engine: Engine) -> sessionmaker[Session]:
    """Sessions on a migrated database holding the fixture roster (Fay is the facilitator)."""
    made = make_session_factory(db_engine)
    rows = parse_roster(ROSTER.read_text(encoding="utf-8"), today=TEST_NOW.date())
    with session_scope(made) as session:
        import_roster(
            session,
            group_name=GROUP,
            rows=rows,
            keyring=Keyring.from_text(generate_key()),
            now=TEST_NOW,
        )
    return made


@pytest.fixture
def clock() -> HandClock:
    return HandClock()


@pytest.fixture
def settings(db_url: str) -> Settings:
    return Settings(storage={"url": db_url}, group={"name": GROUP})
