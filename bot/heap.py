"""`freeze_start_up`, `freeze_imports`: keep the garbage collector's full passes off what
start-up built.

A server process imports FastAPI, SQLAlchemy, pydantic and the engine, about 150,000
objects that live as long as the process. CPython's full collection (generation 2) walks
every tracked object, so each one stopped a meeting worker for 70 to 100 ms; on SQLite the
worker held the database's one write lock meanwhile, and the receiver's acknowledgements
waited behind it (docs/benchmarks.md, "Issue 18, fourth round"). `gc.freeze()` moves what
exists into a permanent generation that collections skip; later objects are collected as
before. What start-up built lives as long as the process; the little of it that dies later
in a reference cycle is never collected, a one-off cost that does not grow. A serving
process then gives back the C heap's free pages (`_trim`).

A serving process also collects its youngest generation less often (`YOUNG_THRESHOLD`
instead of CPython's 700 allocations). Almost everything a request or a step allocates is
freed by its reference count as soon as it is done, so a young collection finds mostly what
is still in flight (32 requests' coroutines, futures and dictionaries in a flood) and walks
it each time: 90 of them, about 0.3 ms each, with the older generations' that they set off,
in the first 100 collections of the receiver's closed run of 5,000 deliveries in
`bench.webhooks` (docs/benchmarks.md, "twenty-ninth round"). Fewer, each walking about as
much, cost less in all; garbage in cycles waits a little longer for its collection.
"""

from __future__ import annotations

import gc

__all__ = ["YOUNG_THRESHOLD", "freeze_imports", "freeze_start_up"]

#: Net allocations between two collections of the youngest generation, in a serving process.
YOUNG_THRESHOLD = 10_000


def freeze_start_up() -> None:
    """Collect start-up's garbage, then freeze the rest, and collect the youngest generation
    every `YOUNG_THRESHOLD` allocations; call once, when start-up is done."""
    gc.collect()
    gc.freeze()
    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, oldest)
    _trim()


def _trim() -> None:
    """Hand the C heap's free pages back to the system (glibc's `malloc_trim`).

    Start-up frees a few MiB of the C heap (import-time buffers, the settings' and models'
    schemas being built) that glibc keeps for later; `bench.memory` measured 1 MiB a process
    returned (3 MiB for a receiver and two workers). Elsewhere than glibc (musl, macOS) there
    is no such call, and nothing is done.
    """
    import ctypes  # here: only serving processes pay for it

    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (AttributeError, OSError):
        return


def freeze_imports() -> None:
    """Freeze what exists, without collecting first: for a command's process, after imports.

    The `balint-bot` console script imports every command, about 145,000 objects; a full
    collection walks them in about 90 ms, and a claims export over years makes enough
    objects of its own to set one off. Imports leave almost no garbage (a collection right
    after them frees a few dozen objects), so the collection `freeze_start_up` makes first
    would cost a command's every start that much for nothing.
    """
    gc.freeze()
