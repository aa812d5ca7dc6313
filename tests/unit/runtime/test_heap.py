"""`bot.heap`: what exists when start-up is done is left out of every later collection;
`freeze_start_up` collects start-up's garbage first (and makes young collections rarer),
`freeze_imports` (a command's process) does not; the console script freezes after
importing every command."""

from __future__ import annotations

import gc
import subprocess
import sys
import weakref

from bot.heap import YOUNG_THRESHOLD, freeze_imports, freeze_start_up


class _Cycle:
    def __init__(self) -> None:
        self.me = self


def test_start_up_is_frozen_and_its_garbage_collected_first() -> None:
    garbage = _Cycle()
    gone = weakref.ref(garbage)
    del garbage  # a cycle: only a collection frees it
    thresholds = gc.get_threshold()
    try:
        freeze_start_up()
        assert gone() is None
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold() == (YOUNG_THRESHOLD, *thresholds[1:])
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)


def test_imports_are_frozen_without_a_collection() -> None:
    garbage = _Cycle()
    alive = weakref.ref(garbage)
    del garbage
    try:
        freeze_imports()
        assert gc.get_freeze_count() > 0
        gc.collect()
        assert alive() is not None  # frozen with the rest: never walked again
    finally:
        gc.unfreeze()
        gc.collect()
    assert alive() is None


def test_the_console_script_freezes_every_command_before_it_runs() -> None:
    probe = (
        "import gc, sys\n"
        "from bot.cli import COMMAND_MODULES, start_up\n"
        "start_up()\n"
        "assert all(name in sys.modules for name in COMMAND_MODULES)\n"
        "print(gc.get_freeze_count())\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True
    )
    assert int(done.stdout) > 50_000  # the command modules' imports, not a handful
