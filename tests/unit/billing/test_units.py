"""Units from minutes and bands from the number present (ohip-reference §1.2, §1.1)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from storage.billing.errors import BillingError
from storage.billing.units import band_for_count, units_for_minutes


@pytest.mark.parametrize(
    ("minutes", "units"),
    [
        (0, 0),
        (19, 0),
        (20, 1),
        (45, 1),
        (46, 2),
        (75, 2),
        (76, 3),
        (105, 3),
        (106, 4),
        (135, 4),
        (136, 5),
        (165, 5),
        (166, 6),
    ],
)
def test_unit_thresholds(minutes, units):
    assert units_for_minutes(minutes) == units


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=600))
def test_units_never_decrease_and_step_by_one(minutes):
    assert units_for_minutes(minutes + 1) - units_for_minutes(minutes) in (0, 1)


def test_negative_minutes_are_refused():
    with pytest.raises(BillingError):
        units_for_minutes(-1)


@pytest.mark.parametrize(
    ("present", "band"),
    [(2, "2"), (3, "3"), (4, "4"), (5, "5"), (6, "6-12"), (9, "6-12"), (12, "6-12")],
)
def test_bands(present, band):
    assert band_for_count(present) == band


@pytest.mark.parametrize("present", [0, 1, 13, 20])
def test_no_band_outside_two_to_twelve(present):
    with pytest.raises(BillingError, match="at least 2|more than 12"):
        band_for_count(present)
