"""The thread the Meeting SDK lives on, and how asyncio code calls into it.

The Zoom Linux SDK dispatches its callbacks from a GLib main loop and must be called on that
loop's thread: calls from another thread fail (chat sends return SDKERR_WRONG_USAGE, see
zoom-reference.md §4.3). So the SDK gets its own thread running the main loop, and every
call is marshalled onto it: `SdkThread.call(fn)` queues `fn` on the loop and returns an
awaitable for its result, delivered back to the asyncio loop thread-safely. Callbacks that
produce engine events hand them to asyncio the same way (`SdkThread.to_asyncio`).

`MainLoop` is the small surface we need from GLib; `GLibLoop` implements it with PyGObject
(imported lazily: installed with the SDK image, not with the base package). Tests use a
plain-thread implementation with the same semantics.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from bot.errors import ConfigError

__all__ = ["GLibLoop", "MainLoop", "SdkThread"]

logger = logging.getLogger(__name__)

T = TypeVar("T")


class MainLoop(Protocol):
    """The main loop the SDK's callbacks run on."""

    def run(self) -> None:
        """Run the loop on the calling thread until `quit()`."""
        ...

    def quit(self) -> None:
        """Stop the loop (thread-safe)."""
        ...

    def invoke(self, fn: Callable[[], None]) -> None:
        """Run `fn` on the loop thread soon (thread-safe)."""
        ...

    def add_timer(self, seconds: float, fn: Callable[[], bool]) -> int:
        """Call `fn` on the loop thread every `seconds` while it returns True."""
        ...

    def remove_timer(self, handle: int) -> None: ...


class GLibLoop:
    """`MainLoop` on GLib (PyGObject), as the SDK's Linux samples run it."""

    def __init__(self) -> None:
        try:
            from gi.repository import GLib
        except ImportError as missing:
            raise ConfigError(
                "the Meeting SDK bot needs PyGObject (GLib main loop); use the SDK image "
                "(Dockerfile.sdk) or install PyGObject"
            ) from missing
        self._glib: Any = GLib
        self._loop: Any = GLib.MainLoop()

    def run(self) -> None:
        self._loop.run()

    def quit(self) -> None:
        self._glib.idle_add(self._quit_now)

    def _quit_now(self) -> bool:
        self._loop.quit()
        return False

    def invoke(self, fn: Callable[[], None]) -> None:
        def once() -> bool:
            fn()
            return False

        self._glib.idle_add(once)

    def add_timer(self, seconds: float, fn: Callable[[], bool]) -> int:
        handle: int = self._glib.timeout_add(max(1, int(seconds * 1000)), fn)
        return handle

    def remove_timer(self, handle: int) -> None:
        self._glib.source_remove(handle)


class SdkThread:
    """Runs a `MainLoop` on its own thread and marshals calls between it and asyncio.

    Args:
        loop: the main loop (GLib in production).
        aio: the asyncio loop that awaits results and receives events.
    """

    def __init__(self, loop: MainLoop, aio: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.aio = aio
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self.running:
            return
        self._thread = threading.Thread(target=self._run, name="zoom-sdk-loop", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self.loop.run()
        except Exception:
            logger.exception("the SDK main loop stopped with an error")

    def on_loop_thread(self) -> bool:
        return self._thread is not None and threading.current_thread() is self._thread

    async def call(self, fn: Callable[[], T]) -> T:
        """Run `fn` on the loop thread and return (or raise) its result here."""
        future: asyncio.Future[T] = self.aio.create_future()

        def deliver_result(value: T) -> None:
            if not future.done():
                future.set_result(value)

        def deliver_error(error: BaseException) -> None:
            if not future.done():
                future.set_exception(error)

        def run() -> None:
            try:
                value = fn()
            except Exception as error:  # handed to the awaiting coroutine
                self.aio.call_soon_threadsafe(deliver_error, error)
            else:
                self.aio.call_soon_threadsafe(deliver_result, value)

        self.loop.invoke(run)
        return await future

    def to_asyncio(self, fn: Callable[[], None]) -> None:
        """Run `fn` on the asyncio loop (from the loop thread); ignored once it is closed."""
        try:
            self.aio.call_soon_threadsafe(fn)
        except RuntimeError:
            logger.debug("asyncio loop closed; dropped a callback")

    def stop(self, timeout: float = 5.0) -> None:
        """Quit the main loop and wait for its thread."""
        if self._thread is None:
            return
        self.loop.quit()
        self._thread.join(timeout)
        self._thread = None
