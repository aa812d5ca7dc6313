"""The suite's one test clock: a UTC time that moves only when the test says so.

Pass it wherever production takes a `Clock` (`storage.clock`): the service, the simulator,
the Zoom client, `bot.cli.main(clock=...)`. Every "now" in the test then comes from it, so a
test means the same on any day the suite runs.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

__all__ = ["TEST_NOW", "HandClock"]

#: The default start: a fixed moment, never today.
TEST_NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


class HandClock:
    """A settable, callable clock (aware UTC); `advance` and `set` move it forward only."""

    def __init__(self, now: datetime = TEST_NOW) -> None:
        assert now.tzinfo is not None, "the test clock is timezone-aware"
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        """Move forward by a `timedelta(**delta)`."""
        self.set(self.now + timedelta(**delta))

    def set(self, now: datetime) -> None:
        """Move to `now`, which must not be earlier."""
        assert now >= self.now, "time does not go backwards"
        self.now = now
