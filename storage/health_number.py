"""Ontario health numbers: the Ministry's mod-10 check digit.

A health number is 10 digits; the 10th is a Luhn check digit over the first nine
(ohip-reference §3). The Ministry's published sample number 9876543217 passes. Fixtures use
it or numbers from `generate` (never a real person's number).
"""

from __future__ import annotations

import random

__all__ = ["check_digit", "generate", "is_valid", "masked"]

#: a doubled digit's contribution to the sum (its digits added: 7 -> 14 -> 5)
_DOUBLED = {str(digit): 2 * digit - 9 if digit > 4 else 2 * digit for digit in range(10)}


def check_digit(first_nine: str) -> int:
    """The Luhn check digit for the first nine digits of a health number."""
    if len(first_nine) != 9 or not (first_nine.isascii() and first_nine.isdigit()):
        raise ValueError("expected nine digits")
    # the 1st, 3rd, ... digits are doubled (less 9 when over 9), the others taken as they are
    total = sum(_DOUBLED[char] for char in first_nine[0::2]) + sum(map(int, first_nine[1::2]))
    return (10 - total % 10) % 10


def is_valid(number: str) -> bool:
    """True for a 10-digit number whose last digit is the check digit of the other nine."""
    return (
        len(number) == 10
        and number.isascii()
        and number.isdigit()
        and check_digit(number[:9]) == int(number[9])
    )


def generate(rng: random.Random) -> str:
    """A synthetic number that passes the check digit (for tests and demos only)."""
    first_nine = str(rng.randint(1, 9)) + "".join(str(rng.randint(0, 9)) for _ in range(8))
    return first_nine + str(check_digit(first_nine))


def masked(number: str) -> str:
    """A display form that never shows the whole number: `******3217`."""
    return "*" * max(len(number) - 4, 0) + number[-4:]
