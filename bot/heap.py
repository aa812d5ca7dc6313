"""`freeze_start_up`, `freeze_imports`: keep the garbage collector's full passes off what
start-up built.

A server process imports FastAPI, SQLAlchemy, pydantic and the engine, about 150,000
objects that live as long as the process. CPython's full collection (generation 2) walks
every tracked object, so each one stopped a meeting worker for 70 to 100 ms; on SQLite the
worker held the database's one write lock meanwhile, and the receiver's acknowledgements
waited behind it (docs/benchmarks.md, "Issue 18, fourth round"). `gc.freeze()` moves what
exists into a permanent generation that collections skip; later objects are collected as
before. What start-up built lives as long as the process; the little of it that dies later
in a reference cycle is never collected, a one-off cost that does not grow.
"""

from __future__ import annotations

import gc

__all__ = ["freeze_imports", "freeze_start_up"]


def freeze_start_up() -> None:
    """Collect start-up's garbage, then freeze the rest; call once, when start-up is done."""
    gc.collect()
    gc.freeze()


def freeze_imports() -> None:
    """Freeze what exists, without collecting first: for a command's process, after imports.

    The `balint-bot` console script imports every command, about 145,000 objects; a full
    collection walks them in about 90 ms, and a claims export over years makes enough
    objects of its own to set one off. Imports leave almost no garbage (a collection right
    after them frees a few dozen objects), so the collection `freeze_start_up` makes first
    would cost a command's every start that much for nothing.
    """
    gc.freeze()
