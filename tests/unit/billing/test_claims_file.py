"""The claims file read back by position with an independent reader (ohip-reference §4)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from storage.billing.claims import (
    BillableAttendance,
    BillingOptions,
    ClaimLine,
    ProposedClaim,
    build_claims,
)
from storage.billing.claims_file import (
    Batch,
    FileClaim,
    batches_for,
    file_claim,
    file_name,
    fingerprint,
    render,
)
from storage.billing.errors import BillingError

from . import mri_reader
from .factories import FEES, OPTIONS, SERVICE_DATE, TODAY, attendance, session

WORKED_EXAMPLE = (
    "HEBV03N202501140001000000000012345600                                          \r\n"
    "HEH9876543217AB1970010100000042HCPP654321                                      \r\n"
    "HETK025A  0036600320250114300                                                  \r\n"
    "HETK300A  0000000120250114                                                     \r\n"
    "HEE0001000000002                                                               \r\n"
).encode("ascii")


def test_reproduces_the_reference_worked_example_byte_for_byte():
    day = date(2025, 1, 14)
    claim = FileClaim(
        accounting_number="00000042",
        payment_program="HCP",
        health_number="9876543217",
        version_code="AB",
        birth_date=date(1970, 1, 1),
        referring_number="654321",
        items=(
            ClaimLine("K025A", 3660, 3, day, "300"),
            ClaimLine("K300A", 0, 1, day),
        ),
    )
    batch = Batch("N", day, 1, "0000", "123456", "00", (claim,))
    assert render([batch]) == WORKED_EXAMPLE


def _file(
    rows: list[BillableAttendance],
    options: BillingOptions = OPTIONS,
    first_sequence: int = 7,
    max_claims: int = 500,
) -> tuple[tuple[ProposedClaim, ...], bytes]:
    claims = build_claims(session(rows), options=options, fee_table=FEES, today=TODAY)
    written = [
        file_claim(claim, accounting_number=f"{100 + index:08d}")
        for index, claim in enumerate(claims)
    ]
    batches = batches_for(
        written, options=options, created=TODAY, first_sequence=first_sequence,
        max_claims=max_claims,
    )  # fmt: skip
    return claims, render(batches)


def test_every_field_of_every_record_reads_back():
    options = BillingOptions(
        provider_number="123456", group_number="AB12", specialty="19", moh_office="G",
        fee_codes="psychiatry", modality_item="auto", physician="Fay Leader",
    )  # fmt: skip
    rows = [
        attendance(1),
        attendance(2, minutes=50, referring_number=""),
        attendance(3, province="BC", health_number="bc1234567", last_name="O'Neil-Smithers",
                   first_name="Zoé Anne", sex="M"),
        attendance(4, version_code="A"),
    ]  # fmt: skip
    claims, data = _file(rows, options)
    records = [mri_reader.parse(r) for r in mri_reader.split_records(data)]
    kinds = "".join(r["record_id"] for r in records)
    assert kinds == "B" + "HTT" + "HTT" + "HRTT" + "HTT" + "E"
    assert all(r["transaction"] == "HE" for r in records)

    heb = records[0]
    assert heb == {
        "transaction": "HE", "record_id": "B", "release": "V03", "moh_office": "G",
        "batch_id": "202611290007", "operator": "000000", "group": "AB12",
        "provider": "123456", "specialty": "19", "reserved": " " * 42,
    }  # fmt: skip

    headers = [r for r in records if r["record_id"] == "H"]
    for header, claim, index in zip(headers, claims, range(4), strict=True):
        member = claim.member
        rmb = member.province == "BC"
        assert header["health_number"] == (" " * 10 if rmb else member.health_number)
        assert header["version"] == ("  " if rmb else member.version_code.ljust(2))
        assert member.birth_date is not None
        assert header["birth_date"] == member.birth_date.strftime("%Y%m%d")
        assert header["accounting"] == f"{100 + index:08d}"
        assert header["program"] == ("RMB" if rmb else "HCP")
        assert header["payee"] == "P"
        assert header["referring"] == (member.referring_number or " " * 6)
        for blank in ("master", "admission", "lab", "manual_review", "sli"):
            assert header[blank].strip() == "", blank
        assert header["reserved_ooc"] == " " * 11 and header["reserved_moh"] == " " * 6

    (her,) = [r for r in records if r["record_id"] == "R"]
    assert her == {
        "transaction": "HE", "record_id": "R", "registration": "BC1234567   ",
        "last_name": "ONEILSMIT", "first_name": "ZOEAN", "sex": "1", "province": "BC",
        "reserved": " " * 47,
    }  # fmt: skip

    items = [r for r in records if r["record_id"] == "T"]
    expected_items = [
        ("K203A", "006660", "03", "311 "), ("K300A", "000000", "01", "    "),
        ("K203A", "004440", "02", "311 "), ("K300A", "000000", "01", "    "),
        ("K203A", "006660", "03", "311 "), ("K300A", "000000", "01", "    "),
        ("K203A", "006660", "03", "311 "), ("K300A", "000000", "01", "    "),
    ]  # fmt: skip
    assert [
        (i["service_code"], i["fee"], i["services"], i["diagnostic"]) for i in items
    ] == expected_items
    for item in items:
        assert item["service_date"] == SERVICE_DATE.strftime("%Y%m%d")
        assert item["reserved1"] == "  " and item["reserved_ooc"] == " " * 10
        assert item["reserved_moh"] == " " and item["item2"] == " " * 38

    trailer = records[-1]
    assert (trailer["h_count"], trailer["r_count"], trailer["t_count"]) == ("0004", "0001", "00008")
    assert trailer["reserved"] == " " * 63


def test_one_batch_per_provider_split_at_the_batch_limit():
    rows = [attendance(i) for i in range(1, 6)]
    _, data = _file(rows, first_sequence=41, max_claims=2)
    records = [mri_reader.parse(r) for r in mri_reader.split_records(data)]
    sequences = [r["batch_id"][-4:] for r in records if r["record_id"] == "B"]
    assert sequences == ["0041", "0042", "0043"]
    trailers = [r for r in records if r["record_id"] == "E"]
    assert [(t["h_count"], t["t_count"]) for t in trailers] == [
        ("0002", "00004"),
        ("0002", "00004"),
        ("0001", "00002"),
    ]  # fmt: skip  (each claim: its item and the K300A video tracking item)
    for index, record in enumerate(records):
        if record["record_id"] == "B":
            assert records[index + 1]["record_id"] == "H"  # a batch header is followed by HEH


@pytest.mark.parametrize(
    ("month", "group", "provider", "sequence", "name"),
    [
        (1, "0000", "123456", 1, "HA123456.001"),
        (12, "0000", "123456", 12, "HL123456.012"),
        (6, "AB12", "123456", 999, "HFAB12.999"),
    ],
)
def test_file_name(month, group, provider, sequence, name):
    created = date(2026, month, 3)
    assert file_name(created=created, group_number=group, provider_number=provider,
                     sequence=sequence) == name  # fmt: skip


def test_file_sequence_out_of_range_is_refused():
    with pytest.raises(BillingError):
        file_name(created=TODAY, group_number="0000", provider_number="123456", sequence=1000)


def test_invalid_claims_are_never_turned_into_records():
    claims = build_claims(
        session([attendance(1, diagnostic_code=""), attendance(2)]),
        options=OPTIONS, fee_table=FEES, today=TODAY,
    )  # fmt: skip
    with pytest.raises(BillingError, match="diagnostic_code"):
        file_claim(claims[0], accounting_number="00000001")


@pytest.mark.parametrize(
    "claim_changes",
    [
        {"accounting_number": "123"},
        {"health_number": "98765"},
        {"referring_number": "12"},
        {"version_code": "ABC"},
        {"items": (ClaimLine("K025A", 1000, 3, TODAY, "300"),)},  # not divisible by units
        {"items": (ClaimLine("K025A", 1_000_0000, 3, TODAY, "300"),)},
        {"items": ()},
    ],
)
def test_values_that_do_not_fit_are_refused_not_truncated(claim_changes):
    fields: dict[str, Any] = {
        "accounting_number": "00000001", "payment_program": "HCP",
        "health_number": "9876543217", "version_code": "AB", "birth_date": date(1980, 2, 2),
        "referring_number": "", "items": (ClaimLine("K025A", 3660, 3, TODAY, "300"),),
    }  # fmt: skip
    fields.update(claim_changes)
    batch = Batch("N", TODAY, 1, "0000", "123456", "00", (FileClaim(**fields),))
    with pytest.raises(BillingError):
        render([batch])


def test_empty_batches_are_refused():
    with pytest.raises(BillingError):
        render([Batch("N", TODAY, 1, "0000", "123456", "00", ())])
    with pytest.raises(BillingError):
        render([])


@settings(max_examples=60, deadline=None)
@given(
    present=st.integers(min_value=2, max_value=12),
    minutes=st.lists(st.integers(min_value=20, max_value=300), min_size=12, max_size=12),
    rmb=st.lists(st.booleans(), min_size=12, max_size=12),
    modality=st.booleans(),
    max_claims=st.integers(min_value=1, max_value=5),
)
def test_any_valid_claims_read_back_with_matching_counts(
    present: int, minutes: list[int], rmb: list[bool], modality: bool, max_claims: int
) -> None:
    rows = [
        attendance(i + 1, minutes=minutes[i], province="MB" if rmb[i] else "ON")
        for i in range(present)
    ]
    options = BillingOptions(
        provider_number="123456",
        moh_office="N",
        physician="Fay Leader",
        modality_item="auto" if modality else "none",
    )
    claims, data = _file(rows, options, max_claims=max_claims)
    records = [mri_reader.parse(r) for r in mri_reader.split_records(data)]
    batches: list[list[dict[str, str]]] = []
    for record in records:
        if record["record_id"] == "B":
            batches.append([])
        batches[-1].append(record)
    assert len(batches) == -(-present // max_claims)
    for batch in batches:
        assert batch[0]["record_id"] == "B" and batch[-1]["record_id"] == "E"
        kinds = [r["record_id"] for r in batch]
        trailer = batch[-1]
        assert int(trailer["h_count"]) == kinds.count("H")
        assert int(trailer["r_count"]) == kinds.count("R")
        assert int(trailer["t_count"]) == kinds.count("T")
    items = [r for r in records if r["record_id"] == "T" and r["service_code"] != "K300A"]
    assert [int(i["services"]) for i in items] == [claim.units for claim in claims]
    assert [int(i["fee"]) for i in items] == [claim.fee_cents for claim in claims]
    assert sum(1 for r in records if r["record_id"] == "R") == sum(rmb[:present])


def test_the_fingerprint_ignores_the_accounting_number_and_sees_every_field():
    claims = build_claims(
        session([attendance(1), attendance(2)]), options=OPTIONS, fee_table=FEES, today=TODAY
    )
    one = file_claim(claims[0], accounting_number="00000001")
    again = file_claim(claims[0], accounting_number="00000009")
    assert fingerprint(one) == fingerprint(again)
    assert fingerprint(one) != fingerprint(replace(one, version_code="CD"))
    item = replace(one.items[0], diagnostic_code="309")
    assert fingerprint(one) != fingerprint(replace(one, items=(item, *one.items[1:])))
