"""The project's one default clock.

Every operation reads "now" once, from a `Clock` it was given, and stamps everything it writes
with that value (audit entries, `created_at`, export times, leases). Only the outermost layer
(the CLI entry point, `serve`, the join process) picks the clock; it passes `system_clock`
unless a test or the simulator hands it another. Nothing else in the project reads the wall
clock, so a frozen or shifted clock moves every date the same way.

It lives in `storage`, the lowest layer that may read the clock (`phases` is pure and takes
`now` as an argument), so `storage`, `webhooks` and `bot` share it without an upward import.
Durations measured with `time.monotonic`/`perf_counter` are not "now" and do not use it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

__all__ = ["Clock", "system_clock"]

#: A source of the current time: a call returns a timezone-aware UTC datetime.
Clock = Callable[[], datetime]


def system_clock() -> datetime:
    """The wall clock, timezone-aware UTC."""
    return datetime.now(UTC)
