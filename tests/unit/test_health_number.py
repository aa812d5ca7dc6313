"""The Ministry's MOD 10 check digit."""

from __future__ import annotations

import random

import pytest

from storage.health_number import check_digit, generate, is_valid, masked


def test_ministry_sample_passes():
    assert is_valid("9876543217")


@pytest.mark.parametrize(
    "bad", ["9876543218", "987654321", "98765432170", "98765432a7", "", "٩٨٧٦٥٤٣٢١٧", "98765432¹7"]
)
def test_bad_numbers_fail(bad):
    assert not is_valid(bad)


def test_generated_numbers_pass():
    rng = random.Random(7)
    assert all(is_valid(generate(rng)) for _ in range(200))


def test_one_last_digit_passes_and_every_single_wrong_digit_fails():
    rng = random.Random(11)
    for _ in range(300):
        first_nine = "".join(str(rng.randint(0, 9)) for _ in range(9))
        passing = [d for d in "0123456789" if is_valid(first_nine + d)]
        assert len(passing) == 1
        number = first_nine + passing[0]
        for position in range(10):
            for digit in "0123456789":
                if digit != number[position]:
                    changed = number[:position] + digit + number[position + 1 :]
                    assert not is_valid(changed), (number, changed)


def test_check_digit_needs_nine_digits():
    with pytest.raises(ValueError):
        check_digit("12345")
    with pytest.raises(ValueError):
        check_digit("٩٨٧٦٥٤٣٢١")  # digits, but not the card's


def test_masked_hides_all_but_four():
    assert masked("9876543217") == "******3217"
