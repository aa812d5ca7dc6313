"""SQLite's WAL checkpoints on a thread of their own, never inside a commit
(`checkpoint_beside`).

SQLite checkpoints the write-ahead log inside the commit that takes it past
`wal_autocheckpoint` pages (1,000 by default): the committing thread copies the log into
the database file and `fsync`s it before its COMMIT returns. In `serve` that thread is a
meeting worker's step or the receiver's journal write. With 200 meetings at once the log
passed 1,000 pages about five times a second, and one such checkpoint held a worker's step
for 200 ms while the webhooks behind it waited (docs/benchmarks.md, "twenty-fourth round").

An engine given to `checkpoint_beside` instead raises its connections' mark to
`BACKSTOP_PAGES`, reached only if checkpoints here fall behind, and after a commit on it
runs a PASSIVE checkpoint on a thread and connection of its own: one at a time, at most one
every `CHECKPOINT_SECONDS`, and one after the last commit of a burst. A passive checkpoint
waits for no reader or writer (it copies what no reader still needs), so nothing else waits
for it either. The receiver and every meeting worker process each do it for their own
commits. Not for PostgreSQL, which has no such log to keep short. A checkpoint that fails is
logged (its error's type, never its message) and the next commit's tries again. Disposing
the engine drops a checkpoint not yet begun and waits for one under way, so that nothing
reopens the database file afterwards.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from typing import Any

from sqlalchemy import Connection, Engine, event

from storage.db import failure_type, sqlite_path
from storage.threads import DaemonThreads

__all__ = [
    "BACKSTOP_PAGES",
    "CHECKPOINT_SECONDS",
    "DISPOSAL_WAIT",
    "Checkpoints",
    "checkpoint_beside",
]

_log = logging.getLogger(__name__)

#: Shortest time between two checkpoints of one process: a checkpoint copies what the commits
#: of that time wrote (a few hundred pages under a 200-meeting load) and `fsync`s once.
CHECKPOINT_SECONDS = 0.1
#: The connections' `wal_autocheckpoint` once checkpoints run beside them: a commit checkpoints
#: only if the log has grown past 40 MiB, which these checkpoints keep it far from.
BACKSTOP_PAGES = 10_000

#: Longest `Engine.dispose` waits for a checkpoint under way (a passive one takes
#: milliseconds; a hung one is left to finish on its thread).
DISPOSAL_WAIT = 2.0
#: Where a pooled connection's record notes that its transaction is committing.
_COMMITTED = "balint_committed"

_attached: weakref.WeakKeyDictionary[Engine, Checkpoints] = weakref.WeakKeyDictionary()
_attaching = threading.Lock()


class Checkpoints:
    """Passive checkpoints of one SQLite engine, asked for by `after_commit` (any thread).

    A commit while a checkpoint runs, or sooner than `interval` after the last one began, is
    not forgotten: a checkpoint follows it once the interval is up, so the last commits of a
    burst are copied too.

    Args:
        engine: the engine whose database file to checkpoint (on a connection of its own).
        interval: shortest time between the starts of two checkpoints, in seconds.
    """

    def __init__(self, engine: Engine, *, interval: float = CHECKPOINT_SECONDS) -> None:
        # weakly: `checkpoint_beside` keeps this object for as long as the engine lives
        self._engine = weakref.ref(engine)
        self._interval = interval
        self._lock = threading.Lock()
        #: a commit came since the last checkpoint began
        self._wanted = False
        #: the thread is at work (checkpointing, or waiting out the interval)
        self._running = False
        #: a checkpoint is under way on its connection
        self._checkpointing = False
        #: counts the engine's disposals: a checkpoint asked for before one is dropped
        self._disposals = 0
        self._last = float("-inf")
        # idle: a process whose commits stop keeps no thread for it
        self._thread = DaemonThreads(1, name="balint-checkpoint", idle=10.0)

    def after_commit(self) -> None:
        """A commit happened: a checkpoint follows, within `interval`."""
        with self._lock:
            self._wanted = True
            if self._running:
                return
            self._running = True
        self._thread.submit(self._run)

    def disposed(self, *, wait: float = DISPOSAL_WAIT) -> None:
        """The engine was disposed: drop the checkpoint not yet begun, and wait up to `wait`
        seconds for one under way. Afterwards nothing here opens the database file again
        (a test's temporary folder can go) until a commit asks for a checkpoint anew."""
        with self._lock:
            self._wanted = False
            self._disposals += 1
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            with self._lock:
                if not self._checkpointing:
                    return
            time.sleep(0.005)

    def _run(self) -> None:
        while True:
            with self._lock:
                if not self._wanted:
                    self._running = False
                    return
                self._wanted = False
                disposals = self._disposals
            time.sleep(max(0.0, self._last + self._interval - time.monotonic()))
            with self._lock:
                if self._disposals != disposals:  # disposed meanwhile: not for that engine
                    continue
                self._checkpointing = True
            try:
                self._last = time.monotonic()
                self._checkpoint()
            finally:
                with self._lock:
                    self._checkpointing = False

    def _checkpoint(self) -> None:
        engine = self._engine()
        if engine is None:
            return
        try:
            # the driver's connection: no transaction, so none of the engine's events (the
            # commit this answers, a worker's turnstile) apply to it
            connection = engine.raw_connection()
            try:
                cursor = connection.cursor()
                cursor.execute("PRAGMA wal_checkpoint(PASSIVE)")
                cursor.fetchall()
                cursor.close()
            finally:
                connection.close()
        except Exception as failure:  # the next commit's checkpoint tries again
            _log.warning("WAL checkpoint failed", extra={"error_type": failure_type(failure)})


def checkpoint_beside(engine: Engine) -> Checkpoints | None:
    """Checkpoint `engine`'s SQLite file beside its commits from now on (see the module
    docstring); the same object on a second call; None for PostgreSQL or in-memory SQLite.

    The raised mark applies to connections opened from then on: call it before the engine's
    first use.
    """
    if engine.dialect.name != "sqlite":
        return None
    if sqlite_path(engine.url.render_as_string(hide_password=False)) is None:
        return None
    with _attaching:
        checkpoints = _attached.get(engine)
        if checkpoints is not None:
            return checkpoints
        checkpoints = Checkpoints(engine)
        _attached[engine] = checkpoints

    def backstop(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute(f"PRAGMA wal_autocheckpoint = {BACKSTOP_PAGES}")

    # The engine's "commit" event comes before the driver's commit: a checkpoint started
    # there could run before the commit's pages are in the log. So it only marks the
    # connection, and the checkpoint is asked for once the commit is done: when the
    # connection goes back to the pool, or begins its next transaction.
    def committing(connection: Connection) -> None:
        connection.info[_COMMITTED] = True

    def begun(connection: Connection) -> None:
        if connection.info.pop(_COMMITTED, False):
            checkpoints.after_commit()

    def checked_in(_dbapi_connection: Any, record: Any) -> None:
        if record is not None and record.info.pop(_COMMITTED, False):
            checkpoints.after_commit()

    event.listen(engine, "connect", backstop)
    event.listen(engine, "commit", committing)
    event.listen(engine, "begin", begun)
    event.listen(engine.pool, "checkin", checked_in)
    event.listen(engine, "engine_disposed", lambda _engine: checkpoints.disposed())
    return checkpoints
