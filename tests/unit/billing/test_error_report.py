"""Reading the Ministry's Claims Error Report (HX1/HXH/HXR/HXT/HX8/HX9)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from storage.billing.error_report import parse_error_report
from storage.billing.errors import BillingError

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "ohip" / "EL123456.001"


def test_fixture_report_is_read_claim_by_claim():
    report = parse_error_report(FIXTURE.read_bytes())
    (provider,) = report.providers
    assert (provider.provider_number, provider.group_number, provider.specialty) == (
        "123456", "0000", "00",
    )  # fmt: skip
    assert provider.moh_office == "N" and provider.process_date == date(2026, 12, 4)
    first, second = report.claims
    assert first.accounting_number == "00000101"
    assert first.payment_program == "HCP"
    assert first.header_codes == ("V05",)
    assert first.error_codes == ("V05", "A3E", "V40")
    assert first.messages == (("EH", "HEALTH NUMBER NOT ELIGIBLE ON SERVICE DATE"),)
    assert (first.health_number, first.version_code, first.line) == ("9876543217", "AB", 2)
    assert first.provider is provider and first.provider_number == "123456"
    (item,) = first.items
    assert (item.service_code, item.fee_cents, item.services) == ("K025A", 3660, 3)
    assert (item.service_date, item.diagnostic_code) == (date(2026, 11, 18), "300")
    assert second.accounting_number == "00000103"
    assert second.payment_program == "RMB"
    assert second.error_codes == ("V21", "A9Z")
    assert (second.health_number, second.card_number) == ("", "BC1234567")
    assert [i.service_code for i in second.items] == ["K025A", "K300A"]


def test_lf_only_trailing_spaces_stripped_and_ctrl_z_are_tolerated():
    lines = FIXTURE.read_bytes().decode("ascii").split("\r\n")
    data = ("\n".join(line.rstrip() for line in lines) + "\x1a").encode("ascii")
    assert len(parse_error_report(data).claims) == 2


def _lines() -> list[str]:
    return FIXTURE.read_bytes().decode("ascii").split("\r\n")[:-1]


def _join(lines: list[str]) -> bytes:
    return ("\r\n".join(lines) + "\r\n").encode("ascii")


def test_wrong_trailer_counts_are_refused():
    lines = _lines()
    lines[-1] = "HX9" + "0000003" + lines[-1][10:]
    with pytest.raises(BillingError, match="HX9 counts"):
        parse_error_report(_join(lines))


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda ls: ls[:-1], "without its HX9"),
        (lambda ls: ls[1:], "outside a provider section"),
        (lambda ls: [ls[0], ls[2], *ls[3:]], "without a claim header"),
        (lambda ls: [*ls[:2], "HXQ".ljust(79), *ls[2:]], "unknown record"),
        (lambda ls: [ls[0] + " ", *ls[1:]], "80 characters"),
        (lambda ls: [], "empty"),
    ],
)
def test_malformed_reports_are_refused(mutate, message):
    with pytest.raises(BillingError, match=message):
        parse_error_report(_join(mutate(_lines())) if mutate(_lines()) else b"")


def test_non_ascii_is_refused():
    with pytest.raises(BillingError, match="ASCII"):
        parse_error_report("HX1é".encode())


def _record(text: str) -> str:
    return text.ljust(79)


def _provider(number: str, specialty: str = "00", group: str = "AB12") -> str:
    return _record(
        "HX1V03N" + " " * 10 + "000000" + group + number + specialty + "001" + "20261204"
    )


def _claim(accounting: str, health: str, code: str = "K025A", errors: str = "EH1") -> list[str]:
    return [
        _record("HXH" + health + "AB" + "19700101" + accounting + "HCPP"),
        _record(f"HXT{code}  0036600320261118311".ljust(62) + "EH" + errors),
        _record("HX8EHHEALTH NUMBER NOT ELIGIBLE"),
    ]


def test_a_group_report_with_two_providers_and_a_specialty_change():
    # tech spec §7.2's group sample: provider A, trailer; provider B under two specialties
    # (two HX1) and one trailer for both
    lines = [
        _provider("111111"),
        *_claim("00000001", "9876543217"),
        _record("HX9" + "0000001" + "0000000" + "0000001" + "0000001"),
        _provider("222222"),
        *_claim("00000002", "9876543217"),
        _provider("222222", specialty="19"),
        *_claim("00000003", "9876543217", code="K205A"),
        _record("HX9" + "0000002" + "0000000" + "0000002" + "0000002"),
    ]
    report = parse_error_report(_join(lines))
    assert [(p.provider_number, p.specialty) for p in report.providers] == [
        ("111111", "00"), ("222222", "00"), ("222222", "19"),
    ]  # fmt: skip
    found = [(c.accounting_number, c.provider_number, c.provider.specialty) for c in report.claims]
    assert found == [
        ("00000001", "111111", "00"), ("00000002", "222222", "00"), ("00000003", "222222", "19"),
    ]  # fmt: skip
    (item,) = report.claims[2].items
    assert (item.service_code, item.explanatory_code, item.error_codes) == ("K205A", "EH", ("EH1",))
    assert item.messages == (("EH", "HEALTH NUMBER NOT ELIGIBLE"),)


def test_a_trailer_counts_every_record_since_the_previous_trailer():
    lines = [
        _provider("222222"),
        *_claim("00000002", "9876543217"),
        _provider("222222", specialty="19"),
        *_claim("00000003", "9876543217"),
        _record("HX9" + "0000001" + "0000000" + "0000001" + "0000001"),  # counts one section
    ]
    with pytest.raises(BillingError, match="HX9 counts"):
        parse_error_report(_join(lines))


def test_an_explanatory_message_needs_an_item_above_it():
    lines = [
        _provider("123456"),
        _record("HXH9876543217AB1970010100000001HCPP"),
        _record("HX8EHHEALTH NUMBER NOT ELIGIBLE"),
        _record("HX9" + "0000001" + "0000000" + "0000000" + "0000001"),
    ]
    with pytest.raises(BillingError, match="HX8 without an item"):
        parse_error_report(_join(lines))
