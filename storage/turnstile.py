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
  shared, released at once; held back, it waits in the kernel's queue, not by polling).
  While the receiver holds it, no worker transaction starts, so the receiver waits for the
  one in progress at most.

Several meeting workers on one file also take turns among themselves (`Turns`): a worker
transaction holds a second file's lock exclusively from its first write to its commit or
rollback (the span it holds SQLite's write lock), and a worker that finds it taken waits for
it in the kernel's queue, woken as soon as it is free. Without it, a worker that finds
SQLite's write lock taken sleeps in SQLite's busy handler (1, 2, 5, 10 ms ...) however soon
the lock is free (docs/benchmarks.md, "Issue 18, twelfth round").

Both are a courtesy, not locks anything's correctness rests on: a worker waits at most
`PATIENCE` seconds at the turnstile and `TURN_PATIENCE` for its turn before it goes ahead
and leaves the rest to SQLite's busy timeout, a file that cannot be opened lets everyone
through, and the kernel releases a killed process's hold. PostgreSQL has no single write
lock, no turnstile and no turns.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import select
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, event

from storage.db import TURNS_SUFFIX, TURNSTILE_SUFFIX, sqlite_path
from storage.threads import DaemonThreads

__all__ = [
    "PATIENCE",
    "TURN_PATIENCE",
    "Holder",
    "Turns",
    "Turnstile",
    "turns_of",
    "turnstile_of",
    "yield_to_receiver",
]

#: Longest a worker waits at the turnstile before it goes ahead anyway. The receiver holds
#: it for one journal write, a millisecond or two, and under a flood from one write to the
#: next; the worker's meetings would then wait behind every acknowledgement: past this, the
#: worker begins its transaction and takes its turn at the lock as SQLite decides.
PATIENCE = 0.05
#: Longest a worker transaction waits for its turn (`Turns`). Another worker's transaction
#: takes a millisecond or a few; past this, something is wrong with it, and SQLite's busy
#: timeout decides.
TURN_PATIENCE = 1.0
#: Most waits for a turn under way at once in one process (a worker makes one database call
#: at a time, and one more may overrun).
_MOST_WAITS = 4


class Turnstile:
    """The turnstile file at `path` (created owner-only on first use)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        #: the wait in the kernel's queue under way, if any (`pass_through`)
        self._opening: _Opening | None = None
        self._watch_thread = DaemonThreads(1, name=f"balint-turnstile {path.name}", idle=1.0)

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
        """Wait until no receiver holds the turnstile (at most `patience` seconds).

        Not by polling: in a flood the receiver keeps the turnstile for seconds, and a
        worker that looked every half millisecond woke 2,000 times a second on the cores
        the acknowledgements need (docs/benchmarks.md, "twenty-eighth round"). One thread
        of the process waits in the kernel's queue (a blocking shared `flock`, `_watch`),
        woken when the receiver lets go, and every transaction waiting meanwhile waits for
        its word (`_Opening`).
        """
        descriptor = _open(self.path)
        if descriptor is None:
            return
        try:
            if _lock(descriptor, fcntl.LOCK_SH):
                return
        finally:
            os.close(descriptor)  # releases the shared hold
        with self._lock:
            opening = self._opening
            if opening is None:
                opening = self._opening = _Opening()
                self._watch_thread.submit(self._watch, opening)
            opening.waiting += 1
        try:
            select.select([opening.heard], [], [], patience)
        finally:
            with self._lock:
                opening.waiting -= 1
                opening.close_if_done()

    def _watch(self, opening: _Opening) -> None:
        """Pass through in the kernel's queue, however long it takes, then say so."""
        descriptor = _open(self.path)
        try:
            if descriptor is not None:
                fcntl.flock(descriptor, fcntl.LOCK_SH)
        finally:
            if descriptor is not None:
                os.close(descriptor)
            with self._lock:
                self._opening = None  # a transaction from now on starts a new watch
                opening.open()
                opening.close_if_done()


class _Opening:
    """One watch of the turnstile, which any number of transactions wait on: the reading
    end of its pipe turns readable (end of file) once the watch got through. Waited on with
    `select`, whose time limit is relative: a timed wait on a lock measures its deadline
    by a clock, and never ends where the clock is moved (the tests under `faketime`).
    Guarded by its turnstile's lock."""

    def __init__(self) -> None:
        self.heard, self._tell = os.pipe()
        self.waiting = 0
        self._open = False

    def open(self) -> None:
        """Wake every transaction waiting on it."""
        self._open = True
        os.close(self._tell)

    def close_if_done(self) -> None:
        """Close the reading end once it is open and nobody waits on it any more."""
        if self._open and self.waiting == 0:
            os.close(self.heard)


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


class Turns:
    """The meeting workers' turns at a SQLite file's write lock: the lock file at `path`,
    held exclusively by one worker transaction at a time (see the module docstring).

    A transaction that finds the turn taken waits for it in the kernel's queue (a blocking
    `flock`, on a thread of `_waits`: it cannot be given a time limit itself) and is woken
    as soon as the holder lets go. Not by polling: a worker with a backlog lets go and takes
    the turn back within a fraction of a millisecond, and a poller can miss gap after gap.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._waits = DaemonThreads(_MOST_WAITS, name="balint-turns", idle=1.0)
        self._free = threading.BoundedSemaphore(_MOST_WAITS)

    def take(self, *, patience: float = TURN_PATIENCE) -> int | None:
        """Wait for the turn (at most `patience` seconds) and return the descriptor that
        holds it (closing it gives the turn back), or None: the file could not be opened,
        the wait ran out, or `_MOST_WAITS` waits of this process are under way already (a
        holder that hangs: nobody else queues behind it)."""
        descriptor = _open(self.path)
        if descriptor is None:
            return None
        if _lock(descriptor, fcntl.LOCK_EX):
            return descriptor
        if patience <= 0 or not self._free.acquire(blocking=False):
            os.close(descriptor)
            return None
        wait = _Wait(descriptor)
        try:
            self._waits.submit(wait.in_queue, self._free.release)
        except RuntimeError:  # no thread to wait on
            self._free.release()
            wait.abandon()
            return None
        return descriptor if wait.woken(patience) else None


class _Wait:
    """One wait for the turn, in the kernel's queue on a thread of its own (`in_queue`),
    while the transaction waits at most its patience for word of it (`woken`). Whichever
    of the two finishes last closes what is left: the descriptor of a turn given up on
    (taken too late, the turn goes straight back), the pipe's ends."""

    def __init__(self, descriptor: int) -> None:
        self._descriptor = descriptor
        self._lock = threading.Lock()
        self._state = "waiting"  # -> "taken" | "failed" (in_queue) | "abandoned" (woken)
        self._heard, self._tell = os.pipe()

    def in_queue(self, done: Callable[[], None]) -> None:
        try:
            fcntl.flock(self._descriptor, fcntl.LOCK_EX)
            outcome = "taken"
        except OSError:
            outcome = "failed"
        finally:
            done()
        with self._lock:
            abandoned = self._state == "abandoned"
            if not abandoned:
                self._state = outcome
        if abandoned:
            os.close(self._descriptor)
        else:
            with contextlib.suppress(BrokenPipeError):  # it saw the turn taken, unwoken
                os.write(self._tell, b".")
        os.close(self._tell)

    def woken(self, patience: float) -> bool:
        """Whether the turn was taken within `patience` seconds (else it is given up)."""
        select.select([self._heard], [], [], patience)
        with self._lock:
            state = self._state
            if state == "waiting":
                self._state = "abandoned"
        os.close(self._heard)
        if state == "taken":
            return True
        if state == "failed":
            os.close(self._descriptor)
        return False

    def abandon(self) -> None:
        """Give up before the wait began: close everything."""
        os.close(self._descriptor)
        os.close(self._heard)
        os.close(self._tell)


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


def _beside(engine: Engine, suffix: str) -> Path | None:
    """The file named `suffix` beside `engine`'s SQLite file; None for PostgreSQL or
    in-memory SQLite."""
    if engine.dialect.name != "sqlite":
        return None
    path = sqlite_path(engine.url.render_as_string(hide_password=False))
    return None if path is None else path.with_name(f"{path.name}{suffix}")


def turnstile_of(engine: Engine) -> Turnstile | None:
    """The turnstile beside `engine`'s SQLite file; None for PostgreSQL or in-memory SQLite."""
    path = _beside(engine, TURNSTILE_SUFFIX)
    return None if path is None else Turnstile(path)


def turns_of(engine: Engine) -> Turns | None:
    """The workers' turns at `engine`'s SQLite file; None for PostgreSQL or in-memory SQLite."""
    path = _beside(engine, TURNS_SUFFIX)
    return None if path is None else Turns(path)


def yield_to_receiver(
    engine: Engine, *, patience: float = PATIENCE, turn_patience: float = TURN_PATIENCE
) -> None:
    """Make every transaction on `engine` pass through its turnstile first, waiting at most
    `patience` seconds, and take its turn among the workers before its first write (at
    most `turn_patience` seconds; held until it commits or rolls back): a meeting worker's
    engine. Nothing on PostgreSQL or in-memory SQLite.

    The turn is taken where SQLite's write lock is: Python's sqlite3 begins the file's
    transaction before the first INSERT, UPDATE, DELETE or REPLACE, and SQLite takes the
    write lock there. What a transaction reads before it (WAL: readers never wait for the
    writer) goes on beside another worker's writes, as it did without the turns.
    """
    turnstile = turnstile_of(engine)
    turns = turns_of(engine)
    if turnstile is None or turns is None:
        return
    #: id of the driver's connection -> the descriptor holding its transaction's turn (None:
    #: asked for, and gone ahead without it)
    asked: dict[int, int | None] = {}

    def give_back(driver_connection: object) -> None:
        descriptor = asked.pop(id(driver_connection), None)
        if descriptor is not None:
            os.close(descriptor)

    def before_begin(connection: Connection) -> None:
        give_back(connection.connection.dbapi_connection)  # one a failure left held, if any
        turnstile.pass_through(patience=patience)

    def before_statement(connection: Connection, _cursor: Any, statement: str, *_: Any) -> None:
        driver_connection = connection.connection.dbapi_connection
        if id(driver_connection) in asked or not _writes(statement):
            return
        asked[id(driver_connection)] = turns.take(patience=turn_patience)

    def after_end(connection: Connection) -> None:
        give_back(connection.connection.dbapi_connection)

    def returned(driver_connection: Any, *_args: Any) -> None:
        give_back(driver_connection)

    event.listen(engine, "begin", before_begin)
    event.listen(engine, "before_cursor_execute", before_statement)
    event.listen(engine, "commit", after_end)
    event.listen(engine, "rollback", after_end)
    for pool_event in ("checkin", "invalidate", "close", "detach"):
        event.listen(engine.pool, pool_event, returned)


#: The statements before which Python's sqlite3 begins a transaction (and SQLite takes the
#: write lock): its own rule, on the statement's first word.
_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")


def _writes(statement: str) -> bool:
    return statement.lstrip()[:7].upper().startswith(_WRITES)
