"""One clock: no production module reads the wall clock except `storage.clock`.

Every operation takes its "now" from an injected `Clock`, so a test runs the same on any day
(and `scripts/test-clocks` proves it with the system clock moved), and the property tests
draw the same examples on every run. Monotonic timers for durations (`time.monotonic`,
`time.perf_counter`) are not "now" and are allowed.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from hypothesis import settings

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("bot", "phases", "storage", "webhooks")
WALL_CLOCK = re.compile(r"datetime\.now\(|datetime\.utcnow\(|date\.today\(|time\.time\(")
THE_CLOCK = ROOT / "storage" / "clock.py"


def _sources() -> list[Path]:
    return sorted(p for package in PACKAGES for p in (ROOT / package).rglob("*.py"))


def test_no_module_reads_the_wall_clock_but_the_one_clock() -> None:
    hits = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in _sources()
        if path != THE_CLOCK
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if WALL_CLOCK.search(line)
    ]
    assert hits == [], "read the time from an injected Clock (storage.clock) instead"


def test_the_check_sees_a_wall_clock_read() -> None:
    assert WALL_CLOCK.search("    at = datetime.now(UTC)")
    assert WALL_CLOCK.search("today = date.today()")
    assert not WALL_CLOCK.search("started = time.monotonic()")


def test_the_one_clock_is_timezone_aware_utc() -> None:
    from storage.clock import system_clock

    now = system_clock()
    assert now.utcoffset() is not None and now.utcoffset().total_seconds() == 0


def test_property_tests_draw_the_same_examples_on_every_run() -> None:
    if os.environ.get("BALINT_TEST_EXPLORE"):
        pytest.skip("an exploring run asked for fresh examples")
    assert settings.default.derandomize
    assert settings.default.database is None
