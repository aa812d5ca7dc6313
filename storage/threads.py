"""`DaemonThreads`: threads for database calls that may never return.

A database can hang (a SQLite file locked by another process, a PostgreSQL server that
stops answering), and a thread stuck in such a call cannot be interrupted. The journal
writer (`webhooks.intake`) and the meeting worker (`bot.runtime.database_calls`) therefore make
their calls on these threads, which differ from `ThreadPoolExecutor`'s in two ways: they
are daemon threads, which the interpreter does not join at exit, so a call stuck on a dead
server cannot keep the process from stopping; and, with `idle`, a thread that has had
nothing to do for that long ends, so an executor nobody closes leaves no thread behind.
"""

from __future__ import annotations

import concurrent.futures
import functools
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["DaemonThreads"]

_T = TypeVar("_T")
_Work = tuple[concurrent.futures.Future[Any], Callable[..., Any], tuple[Any, ...]]


class DaemonThreads(concurrent.futures.Executor):
    """Up to `count` daemon threads running submitted calls in the order submitted.

    Args:
        count: most threads at once (a call waits for a free one).
        name: the threads' name prefix.
        idle: seconds a thread waits for work before it ends (None: it stays until `close`).
    """

    def __init__(self, count: int, *, name: str, idle: float | None = None) -> None:
        self._work: queue.SimpleQueue[_Work | None] = queue.SimpleQueue()
        self._count = count
        self._name = name
        self._idle = idle
        self._lock = threading.Lock()
        self._threads: set[threading.Thread] = set()
        self._started = 0
        self._closed = False

    def submit(
        self, fn: Callable[..., _T], /, *args: Any, **kwargs: Any
    ) -> concurrent.futures.Future[_T]:
        future: concurrent.futures.Future[_T] = concurrent.futures.Future()
        with self._lock:
            if self._closed:
                raise RuntimeError(f"{self._name}: closed")
            self._work.put((future, functools.partial(fn, **kwargs) if kwargs else fn, args))
            if len(self._threads) < self._count:
                thread = threading.Thread(
                    target=self._serve, name=f"{self._name}-{self._started}", daemon=True
                )
                self._started += 1
                self._threads.add(thread)
                thread.start()
        return future

    def close(self) -> None:
        """Take no more calls; idle threads end, busy ones after their call."""
        with self._lock:
            self._closed = True
            for _ in self._threads:
                self._work.put(None)

    def _serve(self) -> None:
        me = threading.current_thread()
        while True:
            try:
                item = self._work.get(timeout=self._idle)
            except queue.Empty:
                with self._lock:  # a call submitted meanwhile finds this thread gone
                    if self._work.empty():
                        self._threads.discard(me)
                        return
                continue
            if item is None:
                with self._lock:
                    self._threads.discard(me)
                return
            future, fn, args = item
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn(*args))
            except BaseException as failure:
                future.set_exception(failure)
