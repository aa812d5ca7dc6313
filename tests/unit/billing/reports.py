"""Claims Error Reports for the tests, written from the tech spec's layout (§7.2).

Each provider section is one `HX1`, its claims (`HXH`, optional `HXR`, `HXT` items each
followed by one `HX8` message), then an `HX9` counting them; `specialty_change` adds a second
`HX1` inside the same trailer, as the spec's group sample does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Rejected:
    """One claim line of the report: what it echoes and the error put on it."""

    accounting: str
    health_number: str
    items: Sequence[tuple[str, str]] = (("K025A", "20261118"),)  # (service code, date)
    error: str = "EH1"
    message: str = "HEALTH NUMBER NOT REGISTERED"


@dataclass(frozen=True)
class Section:
    provider: str
    claims: Sequence[Rejected]
    specialty: str = "00"
    specialty_change: Sequence[Rejected] = field(default_factory=tuple)


def _line(text: str) -> str:
    assert len(text) <= 79, text
    return text.ljust(79)


def _header(provider: str, specialty: str) -> str:
    return _line(
        "HX1V03N" + " " * 10 + "000000" + "0000" + provider + specialty + "001" + "20261204"
    )


def _claim(claim: Rejected) -> list[str]:
    lines = [
        _line("HXH" + claim.health_number.ljust(10) + "AB" + "19700101" + claim.accounting + "HCPP")
    ]
    for code, day in claim.items:
        fee = "000000" if code in ("K300A", "K301A") else "003660"
        services = "01" if code in ("K300A", "K301A") else "03"
        lines.append(_line(f"HXT{code}  {fee}{services}{day}311".ljust(62) + "EH" + claim.error))
        lines.append(_line("HX8EH" + claim.message))
    return lines


def error_report(sections: Sequence[Section]) -> bytes:
    lines: list[str] = []
    for section in sections:
        body = [_header(section.provider, section.specialty)]
        for claim in section.claims:
            body += _claim(claim)
        if section.specialty_change:
            body.append(_header(section.provider, "19"))
            for claim in section.specialty_change:
                body += _claim(claim)
        counts = {
            kind: sum(1 for line in body if line.startswith(kind))
            for kind in ("HXH", "HXR", "HXT", "HX8")
        }
        body.append(
            _line("HX9" + "".join(f"{counts[kind]:07d}" for kind in ("HXH", "HXR", "HXT", "HX8")))
        )
        lines += body
    return "".join(line + "\r\n" for line in lines).encode("ascii")
