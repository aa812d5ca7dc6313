"""The HTTP listener of `balint-bot serve`: uvicorn with the limits a public endpoint needs.

uvicorn alone keeps a connection that never finishes its request head open forever, and
accepts connections until the process runs out of file descriptors; at that point every
webhook fails and asyncio logs each failed accept. `server_config` therefore builds uvicorn
with:

- a head deadline (`[server] header_timeout_seconds`): a connection that has not sent a
  complete request head that long after it opened, or kept alive, after the first bytes of
  its next head, is closed; so is one that sends more than a body's worth of bytes
  without finishing its head;
- a cap on open connections (`[server] max_connections`, by default the open-file limit less
  `FILE_RESERVE` for the database, logs and the SDK process): at the cap, the connection
  that has waited longest for its request head is closed to make room, and if none is
  waiting, the new one is; a slow client therefore cannot shut out Zoom;
- the keep-alive timeout (`[server] keep_alive_seconds`); the body deadline and the limit on
  requests in progress (503 past it) are the receiver's own (`webhooks.http`);
- forwarded headers (`X-Forwarded-For`, `X-Forwarded-Proto`) believed only from the
  addresses in `[server] trusted_proxies`, and not at all when it is empty;
- uvloop and httptools when they are installed (the default install has them where they
  build), else asyncio and h11; no `server` header;
- every limit it enforces logged at most once a minute, with a count, never a traceback.

`raise_open_file_limit` lifts the soft limit on open files to the hard one first.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import resource
import time
from typing import Any

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from bot.config import ServerSettings

__all__ = [
    "FILE_RESERVE",
    "connection_limit",
    "limited_protocol",
    "raise_open_file_limit",
    "server_config",
]

_log = logging.getLogger(__name__)

#: Open files kept back from connections: database files and sockets, logs, the SDK process.
FILE_RESERVE = 100
#: Bytes of a request head (plus whatever body came with it) read before it must be complete.
_HEAD_SLACK = 64 * 1024


def raise_open_file_limit() -> int:
    """Lift the soft open-file limit to the hard one; returns the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            pass
    return soft


def connection_limit(server: ServerSettings, open_files: int) -> int:
    """The most connections to keep open: the setting, or the open-file limit less a reserve."""
    if server.max_connections > 0:
        return server.max_connections
    if open_files == resource.RLIM_INFINITY or open_files <= 0:
        return 65_536
    return max(16, open_files - FILE_RESERVE)


def server_config(
    app: Any, server: ServerSettings, *, host: str, port: int, open_files: int | None = None
) -> uvicorn.Config:
    """uvicorn's configuration for `app` with the limits of the module docstring.

    Args:
        app: the ASGI app.
        server: the `[server]` settings.
        host: the listen address.
        port: the listen port.
        open_files: the open-file limit in force (default: read it now).
    """
    files = open_files if open_files is not None else resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    trusted = list(server.trusted_proxies)
    _quiet_repeated_asyncio_errors()
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        loop="auto",
        http=limited_protocol(
            _base_protocol(),
            head_timeout=server.header_timeout_seconds,
            max_connections=connection_limit(server, files),
            max_head_bytes=server.max_body_bytes + _HEAD_SLACK,
        ),
        ws="none",
        lifespan="on",
        log_config=None,
        proxy_headers=bool(trusted),
        forwarded_allow_ips=trusted or None,
        timeout_keep_alive=server.keep_alive_seconds,
        timeout_graceful_shutdown=10,
        server_header=False,
        workers=1,
    )


class _Throttled:
    """Logs one kind of event at most once per `every` seconds, with how many happened."""

    def __init__(self, message: str, *, every: float = 60.0) -> None:
        self._message = message
        self._every = every
        self._last = -every
        self._count = 0

    def hit(self) -> None:
        self._count += 1
        moment = time.monotonic()
        if moment - self._last < self._every:
            return
        _log.warning(self._message, extra={"count": self._count})
        self._last = moment
        self._count = 0


def _base_protocol() -> type[asyncio.Protocol]:
    if importlib.util.find_spec("httptools") is not None:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

        return HttpToolsProtocol
    return H11Protocol


def limited_protocol(
    base: type[asyncio.Protocol], *, head_timeout: float, max_connections: int, max_head_bytes: int
) -> type[asyncio.Protocol]:
    """uvicorn's HTTP protocol `base` with the head deadline and the connection cap.

    It relies on what uvicorn's h11 and httptools protocols share: `connections` (the
    server's open connections), `transport`, `cycle` (the request in progress, None before
    the first) and `on_response_complete`. `tests/unit/test_listener.py` checks both.
    """
    evicted = _Throttled("connection limit reached; closed the connection waiting longest")
    refused = _Throttled("connection limit reached; refused a new connection")
    too_slow = _Throttled("closed connections that did not send a request head in time")
    too_big = _Throttled("closed connections whose request head was too large")

    class LimitedProtocol(base):  # type: ignore[valid-type,misc]
        """One connection, with a deadline and a size limit for each request head.

        The deadline counts from the connection's opening, and after a response from the
        first bytes of the next head (until then the connection is idle, and uvicorn's
        keep-alive timeout applies). Its timer is not set again for every request: it stays
        armed from one request to the next and, when it fires before the deadline of the
        head under way, is armed again for the rest; a connection that is idle or in a
        request when it fires has none until its next head begins. Arming and cancelling a
        timer for each request cost the acknowledgement about 1.5 % of the receiver's CPU
        (docs/benchmarks.md, "twenty-ninth round")."""

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            super().connection_made(transport)
            self._head_timer: asyncio.TimerHandle | None = None
            self._head_bytes = 0
            self._opened = time.monotonic()
            #: when the deadline of the head under way began (None: idle after a response)
            self._head_since: float | None = self._opened
            self._arm_head_timer(head_timeout)
            if len(self.connections) > max_connections:
                self._make_room()

        def connection_lost(self, exc: Exception | None) -> None:
            self._cancel_head_timer()
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            if self._waiting_for_head():
                self._head_bytes += len(data)
                if self._head_bytes > max_head_bytes:
                    too_big.hit()
                    self.transport.close()
                    return
                if self._head_since is None:
                    self._head_since = time.monotonic()
                if self._head_timer is None:
                    self._arm_head_timer(head_timeout)
            super().data_received(data)

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._head_bytes = 0
            self._opened = time.monotonic()
            self._head_since = None  # idle from now on: uvicorn's keep-alive timeout applies

        def _waiting_for_head(self) -> bool:
            cycle = self.cycle
            return cycle is None or bool(cycle.response_complete)

        def _arm_head_timer(self, seconds: float) -> None:
            self._head_timer = asyncio.get_running_loop().call_later(seconds, self._head_check)

        def _cancel_head_timer(self) -> None:
            timer = getattr(self, "_head_timer", None)
            if timer is not None:
                timer.cancel()
                self._head_timer = None

        def _head_check(self) -> None:
            self._head_timer = None
            since = self._head_since
            if since is None or not self._waiting_for_head() or self.transport.is_closing():
                return  # idle or in a request: the next head's first bytes arm it again
            left = since + head_timeout - time.monotonic()
            if left >= 0.001:  # a timer is no finer than a millisecond (uvloop's)
                self._arm_head_timer(left)
                return
            too_slow.hit()
            self.transport.close()

        def _make_room(self) -> None:
            waiting = [
                other
                for other in self.connections
                if other is not self
                and isinstance(other, LimitedProtocol)
                and other._waiting_for_head()
                and not other.transport.is_closing()
            ]
            if waiting:
                oldest = min(waiting, key=lambda other: other._opened)
                evicted.hit()
                oldest.transport.close()
            else:
                refused.hit()
                self.transport.close()

    return LimitedProtocol


class _RepeatFilter(logging.Filter):
    """Lets one identical asyncio error through per minute (an accept loop out of files
    would otherwise log the same error thousands of times a second)."""

    def __init__(self, every: float = 60.0) -> None:
        super().__init__()
        self._every = every
        self._seen: dict[str, float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        key = str(record.msg)[:200]
        moment = time.monotonic()
        last = self._seen.get(key)
        if last is not None and moment - last < self._every:
            return False
        if len(self._seen) > 1000:
            self._seen.clear()
        self._seen[key] = moment
        return True


def _quiet_repeated_asyncio_errors() -> None:
    logger = logging.getLogger("asyncio")
    if not any(isinstance(existing, _RepeatFilter) for existing in logger.filters):
        logger.addFilter(_RepeatFilter())
