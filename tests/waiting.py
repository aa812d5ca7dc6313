"""Waiting in a test for something another thread or process does: one helper for all."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_until(condition: Callable[[], object], timeout: float = 10.0, step: float = 0.05) -> bool:
    """Whether `condition()` holds within `timeout` seconds, looking every `step` seconds.

    It looks instead of waiting on a lock or an event with a timeout: under faketime
    (scripts/test-clocks) such timed waits never time out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return bool(condition())
