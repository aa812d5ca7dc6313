"""Running the console beside the webhook receiver: one process, two listeners.

`balint-bot serve` runs the receiver's uvicorn server as before and, on its own socket
(`[console] host`, `port`), the console's. The console's socket is bound first, so a port
already in use is one clear error before anything starts. Signals (Ctrl-C, SIGTERM) belong
to the receiver's server; when it stops, the console stops with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Generator

import uvicorn
from fastapi import FastAPI

from bot.errors import ConfigError

__all__ = ["ConsoleServer", "bind", "console_server", "run_beside"]


class ConsoleServer(uvicorn.Server):
    """A uvicorn server that leaves the process's signals to the main server."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def bind(host: str, port: int) -> socket.socket:
    """A listening socket for the console.

    Raises:
        ConfigError: the address cannot be bound (in use, or not this machine's).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
    except OSError as failed:
        listener.close()
        raise ConfigError(
            f"[console] cannot listen on {host}:{port} ({failed.strerror}); set [console] port "
            "to a free port, or [console] enabled = false"
        ) from None
    listener.listen(128)
    listener.setblocking(False)
    return listener


def console_server(app: FastAPI) -> ConsoleServer:
    """The console's uvicorn server (no access log: paths can carry sign-in tokens)."""
    return ConsoleServer(
        uvicorn.Config(app, log_config=None, access_log=False, lifespan="off", ws="none")
    )


async def run_beside(
    main: uvicorn.Server, console: ConsoleServer | None, listener: socket.socket | None
) -> None:
    """Serve `main` (with signals) and `console` on `listener` until `main` stops."""
    if console is None or listener is None:
        await main.serve()
        return
    task = asyncio.create_task(console.serve(sockets=[listener]), name="balint-console")
    try:
        await main.serve()
    finally:
        console.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await task
        listener.close()
