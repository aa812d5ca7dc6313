"""The receiver's journal writer: group commit on worker threads, each wait bounded.

Zoom wants an answer within 3 seconds and the journal must be committed before it, so the
write sits on the acknowledgement path. Requests that arrive while a write is in progress
wait for the next batch, and a batch is written in ONE transaction and one multi-row insert
(`storage.journal.record_many`) on a worker thread: under load this costs one thread
hand-off, one insert and one commit per batch instead of per request (SQLite takes one
writer at a time anyway), and when idle a batch is just one request. The event loop
never touches the database.

Nothing here waits without a deadline, because a database can hang (a SQLite file locked
by another process, a PostgreSQL server that stops answering, a full disk):

- every caller waits at most `deadline` seconds, then gets `JournalBusy` (answered 503, so
  Zoom retries); the record may still be written later, and the retry is then a harmless
  duplicate;
- each batch's transaction narrows the database's own waits to half the deadline
  (`storage.db.bounded_waits`): a locked SQLite file fails fast instead of waiting 5 s,
  early enough for the caller to hear why;
- a batch still running after twice the deadline (a server that answers nothing) is left
  to finish on its thread, and the next batch starts on another; once `threads` batches
  hang at once the writer is `stalled` and refuses at once, until one comes back. A late
  commit is still announced through `on_committed`;
- at most `max_waiting` records queue up; past that, `JournalBusy` at once;
- on SQLite, a batch holds the turnstile (`storage.turnstile`) while it writes, so that no
  meeting worker begins a transaction before the batch had its turn, and refused for the
  file's write lock, it looks again every half millisecond.

A flood (SQLite). While more than `flood_rate` deliveries a second came to the journal over
the last `flood_window` seconds, the writer keeps the turnstile from one batch to the next.
Meanwhile a meeting worker begins a transaction only when its patience runs out
(`storage.turnstile.PATIENCE`, 50 ms), instead of in every gap between two batches. Without
this, under a flood the workers' transactions took the file's lock in those gaps (each
batch then waited for one) and their processing took the CPU the acknowledgements needed
(docs/benchmarks.md, "eighth round"). The deliveries are counted in windows of
`flood_window` seconds, one after another: a window is a flood from the batch that takes it
past `flood_rate * flood_window` deliveries (its rate can then only be more), and the next
window starts as one if the last was. It was decided only when a window ended, so a flood
was noticed a quarter to half a second late, and the workers ran free in that time: most of
a short flood (docs/benchmarks.md, "twenty-ninth round"). Zoom's deadline is the
acknowledgement's; what the workers defer is journaled and processed when the flood passes,
at most a window after. A burst is not a flood: at the end of a meditation every meeting
admits its latecomers at once, and the workers that do it must not wait. An evening of 200
meetings at once (`bench.meetings`) peaks below 1,000 deliveries a second over a quarter of
a second.

If a batch fails on one record (a value the database refuses), its records are retried one
by one, so one bad record cannot refuse the others; a failure of the database itself fails
the batch. A caller that goes away (client disconnect) does not cancel the write: the
record is stored and `on_committed` still hears of it. `probe` tells `/readyz` whether the
journal takes a write now. Uses asyncio (uvicorn's loop).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.exc import DataError, IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from storage import journal
from storage.db import bound_engine, bounded_waits, failure_type
from storage.threads import DaemonThreads
from storage.turnstile import Holder, turnstile_of
from webhooks.errors import JournalBusy
from webhooks.parse import BodyInfo

__all__ = ["FLOOD_RATE", "FLOOD_WINDOW", "JournalBusy", "JournalRecord", "JournalWriter"]

logger = logging.getLogger(__name__)

_Result = tuple[int, bool]

#: Failures that belong to one record, not to the database: retry the batch's others alone.
_RECORD_FAILURES = (DataError, IntegrityError, ValueError, UnicodeError)


@dataclass(frozen=True, slots=True, kw_only=True)
class JournalRecord:
    """One signed delivery, ready for the journal (`redacted`: `body` is not the received one)."""

    received_at: datetime
    info: BodyInfo
    body: bytes
    parsed_ok: bool
    parse_error: str | None
    redacted: bool = False


_Pending = tuple[JournalRecord, "asyncio.Future[_Result]"]

#: SQLite: a flood, in which the writer keeps the turnstile between batches (see "A flood"
#: in the module docstring): more than this many deliveries a second over the last window.
FLOOD_RATE = 1500.0
FLOOD_WINDOW = 0.25

#: SQLite: how long one try waits for the write lock, and the pause between tries.
_SQLITE_LOOK_SECONDS = 0.001
_SQLITE_PAUSE_SECONDS = 0.0005
#: SQLite's result code for a locked database (`SQLITE_BUSY`).
_SQLITE_BUSY = 5


def _busy(failure: OperationalError) -> bool:
    """Whether SQLite refused because another connection holds the lock."""
    return getattr(failure.orig, "sqlite_errorcode", None) == _SQLITE_BUSY


class JournalWriter:
    """Writes `JournalRecord`s in batches; `await write(record)` returns (entry id, is new).

    Args:
        factory: sessions on the journal's database.
        deadline: longest a caller waits, in seconds (see the module docstring).
        max_batch: most records in one transaction.
        max_waiting: most records queued for the next batch.
        threads: most batches in progress at once, hung ones included.
        on_committed: called on the event loop with (record, entry id, is new) once a
            record's transaction has committed, whether or not its caller is still waiting.
            Its exceptions are logged and otherwise ignored.
        announce: PostgreSQL only: in each batch's transaction, `NOTIFY` the meeting uuid of
            every new, parsed entry (`storage.journal.announce`), so the meeting workers of
            every replica are woken when it commits.
        flood_rate, flood_window: SQLite only: keep the turnstile from one batch to the next
            while more than `flood_rate` records a second came over the last `flood_window`
            seconds (see "A flood" above).
        clock: monotonic seconds, for the flood's windows.
    """

    def __init__(
        self,
        factory: sessionmaker[Session],
        *,
        deadline: float = 0.8,
        max_batch: int = 200,
        max_waiting: int = 1000,
        threads: int = 4,
        on_committed: Callable[[JournalRecord, int, bool], None] | None = None,
        announce: bool = False,
        flood_rate: float = FLOOD_RATE,
        flood_window: float = FLOOD_WINDOW,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        # Core connections, not ORM sessions: a batch is one insert, and a session's
        # bookkeeping (its creation, commit and close) cost about as much again
        self._engine = bound_engine(factory)
        self._flood_rate = flood_rate
        self._flood_window = flood_window
        self._clock = clock
        #: the flood's current window: when it began, and the records taken into batches since
        self._window_start = clock()
        self._window_count = 0
        self._flooded = False
        #: the turnstile is kept between batches (see "A flood" in the module docstring)
        self.holding_back_workers = False
        self._announce = announce
        self._poll_locks = self._engine.dialect.name == "sqlite"
        self._turnstile = turnstile_of(self._engine)
        self._deadline = deadline
        self._max_batch = max_batch
        self._max_waiting = max_waiting
        self._threads = threads
        self._on_committed = on_committed
        self._pending: list[_Pending] = []
        self._flusher: asyncio.Task[None] | None = None
        self._executor = DaemonThreads(threads, name="balint-journal")
        self._probe_executor = DaemonThreads(1, name="balint-journal-probe")
        self._running: dict[concurrent.futures.Future[Any], float] = {}
        self._slot_freed = asyncio.Event()
        self._probe: asyncio.Future[None] | None = None

    # -- the acknowledgement path ---------------------------------------------------------

    async def write(self, record: JournalRecord) -> _Result:
        """Commit `record` (with whatever else is waiting) and return its entry id and newness.

        Raises:
            JournalBusy: the journal is stalled, too much is waiting, or the write did not
                finish within the deadline.
            Exception: whatever the database raised for this record (SQLAlchemyError,
                OSError, ...); the caller turns it into a 503.
        """
        if self.stalled:
            raise JournalBusy("journal stalled: every writer thread is waiting on the database")
        if len(self._pending) >= self._max_waiting:
            raise JournalBusy("too many deliveries waiting for the journal")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[_Result] = loop.create_future()
        self._pending.append((record, future))
        if self._flusher is None:
            self._flusher = loop.create_task(self._flush())
        # The caller's wait ends with the future: settled by its batch, failed by this timer,
        # or cancelled with the caller. Either way the record stays queued or in flight, and
        # its batch skips a future already done (`_settle`). A timer on the future itself
        # costs the acknowledgement less than `wait_for` and `shield` around it.
        timer = loop.call_later(self._deadline, _expire, future, self._deadline)
        try:
            return await future
        finally:
            timer.cancel()

    @property
    def stalled(self) -> bool:
        """True while every writer thread is taken (by batches the database does not answer)."""
        return len(self._running) >= self._threads

    @property
    def hung(self) -> int:
        """How many database calls have been running for longer than twice the deadline."""
        limit = time.monotonic() - 2 * self._deadline
        return sum(1 for started in self._running.values() if started < limit)

    async def probe(self, now: datetime) -> bool:
        """True if the journal takes a write now (`storage.journal.probe`, within the deadline).

        One probe at a time: while one hangs, the answer is False without starting another.
        """
        if self._probe is None or self._probe.done():
            loop = asyncio.get_running_loop()
            self._probe = loop.run_in_executor(self._probe_executor, self._run_probe, now)
            self._probe.add_done_callback(_consume)
        try:
            await asyncio.wait_for(asyncio.shield(self._probe), timeout=self._deadline)
        except Exception as failure:
            logger.warning("journal probe failed", extra={"error_type": failure_type(failure)})
            return False
        return True

    def close(self) -> None:
        """Stop taking work; threads still waiting on the database are left behind."""
        self._executor.close()
        self._probe_executor.close()

    # -- batches --------------------------------------------------------------------------

    async def _flush(self) -> None:
        with self._right_of_way() as hold:
            try:
                await self._flush_batches(hold)
            finally:
                self.holding_back_workers = False
                self._flusher = None

    async def _flush_batches(self, hold: Holder | None) -> None:
        """Write what is pending, batch after batch; `hold`, the turnstile kept between
        batches while deliveries come faster than they are written (SQLite)."""
        while self._pending:
            while self.stalled:  # nothing is written meanwhile: nobody is held back for it
                self._keep(hold, False)
                self._slot_freed.clear()
                await self._slot_freed.wait()
            batch = self._pending[: self._max_batch]
            del self._pending[: self._max_batch]
            self._keep(hold, self._flood(len(batch)))
            try:
                results = await self._call(self._write_batch, [r for r, _ in batch], batch)
            except _RECORD_FAILURES as failure:
                if len(batch) == 1:
                    _settle(batch[0][1], failure=failure)
                    continue
                logger.warning(
                    "journal batch failed; writing its records one by one",
                    extra={"batch_size": len(batch), "error_type": failure_type(failure)},
                )
                await self._one_by_one(batch)
                continue
            except Exception as failure:  # the database itself: the whole batch fails
                for _, future in batch:
                    _settle(future, failure=failure)
                continue
            self._deliver(batch, results)

    def _flood(self, records: int) -> bool:
        """Count a batch's `records` into the flood's window; whether this window is a flood
        already, or the last one that ended was (see "A flood" in the module docstring)."""
        now = self._clock()
        elapsed = now - self._window_start
        if elapsed >= self._flood_window:
            self._flooded = self._window_count > self._flood_rate * elapsed
            self._window_start, self._window_count = now, 0
        self._window_count += records
        if self._window_count > self._flood_rate * self._flood_window:
            self._flooded = True
        return self._flooded

    def _right_of_way(self) -> contextlib.AbstractContextManager[Holder | None]:
        """A hold on the turnstile for a block (`Turnstile.right_of_way`); None without one."""
        return self._turnstile.right_of_way() if self._turnstile else contextlib.nullcontext()

    def _keep(self, hold: Holder | None, wanted: bool) -> None:
        """Keep the turnstile between batches if `wanted` (and no worker is passing through
        it this instant); let it go otherwise. While it is kept, a batch's own try at it
        (`_write_batch`) fails, harmlessly: the turnstile is already held for that batch."""
        if hold is None:
            return
        self.holding_back_workers = wanted and hold.taken()
        if not self.holding_back_workers:
            hold.release()

    async def _one_by_one(self, batch: list[_Pending]) -> None:
        for record, future in batch:
            try:
                results = await self._call(self._write_batch, [record], [(record, future)])
            except Exception as single_failure:
                _settle(future, failure=single_failure)
            else:
                self._deliver([(record, future)], results)

    def _deliver(self, batch: list[_Pending], results: list[_Result]) -> None:
        for (record, future), result in zip(batch, results, strict=True):
            self._committed(record, result)
            _settle(future, result=result)

    async def _call(
        self,
        function: Callable[[list[JournalRecord]], list[_Result]],
        records: list[JournalRecord],
        batch: list[_Pending],
    ) -> list[_Result]:
        """Run a batch on a writer thread; give up waiting after twice the deadline.

        A batch given up on keeps its thread until the database answers; if it then
        commits, `on_committed` hears of its records all the same.
        """
        loop = asyncio.get_running_loop()
        started = self._executor.submit(function, records)
        self._running[started] = time.monotonic()
        started.add_done_callback(lambda done: loop.call_soon_threadsafe(self._release, done))
        outcome = asyncio.wrap_future(started, loop=loop)
        try:
            return await asyncio.wait_for(asyncio.shield(outcome), timeout=2 * self._deadline)
        except TimeoutError:
            logger.error(
                "journal write hangs; continuing on another thread",
                extra={"batch_size": len(batch), "hung": self.hung + 1},
            )
            outcome.add_done_callback(lambda late: self._late(batch, late))
            raise JournalBusy("the database does not answer") from None

    def _release(self, done: concurrent.futures.Future[Any]) -> None:
        self._running.pop(done, None)
        self._slot_freed.set()

    def _late(self, batch: list[_Pending], outcome: asyncio.Future[list[_Result]]) -> None:
        if outcome.cancelled() or outcome.exception() is not None:
            return
        logger.warning("a hung journal write committed late", extra={"batch_size": len(batch)})
        for (record, _), result in zip(batch, outcome.result(), strict=True):
            self._committed(record, result)

    def _committed(self, record: JournalRecord, result: _Result) -> None:
        if self._on_committed is None:
            return
        try:
            self._on_committed(record, *result)
        except Exception:
            logger.exception("journal on_committed callback failed")

    def _write_batch(self, records: list[JournalRecord]) -> list[_Result]:
        deliveries = [
            journal.Delivery(
                received_at=record.received_at,
                event=record.info.event,
                event_ts=record.info.event_ts,
                meeting_uuid=record.info.meeting_uuid,
                dedupe_key=record.info.dedupe_key,
                body=record.body,
                parsed_ok=record.parsed_ok,
                parse_error=record.parse_error,
                redacted=record.redacted,
            )
            for record in records
        ]
        if not self._poll_locks:
            return self._write_once(records, deliveries, wait=self._deadline / 2)
        # SQLite: its own busy handler sleeps ever longer (up to 100 ms) between looks at a
        # lock, and a meeting worker writing step after step takes the lock back in the gaps
        # it leaves: look again every half millisecond instead, until half the deadline,
        # holding the turnstile that keeps the workers from starting another transaction
        # meanwhile (`storage.turnstile`), taken before the first look: a worker that began
        # while that look waited would be one more to wait for. Half the deadline from the
        # first refusal, as SQLite's own wait would count it (a batch that hung and then
        # resumes still gets its full wait for the lock).
        give_up: float | None = None
        with self._right_of_way() as turn:
            while True:
                if turn is not None:
                    turn.taken()  # from the first try on, if no worker is passing through
                try:
                    return self._write_once(records, deliveries, wait=_SQLITE_LOOK_SECONDS)
                except OperationalError as failure:
                    if not _busy(failure):
                        raise
                    moment = time.monotonic()
                    if give_up is None:
                        give_up = moment + self._deadline / 2
                    elif moment >= give_up:
                        raise
                time.sleep(_SQLITE_PAUSE_SECONDS)

    def _write_once(
        self, records: list[JournalRecord], deliveries: list[journal.Delivery], *, wait: float
    ) -> list[_Result]:
        with self._engine.begin() as connection:
            with bounded_waits(connection, seconds=wait):
                results = journal.record_many(connection, deliveries)
                if self._announce:
                    journal.announce(
                        connection,
                        {
                            record.info.meeting_uuid
                            for record, (_id, is_new) in zip(records, results, strict=True)
                            if is_new and record.parsed_ok and record.info.meeting_uuid
                        },
                    )
                return results

    def _run_probe(self, now: datetime) -> None:
        with self._engine.begin() as connection:
            with bounded_waits(connection, seconds=self._deadline / 2):
                journal.probe(connection, now=now)


def _consume(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


def _expire(future: asyncio.Future[_Result], deadline: float) -> None:
    if not future.done():
        future.set_exception(JournalBusy(f"journal write not done within {deadline:g} s"))


def _settle(
    future: asyncio.Future[_Result],
    *,
    result: _Result | None = None,
    failure: BaseException | None = None,
) -> None:
    if future.done():  # the caller was cancelled; the outcome is in the journal anyway
        return
    if failure is not None:
        future.set_exception(failure)
    else:
        assert result is not None
        future.set_result(result)
