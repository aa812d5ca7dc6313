"""The billing round trip on the whole path: demo -> claims -> error report -> correction -> claims.

`bot.demo.session.run_demo` plays the built-in evening against the real service (signed
webhooks over HTTP on loopback, journal, durable runtime recording its phase changes,
attendance finalised by storage). On that database the physician loads a fee schedule and
exports the claims: every member the physician bills and who was there is claimed, with the
video tracking item, in the window the runtime recorded; the member not billed is listed.
A Claims Error Report names one claim and a line about another patient; only ours is
rejected, it waits until corrected, and the corrected claim goes out in the next file.
"""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.demo import BUILTIN_SCENARIO
from bot.demo.session import DemoReport, run_demo
from bot.simulation.scenario import load_scenario
from storage.billing.exports import ClaimsExportResult, export_claims
from storage.billing.fee_store import import_fee_schedule
from storage.billing.ledger import claims_by_state, correct_claim, import_error_report
from storage.crypto import Keyring
from storage.db import make_engine, make_session_factory, session_scope
from storage.health_number import generate
from storage.phase_log import phase_changes
from storage.roster import read_phi
from storage.tables.core import AttendanceRecord, Member, SessionRecord

from . import mri_reader
from .db_world import SCHEDULE
from .reports import Rejected, Section, error_report

#: The morning after the demo's evening (2 December 2026, 19:00 Toronto).
AFTER = datetime(2026, 12, 3, 15, 0, tzinfo=UTC)
EVENING = {"date_from": date(2026, 12, 2), "date_to": date(2026, 12, 2)}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[DemoReport, Path]:
    out = tmp_path_factory.mktemp("demo-billing")
    report = asyncio.run(run_demo(load_scenario(BUILTIN_SCENARIO), out_dir=out / "demo"))
    return report, out


def _in_db(report: DemoReport, work):  # type: ignore[no-untyped-def]
    engine = make_engine(report.settings.storage.url)
    try:
        with session_scope(make_session_factory(engine)) as session:
            return work(session)
    finally:
        engine.dispose()


def _export(report: DemoReport, out: Path) -> ClaimsExportResult:
    return _in_db(
        report,
        lambda s: export_claims(s, settings=report.settings, out_dir=out, now=AFTER, **EVENING),
    )


def test_demo_to_claims_to_error_report_to_correction_to_claims(demo):
    report, out = demo
    keyring = Keyring.from_text(report.settings.data_key.get_secret_value())  # type: ignore[union-attr]
    claims_dir = out / "claims"
    claims_dir.mkdir()

    def facts(session):  # type: ignore[no-untyped-def]
        members = {
            m.id: (m.bill_ohip, m.diagnostic_code)
            for m in session.scalars(select(Member).where(Member.role == "member"))
        }
        attended = {
            row.member_id
            for row in session.scalars(
                select(AttendanceRecord).where(AttendanceRecord.session_id == report.session_id)
            )
            if row.role == "member" and row.member_id is not None and row.minutes >= 20
        }
        record = session.get(SessionRecord, report.session_id)
        phases = phase_changes(session, meeting_uuid=record.meeting_uuid)
        numbers = {
            key: phi.health_number
            for key, phi in read_phi(
                session, member_ids=list(members), keyring=keyring, command="test", now=AFTER
            ).items()
        }
        return members, attended, phases, numbers

    members, attended, phases, numbers = _in_db(report, facts)
    assert [change.to_phase for change in phases][:2] == ["meditation", "case_call"]
    assert phases[-1].to_phase == "ended"
    billed = {mid for mid in attended if members[mid][0]}
    not_billed = attended - billed
    assert len(billed) == 7 and len(not_billed) == 1  # the demo physician's decisions
    assert len({members[mid][1] for mid in billed}) > 1  # no blanket code

    # Without a verified schedule nothing is claimed, and the export says why.
    unpriced = _export(report, claims_dir)
    assert unpriced.file_name is None
    assert {p.code for lo in unpriced.left_out for p in lo.problems} == {
        "fee_unverified",
        "not_billable",
    }

    _in_db(report, lambda s: import_fee_schedule(s, path=SCHEDULE, now=AFTER))
    first = _export(report, claims_dir)
    assert first.path is not None
    assert {claim.member_id for claim in first.written} == billed
    assert {claim.fee_code for claim in first.written} == {"K025A"}  # 8 members: 6-12
    assert {claim.modality_item for claim in first.written} == {"K300A"}
    assert all(1 <= claim.units <= 3 for claim in first.written)
    assert [(lo.member_id, [p.code for p in lo.problems]) for lo in first.left_out] == [
        (next(iter(not_billed)), ["not_billable"])
    ]
    records = [mri_reader.parse(r) for r in mri_reader.split_records(first.path.read_bytes())]
    assert records[0]["provider"] == report.settings.billing.provider_number
    headers = [r for r in records if r["record_id"] == "H"]
    assert [h["accounting"] for h in headers] == [c.accounting_number for c in first.written]
    assert {r["service_date"] for r in records if r["record_id"] == "T"} == {"20261202"}
    assert int(records[-1]["h_count"]) == len(first.written)

    rejected = first.written[0]
    stranger = first.written[-1]
    error_file = out / "EL012345.001"
    error_file.write_bytes(
        error_report(
            [
                Section(
                    report.settings.billing.provider_number,
                    [
                        Rejected(rejected.accounting_number, numbers[rejected.member_id],
                                 [(rejected.fee_code, "20261202"), ("K300A", "20261202")]),
                        Rejected(stranger.accounting_number, generate(random.Random(77)),
                                 [(stranger.fee_code, "20261202")]),
                    ],
                )
            ]
        )
    )  # fmt: skip
    imported = _in_db(
        report,
        lambda s: import_error_report(s, path=error_file, keyring=keyring, now=AFTER),
    )
    assert [c.accounting_number for c in imported.rejected] == [rejected.accounting_number]
    assert [u.accounting_number for u in imported.unmatched] == [stranger.accounting_number]

    waiting = _export(report, claims_dir)
    assert waiting.file_name is None
    assert [w.accounting_number for w in waiting.waiting] == [rejected.accounting_number]

    _in_db(
        report,
        lambda s: correct_claim(
            s,
            settings=report.settings,
            accounting_number=rejected.accounting_number,
            note="diagnosis revised",
            diagnostic_code="309" if members[rejected.member_id][1] != "309" else "311",
            now=AFTER,
        ),
    )
    second = _export(report, claims_dir)
    assert [(c.member_id, c.resubmits) for c in second.written] == [
        (rejected.member_id, rejected.accounting_number)
    ]
    status = _in_db(report, claims_by_state)
    assert [c.accounting_number for c in status["resubmitted"]] == [rejected.accounting_number]
    assert len(status["exported"]) == len(billed)
