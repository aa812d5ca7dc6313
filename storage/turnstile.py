"""The receiver's right of way to a SQLite file's one write lock (`Turnstile`).

SQLite lets one connection write at a time and is not fair about who goes next. A meeting
worker with a backlog commits step after step and takes the lock back well within a
millisecond of each commit, while the receiver's journal write (on Zoom's acknowledgement
path) looks again only every millisecond or so: it can miss gap after gap, and the
acknowledgement waits (docs/benchmarks.md, "Issue 18, fourth round").

So a turnstile file beside the database carries an advisory lock (`flock`):

- the receiver takes it exclusively for each journal write, and keeps it until that write
  commits or gives up (`right_of_way`; it only tries, never waits, so the journal's
  deadlines stay as they are: a worker passing through at that instant only delays the
  hold to the receiver's next look at the lock); and in a flood of deliveries, it keeps it
  from one write to the next (`webhooks.intake`, "A flood");
- a meeting worker passes through it before each transaction begins (`pass_through`:
  shared, released at once). While the receiver holds it, no worker transaction starts, so
  the receiver waits for the one in progress at most.

It is a courtesy, not a lock anything's correctness rests on: a worker waits at most
`PATIENCE` seconds for it, a file that cannot be opened lets everyone through, and the
kernel releases a killed process's hold. PostgreSQL has no single write lock and no
turnstile.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event

from storage.db import TURNSTILE_SUFFIX, sqlite_path

__all__ = ["PATIENCE", "Holder", "Turnstile", "turnstile_of", "yield_to_receiver"]

#: Longest a worker waits at the turnstile before it goes ahead anyway. The receiver holds
#: it for one journal write, a millisecond or two, and under a flood from one write to the
#: next; the worker's meetings would then wait behind every acknowledgement: past this, the
#: worker begins its transaction and takes its turn at the lock as SQLite decides.
PATIENCE = 0.05
_PAUSE = 0.0005


class Turnstile:
    """The turnstile file at `path` (created owner-only on first use)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @contextmanager
    def right_of_way(self) -> Iterator[Holder]:
        """The receiver's hold for the block: its `taken()` takes the turnstile exclusively
        unless a worker is passing through that instant (it never waits; call it again at
        the next look), and the block's end lets it go."""
        holder = Holder(self)
        try:
            yield holder
        finally:
            holder.release()

    def pass_through(self, *, patience: float = PATIENCE) -> None:
        """Wait until no receiver holds the turnstile (at most `patience` seconds)."""
        descriptor = _open(self.path)
        if descriptor is None:
            return
        try:
            give_up = time.monotonic() + patience
            while not _lock(descriptor, fcntl.LOCK_SH) and time.monotonic() < give_up:
                time.sleep(_PAUSE)
        finally:
            os.close(descriptor)  # releases the shared hold


class Holder:
    """The receiver's hold on a turnstile, taken by `taken()` (see `Turnstile.right_of_way`)."""

    def __init__(self, turnstile: Turnstile) -> None:
        self._turnstile = turnstile
        self._descriptor: int | None = None

    def taken(self) -> bool:
        """Hold the turnstile if no worker is passing through it this instant."""
        if self._descriptor is not None:
            return True
        descriptor = _open(self._turnstile.path)
        if descriptor is None:
            return False
        if not _lock(descriptor, fcntl.LOCK_EX):
            os.close(descriptor)
            return False
        self._descriptor = descriptor
        return True

    def release(self) -> None:
        if self._descriptor is not None:
            os.close(self._descriptor)
            self._descriptor = None


def _open(path: Path) -> int | None:
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError:
        return None


def _lock(descriptor: int, kind: int) -> bool:
    try:
        fcntl.flock(descriptor, kind | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def turnstile_of(engine: Engine) -> Turnstile | None:
    """The turnstile beside `engine`'s SQLite file; None for PostgreSQL or in-memory SQLite."""
    if engine.dialect.name != "sqlite":
        return None
    path = sqlite_path(engine.url.render_as_string(hide_password=False))
    return None if path is None else Turnstile(path.with_name(f"{path.name}{TURNSTILE_SUFFIX}"))


def yield_to_receiver(engine: Engine, *, patience: float = PATIENCE) -> None:
    """Make every transaction on `engine` pass through its turnstile first, waiting at most
    `patience` seconds (a meeting worker's engine; nothing on PostgreSQL or in-memory
    SQLite)."""
    turnstile = turnstile_of(engine)
    if turnstile is None:
        return

    def before_begin(_connection: Any) -> None:
        turnstile.pass_through(patience=patience)

    event.listen(engine, "begin", before_begin)
