"""Fixtures for the console tests: a migrated database with a roster, and the console app."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot.config import Settings
from storage import console as records
from storage.crypto import Keyring, generate_key
from storage.db import make_session_factory, session_scope
from storage.roster import import_roster, parse_roster
from tests.clock import TEST_NOW, HandClock
from tests.storage_fixtures import *  # noqa: F403

GROUP = "Test group"
#: a second group of the service, which Fay leads too (`second_group`)
SECOND = "Second group"
ROSTER = Path(__file__).parents[2] / "fixtures" / "roster" / "good.csv"


def _import_roster(made: sessionmaker[Session], group_name: str) -> None:
    rows = parse_roster(ROSTER.read_text(encoding="utf-8"), today=TEST_NOW.date())
    with session_scope(made) as session:
        import_roster(
            session,
            group_name=group_name,
            rows=rows,
            keyring=Keyring.from_text(generate_key()),
            now=TEST_NOW,
        )


@pytest.fixture
def factory(db_engine: Engine) -> sessionmaker[Session]:
    """Sessions on a migrated database holding the fixture roster (Fay is the facilitator)."""
    made = make_session_factory(db_engine)
    _import_roster(made, GROUP)
    return made


@pytest.fixture
def second_group(factory: sessionmaker[Session]) -> str:
    """Fay leads a second group too: the fixture roster is its roster as well (the same
    e-mails); its name."""
    _import_roster(factory, SECOND)
    return SECOND


async def sign_in_with_link(
    client: httpx.AsyncClient,
    factory: sessionmaker[Session],
    clock: HandClock,
    group: str = GROUP,
) -> None:
    """Fay signed in to `group` with a one-time link for her facilitator row there."""
    with session_scope(factory) as session:
        fay = records.facilitator_by_name(session, group_name=group, name="Fay")
        assert fay is not None
        token = records.issue_link(
            session, member_id=fay.member_id, now=clock(), ttl=timedelta(minutes=10)
        )
    assert (await client.post("/signin/link", data={"token": token})).status_code == 303


@pytest.fixture
def clock() -> HandClock:
    return HandClock()


@pytest.fixture
def settings(db_url: str) -> Settings:
    return Settings(storage={"url": db_url}, group={"name": GROUP})
