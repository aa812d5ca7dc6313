"""After the claims file: error reports by the full claim key, corrections, resubmission, status."""

from __future__ import annotations

import random
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from storage import audit
from storage.billing.errors import BillingError
from storage.billing.exports import export_claims
from storage.billing.ledger import (
    billing_status,
    claims_by_state,
    correct_claim,
    import_error_report,
    mark_for_resubmission,
    reseal_claims,
)
from storage.crypto import Keyring, generate_key
from storage.health_number import generate
from storage.roster import import_roster, parse_roster
from storage.tables.billing import ClaimRecord
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
from .db_world import GROUP, NOW, START, World, add_session, build_world, roster_csv
from .reports import Rejected, Section, error_report

NOV = {"date_from": date(2026, 11, 1), "date_to": date(2026, 11, 30)}
DAY = "20261118"
#: A patient who is not ours (a synthetic number that passes the check digit).
STRANGER = generate(random.Random(999))


@pytest.fixture
def db(db_session: Session) -> Session:  # noqa: F811
    return db_session


@pytest.fixture
def sent(db: Session, tmp_path: Path) -> tuple[World, Path]:
    """Four members' claims sent in HK123456.001 (accounting numbers 00000001-00000004)."""
    world = build_world(db, members=4)
    add_session(db, world)
    out = tmp_path / "out"
    out.mkdir()
    result = export_claims(db, settings=world.settings, out_dir=out, now=NOW, **NOV)
    assert [c.accounting_number for c in result.written] == [f"0000000{i}" for i in range(1, 5)]
    assert {c.fee_code for c in result.written} == {"K012A"}
    return world, out


def _number(world: World, index: int) -> str:
    return world.health_numbers[f"Alex{index} Sample{index}"]


def _import(
    db: Session, world: World, tmp_path: Path, sections: list[Section], name: str = "EK123456.001"
):
    path = tmp_path / name
    path.write_bytes(error_report(sections))
    return import_error_report(db, path=path, keyring=world.keyring, now=NOW)


def _states(db: Session) -> dict[str, str]:
    return {c.accounting_number: c.state for c in db.scalars(select(ClaimRecord))}


def _export(db: Session, world: World, out: Path, **kwargs):
    return export_claims(db, settings=world.settings, out_dir=out, now=NOW, **{**NOV, **kwargs})


def test_a_report_with_two_provider_headers_and_a_line_about_another_patient(db, sent, tmp_path):
    world, _ = sent
    ours = [("K012A", DAY), ("K300A", DAY)]
    imported = _import(
        db,
        world,
        tmp_path,
        [
            # another provider's section: our accounting number there is not our claim
            Section("999999", [Rejected("00000001", _number(world, 1), [("K012A", DAY)])]),
            Section(
                "123456",
                [
                    Rejected("00000002", _number(world, 2), ours),  # ours: rejected
                    Rejected("00000003", STRANGER, [("K012A", DAY)]),  # another patient
                ],
                # a second HX1 for the same provider (another specialty), one trailer
                specialty_change=[Rejected("00000004", _number(world, 4), [("K012A", "20261125")])],
            ),
        ],
    )
    assert [(c.accounting_number, c.error_codes) for c in imported.rejected] == [
        ("00000002", ("EH1",))
    ]
    assert imported.rejected[0].messages == ("EH: HEALTH NUMBER NOT REGISTERED",) * 2
    reasons = {line.accounting_number: line.reason for line in imported.unmatched}
    assert reasons == {
        "00000001": "sent under provider 123456, the report's provider is 999999",
        "00000003": "the health number differs from the one sent with this claim",
        "00000004": "service code or date differs from the claim sent (K012A 2026-11-25)",
    }
    assert all(line.line > 0 for line in imported.unmatched)
    assert _states(db) == {
        "00000001": "exported",
        "00000002": "rejected",
        "00000003": "exported",
        "00000004": "exported",
    }
    for line in imported.unmatched:  # the reasons never carry a health number
        assert not any(number in line.reason for number in world.health_numbers.values() if number)
    # the same report again changes nothing more
    again = _import(
        db,
        world,
        tmp_path,
        [Section("123456", [Rejected("00000002", _number(world, 2), ours)])],
        name="EK123456.002",
    )
    assert again.rejected == () and again.unchanged == ("00000002",)


def test_an_unknown_accounting_number_is_not_ours(db, sent, tmp_path):
    world, _ = sent
    imported = _import(db, world, tmp_path, [Section("123456", [Rejected("00000099", STRANGER)])])
    assert imported.rejected == () and imported.unmatched[0].reason.startswith("no claim of ours")
    assert set(_states(db).values()) == {"exported"}


def test_a_rejected_claim_is_never_sent_again_by_itself(db, sent, tmp_path):
    world, out = sent
    _import(
        db,
        world,
        tmp_path,
        [Section("123456", [Rejected("00000002", _number(world, 2), [("K012A", DAY)])])],
    )
    again = _export(db, world, out)
    assert again.file_name is None and not again.written
    assert [(w.accounting_number, w.error_codes) for w in again.waiting] == [("00000002", ("EH1",))]
    assert again.already_exported == 3


def test_a_correction_that_changes_nothing_is_refused_and_resubmit_sends_it_unchanged(
    db, sent, tmp_path
):
    world, out = sent
    _import(
        db,
        world,
        tmp_path,
        [Section("123456", [Rejected("00000002", _number(world, 2), [("K012A", DAY)])])],
    )
    with pytest.raises(BillingError, match="exactly as it was rejected"):
        correct_claim(db, settings=world.settings, accounting_number="00000002", note="x", now=NOW)
    assert _states(db)["00000002"] == "rejected"
    marked = mark_for_resubmission(db, accounting_number="00000002", note="registered now", now=NOW)
    assert marked.state == "marked"
    with pytest.raises(BillingError, match="is marked, not rejected"):
        mark_for_resubmission(db, accounting_number="00000002", note="", now=NOW)
    resent = _export(db, world, out)
    assert [(w.accounting_number, w.resubmits) for w in resent.written] == [
        ("00000005", "00000002")
    ]
    assert _states(db)["00000002"] == "resubmitted" and _states(db)["00000005"] == "exported"
    new, old = (
        db.scalar(select(ClaimRecord).where(ClaimRecord.accounting_number == n))
        for n in ("00000005", "00000002")
    )
    assert new.replaces_id == old.id and new.content_sha256 == old.content_sha256
    assert audit.entries(db, command="billing resubmit")


def test_a_corrected_diagnostic_code_goes_out_with_the_resubmission(db, sent, tmp_path):
    world, out = sent
    _import(
        db,
        world,
        tmp_path,
        [
            Section(
                "123456", [Rejected("00000003", _number(world, 3), [("K012A", DAY)], error="AD3")]
            )
        ],
    )
    for bad in ("30", "٣٠٩"):  # too short; digits, but not ones the claims file can carry
        with pytest.raises(BillingError, match="3-digit"):
            correct_claim(
                db,
                settings=world.settings,
                accounting_number="00000003",
                note="",
                diagnostic_code=bad,
                now=NOW,
            )
    result = correct_claim(
        db,
        settings=world.settings,
        accounting_number="00000003",
        note="diagnosis revised by the physician",
        diagnostic_code="309",
        now=NOW,
    )
    assert (result.state, result.diagnostic_code) == ("corrected", "309")
    resent = _export(db, world, out)
    assert [w.resubmits for w in resent.written] == ["00000003"]
    assert resent.path is not None
    records = [mri_reader.parse(r) for r in mri_reader.split_records(resent.path.read_bytes())]
    (item, tracking) = [r for r in records if r["record_id"] == "T"]
    assert (item["service_code"], item["diagnostic"]) == ("K012A", "309 ")
    assert tracking["service_code"] == "K300A"
    claim = db.scalar(
        select(ClaimRecord).where(
            ClaimRecord.accounting_number == resent.written[0].accounting_number
        )
    )
    assert claim is not None and claim.diagnostic_code == "309"


def test_a_card_corrected_on_the_roster_releases_the_claim(db, sent, tmp_path):
    world, out = sent
    _import(
        db,
        world,
        tmp_path,
        [
            Section(
                "123456", [Rejected("00000004", _number(world, 4), [("K012A", DAY)], error="VH4")]
            )
        ],
    )
    rows = parse_roster(roster_csv(4, m4={"version_code": "CD"}), today=NOW.date())
    import_roster(db, group_name=GROUP, rows=rows, keyring=world.keyring, now=NOW)
    correct_claim(
        db, settings=world.settings, accounting_number="00000004", note="new version code", now=NOW
    )
    resent = _export(db, world, out)
    assert resent.path is not None
    headers = [
        mri_reader.parse(r)
        for r in mri_reader.split_records(resent.path.read_bytes())
        if r[2] == "H"
    ]
    assert [h["version"] for h in headers] == ["CD"]


def test_a_correction_that_is_still_invalid_is_refused_with_its_reasons(db, sent, tmp_path):
    world, _ = sent
    _import(
        db,
        world,
        tmp_path,
        [Section("123456", [Rejected("00000001", _number(world, 1), [("K012A", DAY)])])],
    )
    rows = parse_roster(roster_csv(4, m1={"relationship_basis": "none"}), today=NOW.date())
    import_roster(db, group_name=GROUP, rows=rows, keyring=world.keyring, now=NOW)
    with pytest.raises(BillingError, match="relationship_basis"):
        correct_claim(db, settings=world.settings, accounting_number="00000001", note="x", now=NOW)


@pytest.mark.parametrize(
    ("number", "message"), [("00000009", "no claim"), ("00000001", "is exported")]
)
def test_only_a_rejected_claim_is_corrected(db, sent, number, message):
    world, _ = sent
    with pytest.raises(BillingError, match=message):
        correct_claim(db, settings=world.settings, accounting_number=number, note="x", now=NOW)


def test_status_says_what_waits_on_whom(db, sent, tmp_path):
    world, _ = sent
    _import(
        db,
        world,
        tmp_path,
        [Section("123456", [Rejected("00000002", _number(world, 2), [("K012A", DAY)])])],
    )
    mark_for_resubmission(db, accounting_number="00000002", note="", now=NOW)
    _import(
        db,
        world,
        tmp_path,
        [Section("123456", [Rejected("00000001", _number(world, 1), [("K012A", DAY)])])],
        name="EK123456.002",
    )
    add_session(db, world, start=START + timedelta(days=7))  # 25 Nov: not claimed yet
    add_session(db, world, start=START - timedelta(days=7), finalized=False)  # 11 Nov
    rows = billing_status(db, group_name=GROUP, timezone="America/Toronto", now=NOW)
    summary = [(r.waits_on, r.what, r.accounting_number, r.service_date.isoformat()) for r in rows]
    assert summary == [
        ("physician", "rejected", "00000001", "2026-11-18"),
        ("export", "marked", "00000002", "2026-11-18"),
        ("export", "not claimed yet", "", "2026-11-25"),
        ("attendance", "not finalised", "", "2026-11-11"),
        ("ministry", "exported", "00000003", "2026-11-18"),
        ("ministry", "exported", "00000004", "2026-11-18"),
    ]
    assert rows[0].error_codes == ("EH1",) and rows[0].messages
    assert rows[0].deadline == date(2027, 5, 18)
    grouped = claims_by_state(db)
    assert [c.accounting_number for c in grouped["rejected"]] == ["00000001"]
    assert [c.accounting_number for c in grouped["marked"]] == ["00000002"]


def test_rotating_the_key_reseals_the_numbers_kept_with_claims(db, sent, tmp_path):
    world, _ = sent
    new_key = generate_key()
    rotated = Keyring.from_text(new_key, world.key)
    assert reseal_claims(db, keyring=rotated, now=NOW) == 4
    only_new = Keyring.from_text(new_key)
    report = tmp_path / "EK123456.001"
    report.write_bytes(
        error_report(
            [Section("123456", [Rejected("00000002", _number(world, 2), [("K012A", DAY)])])]
        )
    )
    imported = import_error_report(db, path=report, keyring=only_new, now=NOW)
    assert [c.accounting_number for c in imported.rejected] == ["00000002"]
