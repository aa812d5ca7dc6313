"""Reader of the Ministry's Claims Error Report (`E{month}{provider|group}.{seq}`).

Pure: bytes in, an `ErrorReport` out. Records are 79 characters (ohip-reference §4.9): `HX1`
provider header, `HXH` claim header, `HXR` claim header-2 (RMB), `HXT` item, `HX8` explanatory
message and `HX9` trailer. `HXH`, `HXR` and `HXT` echo what was submitted and add up to five
3-character error codes at positions 65-79; `HX8` carries a 2-character code at 4-5 and a
55-character text at 6-60 and belongs to the claim above it; `HX9` counts the section's
`HXH`, `HXR`, `HXT` and `HX8` records at positions 4, 11, 18 and 25 (7 digits each). The
offsets are those OSCAR's parser reads. A count that does not match, an unknown record or an
over-long line raises `BillingError`: a report that cannot be read exactly is not applied.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Final

from storage.billing.errors import BillingError

__all__ = [
    "ErrorReport",
    "ReportedClaim",
    "ReportedItem",
    "ReportedProvider",
    "parse_error_report",
]

_LENGTH: Final = 79
_CODES: Final = slice(64, 79)


@dataclass(frozen=True, slots=True)
class ReportedItem:
    """An `HXT` record: the submitted item echoed back, with its error codes."""

    service_code: str
    fee_cents: int
    services: int
    service_date: date | None
    diagnostic_code: str
    error_codes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ReportedClaim:
    """A rejected claim: its `HXH` (and `HXR`) echo, items and explanatory messages."""

    accounting_number: str
    provider_number: str
    group_number: str
    health_number: str
    payment_program: str
    header_codes: tuple[str, ...]
    items: tuple[ReportedItem, ...]
    messages: tuple[tuple[str, str], ...]

    @property
    def error_codes(self) -> tuple[str, ...]:
        """Every distinct error code of the claim, header first, in report order."""
        codes = list(self.header_codes)
        for item in self.items:
            codes.extend(item.error_codes)
        return tuple(dict.fromkeys(codes))


@dataclass(frozen=True, slots=True)
class ReportedProvider:
    """An `HX1` section header."""

    provider_number: str
    group_number: str
    specialty: str
    moh_office: str
    process_date: date | None


@dataclass(frozen=True, slots=True)
class ErrorReport:
    providers: tuple[ReportedProvider, ...]
    claims: tuple[ReportedClaim, ...]


@dataclass(slots=True)
class _OpenClaim:
    accounting_number: str
    health_number: str
    payment_program: str
    codes: list[str]
    items: list[ReportedItem] = field(default_factory=list)
    messages: list[tuple[str, str]] = field(default_factory=list)


@dataclass(slots=True)
class _Section:
    provider: ReportedProvider
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys("HRT8", 0))


def parse_error_report(data: bytes) -> ErrorReport:
    """Parse a Claims Error Report.

    Raises:
        BillingError: not ASCII, a line longer than 79 characters, an unknown record, a
            claim or item outside a provider section, or `HX9` counts that do not match.
    """
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        raise BillingError("the error report is not an ASCII file") from None
    providers: list[ReportedProvider] = []
    claims: list[ReportedClaim] = []
    section: _Section | None = None
    current: _OpenClaim | None = None
    lines = [line for line in text.replace("\x1a", "").splitlines() if line.strip()]
    if not lines:
        raise BillingError("the error report is empty")
    for number, raw in enumerate(lines, start=1):
        if len(raw) > _LENGTH:
            raise BillingError(f"line {number}: {len(raw)} characters, records are 79")
        line = raw.ljust(_LENGTH)
        kind = line[:3]
        if kind == "HX1":
            if section is not None:
                raise BillingError(f"line {number}: a provider header before the HX9 trailer")
            section = _Section(_provider(line))
            providers.append(section.provider)
            continue
        if section is None:
            raise BillingError(f"line {number}: {kind!r} outside a provider section")
        if kind == "HXH":
            _flush(current, section, claims)
            current = _OpenClaim(
                accounting_number=line[23:31].strip(),
                health_number=line[3:13].strip(),
                payment_program=line[31:34].strip(),
                codes=_codes(line),
            )
            section.counts["H"] += 1
        elif kind in ("HXR", "HXT", "HX8"):
            if current is None:
                raise BillingError(f"line {number}: {kind} without a claim header above it")
            if kind == "HXR":
                current.codes.extend(_codes(line))
                section.counts["R"] += 1
            elif kind == "HXT":
                current.items.append(_item(line, number))
                section.counts["T"] += 1
            else:
                current.messages.append((line[3:5].strip(), line[5:60].strip()))
                section.counts["8"] += 1
        elif kind == "HX9":
            _flush(current, section, claims)
            _check_trailer(line, section, number)
            section = None
            current = None
        else:
            raise BillingError(f"line {number}: unknown record {kind!r}")
    if section is not None:
        raise BillingError("the error report ends without its HX9 trailer")
    return ErrorReport(providers=tuple(providers), claims=tuple(claims))


def _provider(line: str) -> ReportedProvider:
    return ReportedProvider(
        provider_number=line[27:33].strip(),
        group_number=line[23:27].strip(),
        specialty=line[33:35].strip(),
        moh_office=line[6:7].strip(),
        process_date=_day(line[38:46]),
    )


def _item(line: str, number: int) -> ReportedItem:
    try:
        fee = int(line[10:16])
        services = int(line[16:18])
    except ValueError:
        raise BillingError(
            f"line {number}: the item's fee or number of services is not numeric"
        ) from None
    return ReportedItem(
        service_code=line[3:8].strip(),
        fee_cents=fee,
        services=services,
        service_date=_day(line[18:26]),
        diagnostic_code=line[26:30].strip(),
        error_codes=tuple(_codes(line)),
    )


def _flush(current: _OpenClaim | None, section: _Section, claims: list[ReportedClaim]) -> None:
    if current is not None:
        claims.append(
            ReportedClaim(
                accounting_number=current.accounting_number,
                provider_number=section.provider.provider_number,
                group_number=section.provider.group_number,
                health_number=current.health_number,
                payment_program=current.payment_program,
                header_codes=tuple(current.codes),
                items=tuple(current.items),
                messages=tuple(current.messages),
            )
        )


def _check_trailer(line: str, section: _Section, number: int) -> None:
    try:
        stated = {
            "H": int(line[3:10]),
            "R": int(line[10:17]),
            "T": int(line[17:24]),
            "8": int(line[24:31]),
        }
    except ValueError:
        raise BillingError(f"line {number}: the HX9 counts are not numeric") from None
    if stated != section.counts:
        raise BillingError(
            f"line {number}: HX9 counts {stated} do not match the records {section.counts}"
        )


def _codes(line: str) -> list[str]:
    chunk = line[_CODES]
    return [code for code in (chunk[i : i + 3].strip() for i in range(0, 15, 3)) if code]


def _day(text: str) -> date | None:
    text = text.strip()
    if not text:
        return None
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:8]))
    except ValueError:
        return None
