"""`DatabaseCalls`: the meeting worker's database calls, off the event loop, each wait bounded.

The worker (`bot.runtime.worker`) and its meeting runtimes (`bot.runtime.durable`) never
touch the database on the event loop, which must stay free to acknowledge Zoom within 3
seconds. Nor may they wait on it without end: a SQLite file locked by another process makes
a call wait up to SQLite's busy timeout, and a PostgreSQL server that stops answering
altogether enforces none of its own timeouts. So:

- each call runs on a daemon thread (`storage.threads.DaemonThreads`: a thread stuck on a
  dead server cannot keep the process from stopping), and its caller waits at most
  `deadline` seconds. Then it gets `DatabaseStalled` carrying the call, which is not
  abandoned: it keeps running on its thread and may still commit;
- while such an overrun call has not returned, every new call is refused at once
  (`DatabaseStalled` without a call): nothing queues up behind a hung call, at most one
  thread per caller hangs, and `stalled` tells `/readyz`. Once a call gets through again,
  every call made before it has finished, so its outcome is known for certain. The runtime
  relies on that: before its next step it reads what became of its overrun call (a claim
  that committed late is carried out, a step that rolled back is done again; see "A
  database that hangs" in `bot.runtime.durable`), which keeps every action exactly once.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

from bot.errors import DatabaseStalled
from storage.threads import DaemonThreads

__all__ = ["DEADLINE_SECONDS", "DatabaseCalls", "DatabaseStalled"]

_log = logging.getLogger(__name__)

_T = TypeVar("_T")

#: How long the worker waits for one database call by default (`[bot] database_timeout_seconds`).
DEADLINE_SECONDS = 10.0


class DatabaseCalls:
    """Runs database calls on daemon threads; `await run(function)` returns its result.

    Args:
        deadline: longest a caller waits for one call, in seconds.
        threads: most calls running at once (the worker makes one at a time; a runtime fed
            from elsewhere, as the SDK listener's `feed_live` is, may add one).
        on_returned: called on the event loop when the last overrun call has returned, so
            that the caller can catch up at once (the worker sweeps).
    """

    def __init__(
        self,
        *,
        deadline: float = DEADLINE_SECONDS,
        threads: int = 2,
        on_returned: Callable[[], None] | None = None,
    ) -> None:
        self.deadline = deadline
        self._on_returned = on_returned
        self._threads = DaemonThreads(threads, name="balint-worker-db", idle=1.0)
        #: calls that overran their deadline and have not returned -> when they started
        self._overrun: dict[concurrent.futures.Future[Any], float] = {}

    @property
    def stalled(self) -> bool:
        """True while a call that overran its deadline has not returned."""
        return bool(self._overrun)

    async def run(self, function: Callable[[], _T]) -> _T:
        """Run `function` on a database thread and return what it returns (or raise what it
        raises).

        Raises:
            DatabaseStalled: it did not finish within the deadline (`call` is set: it goes
                on running), or an earlier call that overran is still running (`call` is
                None: this one never started).
        """
        if self._overrun:
            waited = time.monotonic() - min(self._overrun.values())
            raise DatabaseStalled(f"a database call has not returned for {waited:.1f} s")
        loop = asyncio.get_running_loop()
        started = time.monotonic()
        call = self._threads.submit(function)
        # One future of the loop's, settled by the call's return or by the deadline,
        # whichever comes first. Each of a meeting's steps and actions is a call, and
        # chaining the call's future to an asyncio one (`wrap_future`) and waiting on it
        # with `asyncio.wait` made the meditation's end of 40 meetings cost 24 % more
        # instructions (docs/benchmarks.md, "twentieth round").
        woken = loop.create_future()
        call.add_done_callback(functools.partial(_wake_from_thread, loop, woken))
        deadline = loop.call_later(self.deadline, _wake, woken)
        try:
            await woken
        except asyncio.CancelledError:  # the caller is stopping; the call still runs
            if not call.done():
                self._overran(call, started, loop)
            raise
        finally:
            deadline.cancel()
        if not call.done():
            self._overran(call, started, loop)
            raise DatabaseStalled(
                f"database call not done within {self.deadline:g} s", call=call
            ) from None
        return call.result()

    def _overran(
        self,
        call: concurrent.futures.Future[Any],
        started: float,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self._overrun[call] = started
        _log.error(
            "database call hangs; the meeting worker takes no step until it returns",
            extra={"deadline_seconds": self.deadline},
        )

        def returned(_done: concurrent.futures.Future[Any]) -> None:
            try:
                loop.call_soon_threadsafe(self._returned, call)
            except RuntimeError:  # the loop is closed: nobody is left to tell
                self._overrun.pop(call, None)

        call.add_done_callback(returned)

    def _returned(self, call: concurrent.futures.Future[Any]) -> None:
        started = self._overrun.pop(call, None)
        if started is None:
            return
        failure = call.exception()
        _log.warning(
            "a hung database call returned",
            extra={
                "seconds": round(time.monotonic() - started, 1),
                "error_type": "" if failure is None else type(failure).__name__,
            },
        )
        if not self._overrun and self._on_returned is not None:
            self._on_returned()


def _wake(woken: asyncio.Future[None]) -> None:
    if not woken.done():
        woken.set_result(None)


def _wake_from_thread(
    loop: asyncio.AbstractEventLoop, woken: asyncio.Future[None], _call: object
) -> None:
    """A call returned (on its database thread): wake its caller on the loop."""
    with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
        loop.call_soon_threadsafe(_wake, woken)
