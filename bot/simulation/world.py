"""A scenario's service world: settings, a migrated SQLite database and a synthetic roster.

`simulate` and `demo` run a scenario through the real service (`bot.simulation.driver`), so
each needs one. Everything is derived from the scenario, so both run from a fresh clone with
nothing configured: the group's schedule is the scenario's start, the agenda is
the scenario's agenda, the roster is the scenario's members and facilitators with synthetic
PHI (health numbers from `storage.health_number.generate`, which pass the check digit but
belong to nobody), and the data key is a throw-away one unless `BALINT_DATA_KEY` is set.
"""

from __future__ import annotations

import csv
import io
import random
import secrets
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import get_args
from zoneinfo import ZoneInfo

from pydantic import SecretStr

from bot.config import (
    AgendaSettings,
    BillingSettings,
    BotSettings,
    GroupSettings,
    Settings,
    StorageSettings,
    Weekday,
    ZoomSettings,
)
from bot.simulation.scenario import Scenario
from storage import health_number
from storage.crypto import Keyring, generate_key
from storage.db import make_engine, make_session_factory, session_scope
from storage.migrate import upgrade
from storage.roster import ROSTER_HEADERS, import_roster, parse_roster

__all__ = [
    "DEMO_PROVIDER_NUMBER",
    "ServiceWorld",
    "build_world",
    "scenario_settings",
    "roster_csv",
    "zone_for",
]

#: A made-up OHIP provider number for the demo's billing worksheet.
DEMO_PROVIDER_NUMBER = "012345"

_ZONES = ("America/Toronto", "America/Vancouver", "America/Winnipeg", "America/Halifax")


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceWorld:
    """What `build_world` made.

    Args:
        settings: the service's settings for this run.
        database: the SQLite file.
        secret: the webhook secret token the simulated Zoom signs with.
        generated_key: True when the data key is a throw-away one made for this run.
    """

    settings: Settings
    database: Path
    secret: str
    generated_key: bool


def zone_for(start: datetime) -> str:
    """An IANA zone for the scenario's start: a Canadian zone with that offset at that moment,
    else the fixed `Etc/GMT±N` zone for a whole-hour offset, else UTC."""
    offset = start.utcoffset()
    for name in _ZONES:
        if start.astimezone(ZoneInfo(name)).utcoffset() == offset:
            return name
    if offset is None or not offset:
        return "UTC"
    hours, rest = divmod(int(offset.total_seconds()), 3600)
    if rest:
        return "UTC"
    return f"Etc/GMT{-hours:+d}"  # POSIX sign: Etc/GMT+5 is five hours behind UTC


def scenario_settings(
    scenario: Scenario, *, database: Path, secret: str, data_key: str, meeting_id: str
) -> Settings:
    """Settings for a service that runs `scenario` (its schedule, agenda and bot name)."""
    zone = zone_for(scenario.start)
    local = scenario.start.astimezone(ZoneInfo(zone))
    weekday: Weekday = get_args(Weekday)[local.weekday()]
    agenda = scenario.agenda.to_dict()
    agenda.pop("bot_name", None)
    return Settings(
        zoom=ZoomSettings(
            webhook_secret_tokens=[SecretStr(secret)], bot_name=scenario.agenda.bot_name
        ),
        storage=StorageSettings(url=f"sqlite:///{database}"),
        group=GroupSettings(
            name="Demo Balint group",
            meeting_id=meeting_id,
            timezone=zone,
            weekday=weekday,
            start_time=local.time().replace(tzinfo=None),
        ),
        agenda=AgendaSettings(**agenda, messages=dict(scenario.messages)),
        bot=BotSettings(meeting_adapter="simulator"),
        billing=BillingSettings(provider_number=DEMO_PROVIDER_NUMBER),
        data_key=SecretStr(data_key),
    )


def roster_csv(scenario: Scenario, *, seed: int = 2026) -> str:
    """The scenario's members and facilitators as a roster CSV with synthetic PHI.

    Members get a generated health number, a version code and a birth date; facilitators
    get none (they are not billed). Guests are not on the roster.
    """
    rng = random.Random(seed)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=ROSTER_HEADERS, lineterminator="\n")
    writer.writeheader()
    for person in scenario.persons:
        if person.role == "guest":
            continue
        first, _, last = person.name.partition(" ")
        row = dict.fromkeys(ROSTER_HEADERS, "")
        row.update(
            first_name=first,
            last_name=last or "Demo",
            display_name=person.name,
            email=person.email,
            role=person.role,
            registrant_id=person.registrant_id,
        )
        if person.role == "member":
            born = date(1960 + rng.randint(0, 30), rng.randint(1, 12), rng.randint(1, 28))
            row.update(
                health_number=health_number.generate(rng),
                version_code=rng.choice(("AB", "CD", "EF", "GH")),
                province="ON",
                birth_date=born.isoformat(),
                sex=rng.choice(("1", "2")),
                diagnostic_code="300",
                relationship_basis="video",
                relationship_date=date(2026, 1, 15).isoformat(),
                consent_date=date(2026, 1, 15).isoformat(),
            )
        writer.writerow(row)
    return out.getvalue()


def build_world(
    scenario: Scenario, *, out_dir: Path, data_key: str | None, meeting_id: str, now: datetime
) -> ServiceWorld:
    """Create `out_dir`, a migrated database in it, and the scenario's roster.

    Args:
        scenario: the session to run.
        out_dir: where the database and exports go (created if missing; must not hold a
            previous demo database).
        data_key: `BALINT_DATA_KEY` if set; None makes a throw-away key.
        meeting_id: the Zoom meeting number the simulated meeting uses.
        now: when the roster is imported (checks its dates, stamps its rows and audit entry).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    database = out_dir / "balint-demo.db"
    for stale in (database, out_dir / "balint-demo.db-wal", out_dir / "balint-demo.db-shm"):
        stale.unlink(missing_ok=True)
    key = data_key if data_key else generate_key()
    secret = secrets.token_urlsafe(24)
    settings = scenario_settings(
        scenario, database=database, secret=secret, data_key=key, meeting_id=meeting_id
    )
    upgrade(settings.storage.url)
    engine = make_engine(settings.storage.url)
    try:
        rows = parse_roster(roster_csv(scenario), today=now.date())
        with session_scope(make_session_factory(engine)) as session:
            import_roster(
                session,
                group_name=settings.group.name,
                rows=rows,
                keyring=Keyring.from_text(key),
                now=now,
                command="demo roster",
            )
    finally:
        engine.dispose()
    return ServiceWorld(
        settings=settings, database=database, secret=secret, generated_key=not data_key
    )
