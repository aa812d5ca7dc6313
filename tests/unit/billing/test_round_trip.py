"""Round trip on the storage path: presence -> attendance -> claims -> error report -> claims.

The attendance is computed by the storage layer itself (`storage.attendance.finalize`) from
presence events like those the webhook receiver records (one member dials in by phone, one
steps out and comes back), and the therapy window from phase changes like those the runtime
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

from storage.attendance import PresenceEvent, finalize, record_presence
from storage.billing.exports import export_claims
from storage.billing.ledger import claims_by_state, correct_claim, import_error_report
from storage.health_number import generate
from storage.phase_log import record_phase_change
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
    events += _stay("p5", "Alex5 Sample5", 5, 120, phone=True)  # dials in: K301A
    events.append(PresenceEvent(kind="meeting_ended", at=_at(125)))
    return events


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
