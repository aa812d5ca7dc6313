"""The optional reflection: who attended it, and whose time in it CME counts (the settings)."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from bot.cli import main
from storage.billing.exports import export_cme
from storage.tables.core import Member
from tests.clock import HandClock
from tests.storage_fixtures import (  # noqa: F401
    db_engine,
    db_session,
    db_url,
    postgres_engine,
    postgres_ready,
    sqlite_engine,
    sqlite_template,
    sqlite_url,
)

from .db_world import GROUP, NOW, add_session, build_world, make_settings


@pytest.fixture
def db(db_session: Session) -> Session:  # noqa: F811
    return db_session


@pytest.mark.parametrize(
    ("rule", "alex1", "alex2"),
    [("everyone", 119, 119), ("trains_to_lead", 119, 105), ("nobody", 105, 105)],
)
def test_cme_counts_the_reflection_as_the_settings_say(db, rule, alex1, alex2):
    world = build_world(db, members=2)
    db.get(Member, world.members["Alex1 Sample1"]).trains_to_lead = True
    add_session(db, world)  # everyone -5..120: 105 therapy + 14 of the reflection (106..120)
    settings = make_settings(world.key, cme_reflection=rule)
    result = export_cme(db, settings=settings, group=GROUP, year=2026, now=NOW)
    minutes = {r.display_name: r.total_minutes for r in result.reports}
    assert minutes == {"Alex1 Sample1": alex1, "Alex2 Sample2": alex2}


def test_attendance_lists_who_attended_the_reflection(db, db_url, tmp_path, capsys):  # noqa: F811
    world = build_world(db, members=2)
    db.get(Member, world.members["Alex1 Sample1"]).trains_to_lead = True
    session_id = add_session(
        db,
        world,
        stays={
            "Fay Leader": [(-5, 125, "video")],
            "Alex1 Sample1": [(-5, 125, "video")],
            "Alex2 Sample2": [(-5, 100, "video")],
        },
    )
    db.commit()
    config = tmp_path / "balint.toml"
    config.write_text(
        f'[storage]\nurl = "{db_url}"\n[group]\nname = "{GROUP}"\n'
        "[agenda]\nlength_minutes = 105\nreflection_minutes = 15\n"
        '[billing]\ncme_reflection = "trains_to_lead"\n'
    )
    assert (
        main(
            ["--config", str(config), "attendance", "--session", str(session_id)], clock=HandClock()
        )
        == 0
    )
    out = capsys.readouterr().out
    line = next(text for text in out.splitlines() if text.startswith("reflection:"))
    assert "Alex1 Sample1 15 min (trains to lead)" in line
    assert "Alex2" not in line and "counted for CME: trains to lead" in line
