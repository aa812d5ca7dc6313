"""`bot.heap.freeze_start_up`: what exists when start-up is done is left out of every later
collection; garbage made before it is collected first, not frozen with the rest."""

from __future__ import annotations

import gc
import weakref

from bot.heap import freeze_start_up


class _Cycle:
    def __init__(self) -> None:
        self.me = self


def test_start_up_is_frozen_and_its_garbage_collected_first() -> None:
    garbage = _Cycle()
    gone = weakref.ref(garbage)
    del garbage  # a cycle: only a collection frees it
    try:
        freeze_start_up()
        assert gone() is None
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
