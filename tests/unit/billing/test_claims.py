"""Building claims from attendance: codes, units, fees and every reason a claim is left out."""

from __future__ import annotations

from datetime import date

import pytest

from storage.billing.claims import BillingOptions, ProposedClaim, build_claims, six_months_before
from storage.billing.errors import BillingError
from storage.billing.fees import load_fee_table

from .factories import OPTIONS, TODAY, attendance, session

FEES = load_fee_table()


def codes(claim: ProposedClaim) -> set[str]:
    return {problem.code for problem in claim.problems}


@pytest.mark.parametrize(
    ("present", "gp", "psychiatry"),
    [(2, "K019A", "K208A"), (3, "K020A", "K209A"), (4, "K012A", "K203A"),
     (5, "K024A", "K204A"), (6, "K025A", "K205A"), (12, "K025A", "K205A")],
)  # fmt: skip
def test_code_follows_the_number_present_for_both_specialties(present, gp, psychiatry):
    held = session(present=present)
    for family, specialty, expected in (("gp", "00", gp), ("psychiatry", "19", psychiatry)):
        options = BillingOptions(provider_number="123456", specialty=specialty, fee_codes=family)
        claims = build_claims(held, options=options, fee_table=FEES, today=TODAY)
        assert {claim.fee_code for claim in claims} == {expected}
        assert all(claim.valid for claim in claims)


def test_eight_present_gp_bills_three_units_of_k025():
    claims = build_claims(session(present=8), options=OPTIONS, fee_table=FEES, today=TODAY)
    assert len(claims) == 8
    claim = claims[0]
    assert (claim.units, claim.unit_fee_cents, claim.fee_cents) == (3, 1220, 3660)
    assert claim.items[0].fee_cents == 3660 and claim.items[0].services == 3
    assert claim.items[0].diagnostic_code == "300"
    assert sum(c.fee_cents for c in claims) == 29280  # ohip-reference §1.2 example: $292.80


def test_absent_members_do_not_count_toward_the_band():
    rows = [attendance(i) for i in range(1, 4)] + [attendance(9, minutes=0, present=False)]
    claims = build_claims(session(rows), options=OPTIONS, fee_table=FEES, today=TODAY)
    assert {c.fee_code for c in claims} == {"K020A"}
    assert [codes(c) for c in claims][-1] == {"absent", "under_20_minutes"}


def test_thirteen_present_is_an_error_for_every_claim_not_a_guess():
    claims = build_claims(session(present=13), options=OPTIONS, fee_table=FEES, today=TODAY)
    assert all("group_too_large" in codes(c) for c in claims)
    assert all(not c.items and c.fee_code == "" for c in claims)


def test_one_present_is_an_error():
    (claim,) = build_claims(session(present=1), options=OPTIONS, fee_table=FEES, today=TODAY)
    assert "group_too_small" in codes(claim)


@pytest.mark.parametrize(
    ("changes", "minutes", "expected"),
    [
        ({"health_number": "9876543218"}, 105, "health_number"),
        ({"version_code": ""}, 105, "version_code"),
        ({"version_code": "A1"}, 105, "version_code"),
        ({"diagnostic_code": ""}, 105, "diagnostic_code"),
        ({"diagnostic_code": "30"}, 105, "diagnostic_code"),
        ({"relationship_basis": ""}, 105, "relationship_basis"),
        ({"relationship_basis": "none"}, 105, "relationship_basis"),
        ({"birth_date": None}, 105, "birth_date"),
        ({"province": "QC"}, 105, "quebec"),
        ({"province": "XX"}, 105, "province"),
        ({"referring_number": "65432"}, 105, "referring_number"),
        ({"province": "AB", "sex": ""}, 105, "sex"),
        ({"province": "AB", "health_number": ""}, 105, "registration_number"),
        ({"province": "AB", "last_name": "--"}, 105, "name"),
        ({}, 19, "under_20_minutes"),
    ],
)
def test_each_problem_is_named(changes, minutes, expected):
    rows = [attendance(1, minutes=minutes, **changes), attendance(2), attendance(3)]
    claims = build_claims(session(rows), options=OPTIONS, fee_table=FEES, today=TODAY)
    assert codes(claims[0]) == {expected}
    assert claims[1].valid and claims[2].valid


def test_twenty_minutes_is_one_unit():
    rows = [attendance(1, minutes=20), attendance(2)]
    claim = build_claims(session(rows), options=OPTIONS, fee_table=FEES, today=TODAY)[0]
    assert claim.valid and claim.units == 1


def test_out_of_province_card_is_rmb():
    rows = [attendance(1, province="bc", health_number="BC12345678"), attendance(2)]
    claim = build_claims(session(rows), options=OPTIONS, fee_table=FEES, today=TODAY)[0]
    assert claim.valid and claim.payment_program == "RMB"


def test_reflection_counts_only_when_configured():
    rows = [attendance(1, minutes=120), attendance(2, minutes=120)]
    held = session(rows, therapy_minutes=105, reflection_minutes=15)
    plain = build_claims(held, options=OPTIONS, fee_table=FEES, today=TODAY)
    assert (plain[0].billed_minutes, plain[0].units) == (105, 3)
    counting = BillingOptions(provider_number="123456", count_reflection=True)
    more = build_claims(held, options=counting, fee_table=FEES, today=TODAY)
    assert (more[0].billed_minutes, more[0].units) == (120, 4)


def test_modality_item_is_added_at_zero_fee():
    options = BillingOptions(provider_number="123456", modality_item="K300A")
    claim = build_claims(session(present=3), options=options, fee_table=FEES, today=TODAY)[0]
    assert [(i.service_code, i.fee_cents, i.services) for i in claim.items] == [
        ("K020A", 6900, 3),
        ("K300A", 0, 1),
    ]


def test_future_and_stale_service_dates_are_errors():
    future = build_claims(
        session(present=3, service_date=date(2026, 12, 1)),
        options=OPTIONS,
        fee_table=FEES,
        today=TODAY,
    )
    assert all("future_date" in codes(c) for c in future)
    stale = build_claims(
        session(present=3, service_date=date(2026, 5, 28)),
        options=OPTIONS,
        fee_table=FEES,
        today=TODAY,
    )
    assert all("stale_date" in codes(c) for c in stale)


def test_six_months_before_clamps_to_month_end():
    assert six_months_before(date(2026, 8, 31)) == date(2026, 2, 28)
    assert six_months_before(date(2026, 3, 15)) == date(2025, 9, 15)


@pytest.mark.parametrize(
    "changes",
    [
        {"provider_number": "12345"},
        {"group_number": "12"},
        {"specialty": "07"},
        {"moh_office": "NN"},
        {"fee_codes": "dental"},
        {"modality_item": "K301A"},
    ],
)
def test_bad_billing_settings_are_refused(changes):
    with pytest.raises(BillingError, match="billing settings"):
        BillingOptions(**{"provider_number": "123456", **changes})
