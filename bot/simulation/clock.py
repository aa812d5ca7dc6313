"""A virtual clock: time that moves only when the driver says so.

The scenario driver jumps it from one moment of interest to the next (a scenario event or
a wake-up the engine asked for), so a 105-minute session simulates in milliseconds and every
run is reproducible. Anything that needs "now" (the simulated meeting, webhook signatures)
takes `clock.now` as its clock.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from phases.errors import BalintError

__all__ = ["ClockError", "VirtualClock"]


class ClockError(BalintError):
    """The clock was asked to go backwards or given a naive time."""


class VirtualClock:
    """A clock that starts at `start` (timezone-aware) and only moves forward on request."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None or start.utcoffset() is None:
            raise ClockError("the virtual clock needs a timezone-aware start")
        self._now = start

    def now(self) -> datetime:
        """The current virtual time."""
        return self._now

    def advance_to(self, moment: datetime) -> None:
        """Move to `moment`; raises `ClockError` if it is in the past."""
        if moment < self._now:
            raise ClockError(f"the clock cannot go back from {self._now} to {moment}")
        self._now = moment

    def advance(self, delta: timedelta) -> None:
        """Move forward by `delta` (which must not be negative)."""
        self.advance_to(self._now + delta)
