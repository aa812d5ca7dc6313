"""The rules behind each claim, on stored sessions: minutes, window, leaders, modality, size.

Each session is stored as the runtime and attendance code store it (phase changes, engine
state, attendance rows with spans); the claims are what `export claims --dry-run` would
write. The therapy window of the usual evening is 0-105 minutes from the scheduled start.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session

from storage.billing.exports import ClaimsExportResult, export_claims
from tests.storage_fixtures import (  # noqa: F401
    db_engine,
    db_session,
    postgres_engine,
    postgres_ready,
    sqlite_engine,
    sqlite_template,
    sqlite_url,
)

from .db_world import EVENING, NOW, World, add_session, build_world, make_settings

NOV = {"date_from": date(2026, 11, 1), "date_to": date(2026, 11, 30)}
LEADER = "Fay Leader"
WHOLE = [(-5, 125, "video")]


@pytest.fixture
def db(db_session: Session) -> Session:  # noqa: F811
    return db_session


def _dry(db: Session, world: World, tmp_path: Path, **billing: Any) -> ClaimsExportResult:
    settings = make_settings(world.key, **billing) if billing else world.settings
    return export_claims(db, settings=settings, out_dir=tmp_path, dry_run=True, now=NOW, **NOV)


def _units(world: World, result: ClaimsExportResult) -> dict[str, int]:
    names = {member_id: name for name, member_id in world.members.items()}
    return {names[claim.member_id]: claim.units for claim in result.written}


def _left(world: World, result: ClaimsExportResult) -> dict[str, set[str]]:
    names = {member_id: name for name, member_id in world.members.items()}
    return {names[lo.member_id]: {p.code for p in lo.problems} for lo in result.left_out}


@pytest.mark.parametrize(
    ("stays", "units"),
    [
        ([(-5, 120, "video")], 3),  # the whole window: 105 minutes
        ([(-15, 65, "video")], 2),  # 80 in the meeting, 65 in the window (social not counted)
        ([(-5, 40, "video"), (70, 120, "video")], 2),  # a 30-minute absence: 40 + 35 = 75
        ([(-5, 40, "video"), (69, 120, "video")], 3),  # 40 + 36 = 76: the third unit
        ([(-5, 10, "video"), (95, 120, "video")], 1),  # 10 + 10 = 20: the first unit
        ([(-5, 10, "video"), (96, 120, "video")], 0),  # 10 + 9 = 19: left out
        ([(106, 125, "video")], 0),  # only the reflection: not therapy
        ([(-30, 0, "video")], 0),  # only the social time
    ],
)
def test_claimable_minutes_around_an_absence(db, tmp_path, stays, units):
    world = build_world(db, members=3)
    add_session(
        db,
        world,
        stays={
            LEADER: WHOLE,
            "Alex1 Sample1": stays,
            "Alex2 Sample2": WHOLE,
            "Alex3 Sample3": WHOLE,
        },
    )
    result = _dry(db, world, tmp_path)
    if units:
        assert _units(world, result)["Alex1 Sample1"] == units
    else:
        assert _left(world, result)["Alex1 Sample1"] == {"under_20_minutes"}


@pytest.mark.parametrize(
    ("extension", "closing", "units"),
    [(0, 105, 3), (15, 120, 4), (30, 135, 4), (31, 136, 5)],
)
def test_the_minutes_of_an_extend_are_claimed(db, tmp_path, extension, closing, units):
    world = build_world(db, members=3)
    phases = [
        (at, phase) for at, phase in EVENING if phase not in ("closing", "reflection", "ended")
    ]
    phases += [(closing, "closing"), (closing + 1, "ended")]
    stay = [(-5, 140, "video")]
    add_session(
        db,
        world,
        phases=phases,
        extension_minutes=extension,
        stays={LEADER: stay, "Alex1 Sample1": stay, "Alex2 Sample2": stay},
    )
    assert set(_units(world, _dry(db, world, tmp_path)).values()) == {units}


def test_a_closing_reached_late_does_not_lengthen_the_claim(db, tmp_path):
    # the bot was down: it entered the closing 20 minutes after the group's end
    world = build_world(db, members=2)
    phases = [(0, "meditation"), (10, "case_call"), (125, "closing"), (126, "ended")]
    stay = [(-5, 130, "video")]
    add_session(
        db, world, phases=phases, stays={LEADER: stay, "Alex1 Sample1": stay, "Alex2 Sample2": stay}
    )
    assert set(_units(world, _dry(db, world, tmp_path)).values()) == {3}  # capped at 105


def test_an_early_end_shortens_the_window(db, tmp_path):
    world = build_world(db, members=2)
    phases = [(0, "meditation"), (10, "case_call"), (60, "closing"), (61, "ended")]
    add_session(
        db,
        world,
        phases=phases,
        stays={LEADER: WHOLE, "Alex1 Sample1": WHOLE, "Alex2 Sample2": WHOLE},
    )
    assert set(_units(world, _dry(db, world, tmp_path)).values()) == {2}  # 60 minutes


def test_the_reflection_counts_only_when_configured(db, tmp_path):
    world = build_world(db, members=2)
    add_session(db, world)  # everyone stays -5..120: therapy 105, reflection 106..120
    assert set(_units(world, _dry(db, world, tmp_path)).values()) == {3}
    assert set(_units(world, _dry(db, world, tmp_path, count_reflection=True)).values()) == {4}


def test_with_no_phase_changes_the_window_is_the_schedule_and_the_worksheet_says_so(db, tmp_path):
    world = build_world(db, members=2)
    add_session(db, world, phases=None)
    result = _dry(db, world, tmp_path)
    assert set(_units(world, result).values()) == {3}


def test_attendance_finalised_before_spans_must_be_rebuilt(db, tmp_path):
    world = build_world(db, members=2)
    session_id = add_session(db, world, spans=False)
    result = _dry(db, world, tmp_path)
    assert not result.written
    assert {frozenset(v) for v in _left(world, result).values()} == {
        frozenset({"attendance_outdated"})
    }
    assert f"rebuild --session {session_id}" in result.left_out[0].problems[0].message


# ------------------------------------------------------------------------------ two leaders

TWO = (("Fay", "Leader"), ("Gil", "Second"))


def test_the_billing_physicians_own_presence_bounds_every_claim(db, tmp_path):
    # the leader who holds the provider number leaves at 30 minutes; the other stays
    world = build_world(db, members=3, leaders=TWO)
    add_session(
        db,
        world,
        stays={
            LEADER: [(-5, 30, "video")],
            "Gil Second": WHOLE,
            "Alex1 Sample1": WHOLE,
            "Alex2 Sample2": WHOLE,
            "Alex3 Sample3": WHOLE,
        },
    )
    assert set(_units(world, _dry(db, world, tmp_path)).values()) == {1}  # 30 minutes
    # billed by the one who stayed, the same session is three units
    second = _dry(db, world, tmp_path, physician="Gil Second")
    assert set(_units(world, second).values()) == {3}


def test_a_session_the_billing_physician_missed_is_not_claimed(db, tmp_path):
    world = build_world(db, members=3, leaders=TWO)
    add_session(
        db,
        world,
        stays={"Gil Second": WHOLE, "Alex1 Sample1": WHOLE, "Alex2 Sample2": WHOLE},
    )
    result = _dry(db, world, tmp_path)
    assert not result.written
    assert set(map(frozenset, _left(world, result).values())) == {frozenset({"physician_absent"})}


def test_the_physicians_absence_in_the_middle_is_subtracted(db, tmp_path):
    world = build_world(db, members=2, leaders=TWO)
    away = [(-5, 40, "video"), (70, 125, "video")]  # 30 minutes away
    add_session(
        db,
        world,
        stays={LEADER: away, "Gil Second": WHOLE, "Alex1 Sample1": WHOLE, "Alex2 Sample2": WHOLE},
    )
    assert set(_units(world, _dry(db, world, tmp_path)).values()) == {2}  # 40 + 35 = 75


def test_facilitators_do_not_count_toward_the_group_size_unless_the_setting_says(db, tmp_path):
    world = build_world(db, members=2, leaders=TWO)
    add_session(db, world, stays=dict.fromkeys(world.members, WHOLE))
    assert {c.fee_code for c in _dry(db, world, tmp_path).written} == {"K019A"}  # 2 members
    everyone = _dry(db, world, tmp_path, group_size="everyone")
    assert {c.fee_code for c in everyone.written} == {"K012A"}  # 4 people


def test_guests_count_only_with_members_and_guests(db, tmp_path):
    world = build_world(db, members=2)
    add_session(db, world, stays=dict.fromkeys(world.members, WHOLE), guests={"Visitor": WHOLE})
    assert {c.fee_code for c in _dry(db, world, tmp_path).written} == {"K019A"}
    with_guests = _dry(db, world, tmp_path, group_size="members_and_guests")
    assert {c.fee_code for c in with_guests.written} == {"K020A"}


def test_a_member_present_a_moment_in_the_window_counts_toward_the_size(db, tmp_path):
    world = build_world(db, members=3)
    add_session(
        db,
        world,
        stays={
            LEADER: WHOLE,
            "Alex1 Sample1": WHOLE,
            "Alex2 Sample2": WHOLE,
            "Alex3 Sample3": [(100, 103, "video")],  # three minutes: counted, not claimed
        },
    )
    result = _dry(db, world, tmp_path)
    assert {c.fee_code for c in result.written} == {"K020A"}
    assert _left(world, result) == {"Alex3 Sample3": {"under_20_minutes"}}


# --------------------------------------------------------------------------- phone and video


@pytest.mark.parametrize(
    ("stays", "item"),
    [
        ([(-5, 120, "video")], "K300A"),
        ([(-5, 120, "telephone")], "K301A"),
        # joined by video, dropped, came back by phone for most of the evening
        ([(-5, 20, "video"), (20, 120, "telephone")], "K301A"),
        ([(-5, 80, "video"), (80, 120, "telephone")], "K300A"),
        # the seed's backup plan: video on, a phone for audio alongside: video
        ([(-5, 120, "video"), (30, 120, "telephone")], "K300A"),
    ],
)
def test_the_tracking_item_follows_the_modality_zoom_reported(db, tmp_path, stays, item):
    world = build_world(db, members=2)
    add_session(db, world, stays={LEADER: WHOLE, "Alex1 Sample1": stays, "Alex2 Sample2": WHOLE})
    result = _dry(db, world, tmp_path)
    by_member = {claim.member_id: claim.modality_item for claim in result.written}
    assert by_member[world.members["Alex1 Sample1"]] == item
    assert by_member[world.members["Alex2 Sample2"]] == "K300A"


def test_a_join_zoom_did_not_describe_is_not_guessed(db, tmp_path):
    # a row filled in from Zoom's participant report carries no modality
    world = build_world(db, members=2)
    add_session(
        db, world, stays={LEADER: WHOLE, "Alex1 Sample1": [(-5, 120, "")], "Alex2 Sample2": WHOLE}
    )
    result = _dry(db, world, tmp_path)
    assert _left(world, result) == {"Alex1 Sample1": {"modality_unknown"}}
    none = _dry(db, world, tmp_path, modality_item="none")
    assert len(none.written) == 2 and {c.modality_item for c in none.written} == {""}
