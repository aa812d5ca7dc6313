"""Round trip on the storage path: presence -> attendance -> claims -> error report -> claims.

The attendance is computed by the storage layer itself (`storage.attendance.finalize`) from
presence events like those the webhook receiver records (one member dials in by phone, one
steps out and comes back; the caller is who a facilitator said with `/admit ... as`), and
the therapy window from phase changes like those the runtime
records; the claims must be what those rules give. A Claims Error Report names one of our
claims and a line about another patient; only ours is rejected, it is not sent again until
corrected, and the corrected claim goes out in the next file. (The simulator + webhooks path
is `test_demo_round_trip`.)
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy.orm import Session

from phases.agenda import Agenda
from phases.engine import handle, new_session
from phases.events import ArrivedInWaitingRoom, ChatMessage, Joined, Participant, ZoomRole
from storage.attendance import PresenceEvent, finalize, record_presence
from storage.billing.exports import export_claims
from storage.billing.ledger import claims_by_state, correct_claim, import_error_report
from storage.health_number import generate
from storage.phase_log import record_phase_change
from storage.roster import roster_entries
from storage.runtime_state import create_meeting
from storage.sessions import ensure_session
from tests.clock import TEST_NOW
from tests.storage_fixtures import (  # noqa: F401
    db_engine,
    db_session,
    postgres_engine,
    postgres_ready,
    sqlite_engine,
    sqlite_template,
    sqlite_url,
)

from . import mri_reader
from .db_world import EVENING, GROUP, NOW, START, build_world
from .reports import Rejected, Section, error_report

UUID = "round-trip-meeting=="
CALLER = "416****555"
DAY = {"date_from": date(2026, 11, 18), "date_to": date(2026, 11, 18)}


def _at(minutes: int):
    return START + timedelta(minutes=minutes)


def _stay(key: str, name: str, begin: int, end: int, *, phone: bool = False) -> list[PresenceEvent]:
    modality = "telephone" if phone else "video"
    return [
        PresenceEvent(kind="joined", at=_at(begin), participant_key=key, user_id=f"u-{key}-{begin}",
                      name=name, modality=modality),
        PresenceEvent(kind="left", at=_at(end), participant_key=key, user_id=f"u-{key}-{begin}",
                      name=name),
    ]  # fmt: skip


def _events() -> list[PresenceEvent]:
    events = [PresenceEvent(kind="meeting_started", at=_at(-15))]
    events += _stay("p0", "Fay Leader", -10, 122)
    events += _stay("p1", "Alex1 Sample1", -3, 120)  # the whole evening: 105 claimable
    events += _stay("p2", "Alex2 Sample2", -15, 65)  # social time is not claimed: 65
    events += _stay("p3", "Alex3 Sample3", -3, 40)  # steps out for half an hour...
    events += _stay("p3", "Alex3 Sample3", 70, 120)  # ...and comes back: 40 + 35 = 75
    events += _stay("p4", "Alex4 Sample4", -3, 15)  # 15 minutes: left out, listed
    # dials in: K301A. Zoom shows the caller's number, and a caller is never taken for a
    # member by name; a facilitator's `/admit 416 as Alex5 Sample5` says who it is
    events += _stay("p5", CALLER, 5, 120, phone=True)
    events.append(PresenceEvent(kind="meeting_ended", at=_at(125)))
    return events


def _admit_the_caller_as(session: Session, roster_name: str) -> None:
    """The engine state the runtime saves once the leader (host) let the caller in with
    `/admit 416 as ROSTER_NAME`: attendance reads who the caller is from it."""
    roster = roster_entries(session, group_name=GROUP)
    state, _ = new_session(agenda=Agenda(), roster=roster, scheduled_start=START)
    leader = Participant(key="p0", user_id="u-p0--10", name="Fay Leader")
    caller = Participant(key="p5", user_id="u-p5-5", name=CALLER, phone=True)
    for event in (
        Joined(participant=leader, role=ZoomRole.HOST),
        ArrivedInWaitingRoom(participant=caller),
        ChatMessage(sender=leader, text=f"/admit 416 as {roster_name}"),
    ):
        state, _ = handle(state, event, _at(4))
    create_meeting(
        session, meeting_uuid=UUID, meeting_id="85012345678", state_json=state.to_json(),
        now=_at(4),
    )  # fmt: skip


def test_presence_to_claims_to_error_report_to_correction_to_claims(
    db_session: Session,  # noqa: F811
    tmp_path: Path,
) -> None:
    world = build_world(db_session, members=5)
    ensure_session(
        db_session,
        group_name=GROUP,
        meeting_uuid=UUID,
        meeting_id="85012345678",
        scheduled_start=START,
        now=TEST_NOW,
    )
    for number, event in enumerate(_events()):
        record_presence(db_session, meeting_uuid=UUID, journal_id=number, event=event)
    _admit_the_caller_as(db_session, "Alex5 Sample5")
    previous = "social"
    for offset, phase in EVENING:
        record_phase_change(
            db_session, meeting_uuid=UUID, at=_at(offset), from_phase=previous, to_phase=phase,
            reason="clock",
        )  # fmt: skip
        previous = phase
    finalize(db_session, meeting_uuid=UUID, now=NOW)

    out = tmp_path / "out"
    out.mkdir()
    first = export_claims(db_session, settings=world.settings, out_dir=out, now=NOW, **DAY)
    ids = world.members
    # five members in the window: band 5, K024A
    assert {(c.member_id, c.units, c.modality_item) for c in first.written} == {
        (ids["Alex1 Sample1"], 3, "K300A"),
        (ids["Alex2 Sample2"], 2, "K300A"),
        (ids["Alex3 Sample3"], 2, "K300A"),
        (ids["Alex5 Sample5"], 3, "K301A"),
    }
    assert {c.fee_code for c in first.written} == {"K024A"}
    assert [(lo.member_id, [p.code for p in lo.problems]) for lo in first.left_out] == [
        (ids["Alex4 Sample4"], ["under_20_minutes"])
    ]
    assert first.path is not None
    records = [mri_reader.parse(r) for r in mri_reader.split_records(first.path.read_bytes())]
    trailer = records[-1]
    assert (trailer["h_count"], trailer["r_count"], trailer["t_count"]) == ("0004", "0000", "00008")

    by_member = {c.member_id: c.accounting_number for c in first.written}
    ours = by_member[ids["Alex3 Sample3"]]
    another_patient = by_member[ids["Alex1 Sample1"]]
    report = tmp_path / "EK123456.001"
    report.write_bytes(
        error_report(
            [
                Section(
                    "123456",
                    [
                        Rejected(ours, world.health_numbers["Alex3 Sample3"],
                                 [("K024A", "20261118")], error="AD7"),
                        Rejected(another_patient, generate(random.Random(4242)),
                                 [("K024A", "20261118")]),
                    ],
                )
            ]
        )
    )  # fmt: skip
    imported = import_error_report(db_session, path=report, keyring=world.keyring, now=NOW)
    assert [c.accounting_number for c in imported.rejected] == [ours]
    assert [line.accounting_number for line in imported.unmatched] == [another_patient]
    status = claims_by_state(db_session)
    assert [c.accounting_number for c in status["rejected"]] == [ours]
    assert len(status["exported"]) == 3

    waiting = export_claims(db_session, settings=world.settings, out_dir=out, now=NOW, **DAY)
    assert waiting.file_name is None and [w.accounting_number for w in waiting.waiting] == [ours]

    correct_claim(
        db_session,
        settings=world.settings,
        accounting_number=ours,
        note="diagnosis revised",
        diagnostic_code="309",
        now=NOW,
    )
    second = export_claims(db_session, settings=world.settings, out_dir=out, now=NOW, **DAY)
    assert [(c.member_id, c.resubmits, c.units) for c in second.written] == [
        (ids["Alex3 Sample3"], ours, 2)
    ]
    assert second.path is not None and second.path.name == "HK123456.002"
    items = [
        mri_reader.parse(r)
        for r in mri_reader.split_records(second.path.read_bytes())
        if r[2] == "T"
    ]
    assert [(i["service_code"], i["diagnostic"].strip()) for i in items] == [
        ("K024A", "309"),
        ("K300A", ""),
    ]
    status = claims_by_state(db_session)
    assert [c.accounting_number for c in status["resubmitted"]] == [ours]


def test_a_caller_showing_a_members_name_is_never_claimed_as_that_member(
    db_session: Session,  # noqa: F811
    tmp_path: Path,
) -> None:
    """Issue 13 on issue 17's path: the phone company's name is no evidence. A caller whom no
    facilitator named with `/admit ... as` is a guest in attendance, so no claim is made for
    the member whose name the caller shows (the telephone item follows only a known member)."""
    world = build_world(db_session, members=5)
    ensure_session(
        db_session,
        group_name=GROUP,
        meeting_uuid=UUID,
        meeting_id="85012345678",
        scheduled_start=START,
        now=TEST_NOW,
    )
    events = [e for e in _events() if e.participant_key != "p5"]
    events += _stay("p5", "Alex5 Sample5", 5, 120, phone=True)
    for number, event in enumerate(events):
        record_presence(db_session, meeting_uuid=UUID, journal_id=number, event=event)
    previous = "social"
    for offset, phase in EVENING:
        record_phase_change(
            db_session, meeting_uuid=UUID, at=_at(offset), from_phase=previous, to_phase=phase,
            reason="clock",
        )  # fmt: skip
        previous = phase
    finalize(db_session, meeting_uuid=UUID, now=NOW)
    out = tmp_path / "out"
    out.mkdir()
    claims = export_claims(db_session, settings=world.settings, out_dir=out, now=NOW, **DAY)
    ids = world.members
    assert ids["Alex5 Sample5"] not in {c.member_id for c in claims.written}
    assert {c.modality_item for c in claims.written} == {"K300A"}
