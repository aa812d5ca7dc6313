"""The billing package's one error type, a child of the project's root `BalintError`.

Raised for problems that stop a whole export or import (a bad fee table, settings that cannot
make a valid claims file, an unreadable error report). Problems with a single claim are not
exceptions: they are `Problem` values listed beside the claims that are written.
"""

from __future__ import annotations

from phases.errors import BalintError

__all__ = ["BillingError"]


class BillingError(BalintError):
    """A billing export or import cannot proceed; the message says what and why."""
