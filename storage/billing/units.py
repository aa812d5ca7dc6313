"""Time units and group-size bands: the two numbers that pick a group-psychotherapy fee.

Pure arithmetic, no I/O. A unit is half an hour or the major part of one, and a time-based K
code needs at least 20 minutes for its first unit (ohip-reference §1.2): 1 unit from 20
minutes, 2 from 46, 3 from 76, 4 from 106, then one more every further 30 minutes. The
mobilling client's `floor((m + 14) / 30)` gives 1 unit from 16 minutes, which is looser than
the Ministry's rule, so it is deliberately not used.

The band is the number of members present at that session (ohip-reference §1.1): 2, 3, 4,
5, or 6 to 12. More than 12 has no code and is an error, never rounded down to a band.
"""

from __future__ import annotations

from typing import Final

from storage.billing.errors import BillingError

__all__ = [
    "BANDS",
    "FIRST_UNIT_MINUTES",
    "MAX_GROUP_SIZE",
    "MIN_GROUP_SIZE",
    "band_for_count",
    "units_for_minutes",
]

#: Minutes needed for the first unit.
FIRST_UNIT_MINUTES: Final = 20
#: Minutes at which the second unit starts; each further unit needs 30 more.
_SECOND_UNIT_MINUTES: Final = 46
_MINUTES_PER_UNIT: Final = 30

MIN_GROUP_SIZE: Final = 2
MAX_GROUP_SIZE: Final = 12
#: The Schedule of Benefits' group-size bands, as written in `fee_table.csv`.
BANDS: Final = ("2", "3", "4", "5", "6-12")


def units_for_minutes(minutes: int) -> int:
    """The number of units `minutes` of psychotherapy earn (0 below 20 minutes).

    Raises:
        BillingError: `minutes` is negative.
    """
    if minutes < 0:
        raise BillingError(f"minutes cannot be negative (got {minutes})")
    if minutes < FIRST_UNIT_MINUTES:
        return 0
    if minutes < _SECOND_UNIT_MINUTES:
        return 1
    return 2 + (minutes - _SECOND_UNIT_MINUTES) // _MINUTES_PER_UNIT


def band_for_count(present: int) -> str:
    """The group-size band for `present` members ("2" … "5" or "6-12").

    Raises:
        BillingError: fewer than 2 or more than 12 present; no group code covers that.
    """
    if present < MIN_GROUP_SIZE:
        raise BillingError(
            f"{present} member(s) present: group psychotherapy needs at least {MIN_GROUP_SIZE}"
        )
    if present > MAX_GROUP_SIZE:
        raise BillingError(
            f"{present} members present: no group code covers more than {MAX_GROUP_SIZE}"
        )
    if present >= 6:
        return "6-12"
    return str(present)
