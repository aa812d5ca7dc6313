"""Reader of the Ministry's Claims Error Report (`E{month}{provider|group}.{seq}`).

Pure: bytes in, an `ErrorReport` out. Records are 79 characters (tech spec §7.2, summarised
in ohip-reference §4.9): `HX1` provider header, `HXH` claim header, `HXR` claim header-2
(RMB), `HXT` item, `HX8` explanatory message and `HX9` trailer. `HXH`, `HXR` and `HXT` echo
what was submitted and add up to five 3-character error codes at positions 65-79; `HXT`
carries an explanatory code at 63-64 and the `HX8` lines after it (one to four) describe it.

A report may hold several provider headers: one `HX1` per provider of a group, and a new
`HX1` whenever the specialty changes for the same provider; there is one `HX9` per provider
(or per file for a solo provider), counting the `HXH`, `HXR`, `HXT` and `HX8` records since
the previous trailer, across every `HX1` in between (tech spec §7.2 notes and samples). Each
claim takes the provider of the `HX1` above it. A count that does not match, an unknown
record or an over-long line raises `BillingError`: a report that cannot be read exactly is
not applied.
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
    """An `HXT` record: the submitted item echoed back, with its error codes and messages."""

    service_code: str
    fee_cents: int
    services: int
    service_date: date | None
    diagnostic_code: str
    explanatory_code: str
    error_codes: tuple[str, ...]
    messages: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class ReportedProvider:
    """An `HX1` section header."""

    provider_number: str
    group_number: str
    specialty: str
    moh_office: str
    process_date: date | None


@dataclass(frozen=True, slots=True)
class ReportedClaim:
    """A rejected claim: its `HXH` (and `HXR`) echo, items and explanatory messages.

    Args:
        line: the line number of its `HXH` in the file.
        provider: the `HX1` it sits under.
        health_number: as sent (blank for RMB claims, whose number is `registration_number`).
    """

    line: int
    provider: ReportedProvider
    accounting_number: str
    health_number: str
    version_code: str
    payment_program: str
    registration_number: str
    header_codes: tuple[str, ...]
    items: tuple[ReportedItem, ...]

    @property
    def provider_number(self) -> str:
        return self.provider.provider_number

    @property
    def card_number(self) -> str:
        """The number the claim was sent under: the health number, or the RMB registration."""
        return self.health_number or self.registration_number

    @property
    def error_codes(self) -> tuple[str, ...]:
        """Every distinct error code of the claim, header first, in report order."""
        codes = list(self.header_codes)
        for item in self.items:
            codes.extend(item.error_codes)
        return tuple(dict.fromkeys(codes))

    @property
    def messages(self) -> tuple[tuple[str, str], ...]:
        """Every explanatory message of the claim's items, in report order."""
        return tuple(message for item in self.items for message in item.messages)


@dataclass(frozen=True, slots=True)
class ErrorReport:
    providers: tuple[ReportedProvider, ...]
    claims: tuple[ReportedClaim, ...]


@dataclass(slots=True)
class _OpenItem:
    item: ReportedItem
    messages: list[tuple[str, str]] = field(default_factory=list)

    def close(self) -> ReportedItem:
        return ReportedItem(
            service_code=self.item.service_code,
            fee_cents=self.item.fee_cents,
            services=self.item.services,
            service_date=self.item.service_date,
            diagnostic_code=self.item.diagnostic_code,
            explanatory_code=self.item.explanatory_code,
            error_codes=self.item.error_codes,
            messages=tuple(self.messages),
        )


@dataclass(slots=True)
class _OpenClaim:
    line: int
    provider: ReportedProvider
    accounting_number: str
    health_number: str
    version_code: str
    payment_program: str
    codes: list[str]
    registration_number: str = ""
    items: list[_OpenItem] = field(default_factory=list)

    def close(self) -> ReportedClaim:
        return ReportedClaim(
            line=self.line,
            provider=self.provider,
            accounting_number=self.accounting_number,
            health_number=self.health_number,
            version_code=self.version_code,
            payment_program=self.payment_program,
            registration_number=self.registration_number,
            header_codes=tuple(self.codes),
            items=tuple(item.close() for item in self.items),
        )


@dataclass(slots=True)
class _Trailer:
    """What the next `HX9` must count: records since the previous trailer."""

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
    provider: ReportedProvider | None = None
    trailer: _Trailer | None = None
    current: _OpenClaim | None = None
    lines = [
        (number, line)
        for number, line in enumerate(text.replace("\x1a", "").splitlines(), start=1)
        if line.strip()
    ]
    if not lines:
        raise BillingError("the error report is empty")
    for number, raw in lines:
        if len(raw) > _LENGTH:
            raise BillingError(f"line {number}: {len(raw)} characters, records are 79")
        line = raw.ljust(_LENGTH)
        kind = line[:3]
        if kind == "HX1":
            if current is not None:
                claims.append(current.close())
                current = None
            provider = _provider(line)
            providers.append(provider)
            trailer = trailer or _Trailer()
            continue
        if provider is None or trailer is None:
            raise BillingError(f"line {number}: {kind!r} outside a provider section")
        if kind == "HXH":
            if current is not None:
                claims.append(current.close())
            current = _OpenClaim(
                line=number,
                provider=provider,
                accounting_number=line[23:31].strip(),
                health_number=line[3:13].strip(),
                version_code=line[13:15].strip(),
                payment_program=line[31:34].strip(),
                codes=_codes(line),
            )
            trailer.counts["H"] += 1
        elif kind in ("HXR", "HXT", "HX8"):
            if current is None:
                raise BillingError(f"line {number}: {kind} without a claim header above it")
            if kind == "HXR":
                current.registration_number = line[3:15].strip()
                current.codes.extend(_codes(line))
                trailer.counts["R"] += 1
            elif kind == "HXT":
                current.items.append(_OpenItem(_item(line, number)))
                trailer.counts["T"] += 1
            else:
                if not current.items:
                    raise BillingError(f"line {number}: HX8 without an item above it")
                current.items[-1].messages.append((line[3:5].strip(), line[5:60].strip()))
                trailer.counts["8"] += 1
        elif kind == "HX9":
            if current is not None:
                claims.append(current.close())
                current = None
            _check_trailer(line, trailer, number)
            provider = None
            trailer = None
        else:
            raise BillingError(f"line {number}: unknown record {kind!r}")
    if trailer is not None:
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
        explanatory_code=line[62:64].strip(),
        error_codes=tuple(_codes(line)),
    )


def _check_trailer(line: str, trailer: _Trailer, number: int) -> None:
    try:
        stated = {
            "H": int(line[3:10]),
            "R": int(line[10:17]),
            "T": int(line[17:24]),
            "8": int(line[24:31]),
        }
    except ValueError:
        raise BillingError(f"line {number}: the HX9 counts are not numeric") from None
    if stated != trailer.counts:
        raise BillingError(
            f"line {number}: HX9 counts {stated} do not match the records {trailer.counts}"
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
