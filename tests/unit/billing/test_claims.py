"""Building claims: codes, units, fees, modality, and every reason one is left out."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from storage.billing.claims import (
    MOH_OFFICES,
    ProposedClaim,
    build_claims,
    months_before,
    six_months_before,
)
from storage.billing.errors import BillingError
from storage.billing.fees import reference_fees

from .factories import FEES, OPTIONS, SERVICE_DATE, TODAY, attendance, options, session


def codes(claim: ProposedClaim) -> set[str]:
    return {problem.code for problem in claim.problems}


def build(held, opts=OPTIONS, fees=FEES, today=TODAY):
    return build_claims(held, options=opts, fee_table=fees, today=today)


@pytest.mark.parametrize(
    ("size", "gp", "gp_fee", "psychiatry", "psychiatry_fee"),
    [(2, "K019A", 3460, "K208A", 4430), (3, "K020A", 2300, "K209A", 2955),
     (4, "K012A", 1740, "K203A", 2220), (5, "K024A", 1435, "K204A", 1770),
     (6, "K025A", 1220, "K205A", 1595), (12, "K025A", 1220, "K205A", 1595)],
)  # fmt: skip
def test_code_and_fee_follow_the_group_size_for_both_specialties(
    size, gp, gp_fee, psychiatry, psychiatry_fee
):
    held = session(present=size)
    for family, specialty, code, fee in (
        ("gp", "00", gp, gp_fee),
        ("psychiatry", "19", psychiatry, psychiatry_fee),
    ):
        claims = build(held, options(specialty=specialty, fee_codes=family))
        assert {(claim.fee_code, claim.unit_fee_cents) for claim in claims} == {(code, fee)}
        assert all(claim.valid for claim in claims), [codes(c) for c in claims]


@pytest.mark.parametrize(
    ("minutes", "units"),
    [(19, 0), (20, 1), (45, 1), (46, 2), (75, 2), (76, 3), (105, 3), (106, 4), (136, 5)],
)
def test_units_at_each_threshold_and_the_fee_they_carry(minutes, units):
    rows = [attendance(1, minutes=minutes), attendance(2), attendance(3)]
    claim = build(session(rows))[0]
    assert claim.units == units
    if units:
        assert claim.valid and claim.fee_cents == units * 2300
        assert claim.items[0].services == units and claim.items[0].fee_cents == units * 2300
    else:
        assert codes(claim) == {"under_20_minutes"} and not claim.items


def test_eight_members_gp_bills_three_units_of_k025():
    claims = build(session(present=8))
    assert len(claims) == 8
    claim = claims[0]
    assert (claim.units, claim.unit_fee_cents, claim.fee_cents) == (3, 1220, 3660)
    assert claim.items[0].diagnostic_code == "311"
    assert sum(c.fee_cents for c in claims) == 29280  # ohip-reference §1.2 example: $292.80


def test_the_group_size_not_the_claimed_rows_picks_the_band():
    # three claimable rows, but five members in the window (two under 20 minutes are
    # counted): the 5-person band, never a smaller group with a higher fee
    rows = [attendance(1), attendance(2), attendance(3), attendance(4, 10), attendance(5, 5)]
    claims = build(session(rows, group_size=5))
    assert {c.fee_code for c in claims} == {"K024A"}
    assert [c.valid for c in claims] == [True, True, True, False, False]


@pytest.mark.parametrize(("size", "code"), [(13, "group_too_large"), (1, "group_too_small")])
def test_no_band_is_an_error_for_every_claim_not_a_guess(size, code):
    claims = build(session(present=3, group_size=size))
    assert all(code in codes(c) for c in claims)
    assert all(not c.items and c.fee_code == "" for c in claims)


@pytest.mark.parametrize(
    ("modality", "items", "problem"),
    [
        ("video", ["K020A", "K300A"], None),
        ("telephone", ["K020A", "K301A"], None),
        ("", ["K020A"], "modality_unknown"),
    ],
)
def test_the_tracking_item_follows_how_zoom_says_the_member_joined(modality, items, problem):
    rows = [attendance(1, modality=modality), attendance(2), attendance(3)]
    claim = build(session(rows))[0]
    assert [item.service_code for item in claim.items] == items
    assert [(i.fee_cents, i.services) for i in claim.items[1:]] == [(0, 1)] * (len(items) - 1)
    assert codes(claim) == ({problem} if problem else set())
    assert claim.modality_item == (items[1] if len(items) > 1 else "")


def test_modality_item_none_sends_no_tracking_item_by_the_physicians_choice():
    claims = build(session(present=3), options(modality_item="none"))
    assert all([i.service_code for i in c.items] == ["K020A"] and c.valid for c in claims)


def test_a_session_the_billing_physician_missed_is_not_claimed():
    claims = build(session(present=4, physician_minutes=0))
    assert all(codes(c) == {"physician_absent"} for c in claims)
    assert "not present in the therapy window" in claims[0].problems[0].message


@pytest.mark.parametrize(("bill", "code"), [(False, "not_billable"), (None, "bill_ohip_undecided")])
def test_members_not_marked_billable_are_never_claimed(bill, code):
    rows = [attendance(1, bill_ohip=bill, diagnostic_code=""), attendance(2), attendance(3)]
    claims = build(session(rows))
    assert codes(claims[0]) == {code}  # the one reason, not a list of missing card details
    assert not claims[0].items and claims[1].valid and claims[2].valid


def test_the_unverified_reference_fee_holds_every_claim_back():
    claims = build(session(present=3), fees=reference_fees())
    assert all(codes(c) == {"fee_unverified"} for c in claims)
    assert claims[0].unit_fee_cents == 2300 and claims[0].fee is not None
    assert claims[0].fee.effective_date is None and "S1" in claims[0].fee.source
    assert "billing fees import" in claims[0].problems[0].message


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"health_number": "9876543218"}, "health_number"),
        ({"version_code": "A1"}, "version_code"),
        ({"diagnostic_code": ""}, "diagnostic_code"),
        ({"diagnostic_code": "30"}, "diagnostic_code"),
        ({"relationship_basis": ""}, "relationship_basis"),
        ({"relationship_basis": "none"}, "relationship_basis"),
        ({"relationship_date": None}, "relationship_date"),
        ({"relationship_date": date(2026, 11, 19)}, "relationship_date"),
        ({"relationship_date": date(2024, 11, 17)}, "relationship_date"),
        ({"relationship_basis": "video", "relationship_date": date(2024, 11, 17)},
         "relationship_date"),
        ({"birth_date": None}, "birth_date"),
        ({"province": "QC"}, "quebec"),
        ({"province": "XX"}, "province"),
        ({"referring_number": "65432"}, "referring_number"),
        ({"referring_number": "٦٥٤٣٢١"}, "referring_number"),  # not the file's digits
        ({"diagnostic_code": "٣١١"}, "diagnostic_code"),
        ({"health_number": "٩٨٧٦٥٤٣٢١٧"}, "health_number"),
        ({"province": "AB", "sex": ""}, "sex"),
        ({"province": "AB", "health_number": ""}, "registration_number"),
        ({"province": "AB", "last_name": "--"}, "name"),
    ],
)  # fmt: skip
def test_each_problem_is_named(changes, expected):
    rows = [attendance(1, **changes), attendance(2), attendance(3)]
    claims = build(session(rows))
    assert codes(claims[0]) == {expected}
    assert claims[1].valid and claims[2].valid


def test_a_card_checked_once_for_an_export_gives_every_session_its_problems():
    bad = attendance(1, health_number="9876543218")
    cards: dict = {}
    first, second = (
        build_claims(
            session([bad, attendance(2), attendance(3)], session_id=number),
            options=OPTIONS,
            fee_table=FEES,
            today=TODAY,
            cards=cards,
        )
        for number in ("1", "2")
    )
    assert codes(first[0]) == codes(second[0]) == {"health_number"}
    assert codes(first[1]) == codes(second[1]) == set()
    assert len(cards) == 3  # one check per member, not per claim
    assert first == build(session([bad, attendance(2), attendance(3)], session_id="1"))


@pytest.mark.parametrize(
    "changes",
    [
        {"version_code": ""},  # cards without a version code exist
        {"relationship_date": date(2024, 11, 18)},  # exactly 24 months before
        {"relationship_basis": "enrolled", "relationship_date": date(2015, 1, 1)},
        {"relationship_basis": "video", "relationship_date": date(2026, 11, 18)},
    ],
)
def test_what_is_allowed(changes):
    claim = build(session([attendance(1, **changes), attendance(2)]))[0]
    assert claim.valid, codes(claim)


def test_out_of_province_card_is_rmb():
    rows = [attendance(1, province="bc", health_number="BC12345678"), attendance(2)]
    claim = build(session(rows))[0]
    assert claim.valid and claim.payment_program == "RMB"


def test_a_corrected_diagnostic_code_replaces_the_rosters_for_that_claim():
    row = replace(attendance(1), diagnostic_override="309")
    claim = build(session([row, attendance(2)]))[0]
    assert claim.items[0].diagnostic_code == "309" and claim.valid


def test_future_and_stale_service_dates_are_errors():
    future = build(session(present=3, service_date=date(2026, 12, 1)))
    assert all("future_date" in codes(c) for c in future)
    stale = build(session(present=3, service_date=date(2026, 5, 28)))
    assert all("stale_date" in codes(c) for c in stale)


def test_months_before_clamps_to_month_end():
    assert six_months_before(date(2026, 8, 31)) == date(2026, 2, 28)
    assert six_months_before(date(2026, 3, 15)) == date(2025, 9, 15)
    assert months_before(SERVICE_DATE, 24) == date(2024, 11, 18)
    assert months_before(date(2028, 2, 29), 24) == date(2026, 2, 28)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"provider_number": "12345"}, "provider_number"),
        ({"provider_number": "١٢٣٤٥٦"}, "provider_number"),
        ({"group_number": "12"}, "group_number"),
        ({"group_number": "ÅB12"}, "group_number"),
        ({"specialty": "07"}, "specialty"),
        ({"moh_office": "NN"}, "moh_office"),
        ({"moh_office": "A"}, "moh_office"),
        ({"moh_office": ""}, "moh_office"),
        ({"fee_codes": "dental"}, "fee_codes"),
        ({"fee_codes": "psychiatry"}, "billed by specialty 19"),
        ({"specialty": "19"}, "billed by specialty 00"),
        ({"modality_item": ""}, "in person"),
        ({"modality_item": "K300A"}, "modality_item"),
        ({"group_size": "all"}, "group_size"),
        ({"physician": " "}, "physician"),
    ],
)
def test_bad_billing_settings_are_refused(changes, message):
    with pytest.raises(BillingError, match=message):
        options(**changes)


def test_every_valid_moh_office_is_accepted():
    assert sorted(MOH_OFFICES) == list("DEFGJNPRU")  # tech spec §1.2, error V02
    for office in MOH_OFFICES:
        assert options(moh_office=office).moh_office == office
