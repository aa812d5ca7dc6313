"""The listener's limits, on both of uvicorn's HTTP protocols (h11 and httptools).

A real uvicorn server runs in this process on a free loopback port, with a tiny app, and is
spoken to over real sockets: a connection that never finishes its request head is closed,
a connection that sends too much head is closed, at the connection cap the one that has
waited longest for its head makes room, and forwarded headers are believed only from
`trusted_proxies`.
"""

from __future__ import annotations

import asyncio
import resource
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from bot.config import ServerSettings
from bot.listener import FILE_RESERVE, connection_limit, limited_protocol, server_config

pytestmark = pytest.mark.anyio


async def _app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    client = scope["client"][0] if scope.get("client") else ""
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": client.encode()})


@asynccontextmanager
async def _serving(config: uvicorn.Config) -> AsyncIterator[int]:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[listener]))
    for _ in range(200):
        if server.started:
            break
        await asyncio.sleep(0.01)
    try:
        yield port
    finally:
        server.should_exit = True
        await task
        listener.close()


def _config(base: type[asyncio.Protocol], *, cap: int = 100, head: float = 0.3) -> uvicorn.Config:
    protocol = limited_protocol(base, head_timeout=head, max_connections=cap, max_head_bytes=4096)
    return uvicorn.Config(_app, http=protocol, lifespan="off", log_config=None, access_log=False)


async def _closed_within(connection: socket.socket, seconds: float) -> bool:
    connection.setblocking(False)
    loop = asyncio.get_running_loop()
    try:
        data = await asyncio.wait_for(loop.sock_recv(connection, 100), seconds)
    except (TimeoutError, ConnectionResetError):
        return False
    finally:
        connection.close()
    return data == b""


BASES = [pytest.param(H11Protocol, id="h11"), pytest.param(HttpToolsProtocol, id="httptools")]


@pytest.mark.parametrize("base", BASES)
async def test_a_head_not_finished_in_time_is_closed(base: type[asyncio.Protocol]) -> None:
    async with _serving(_config(base)) as port:
        silent = socket.create_connection(("127.0.0.1", port))
        partial = socket.create_connection(("127.0.0.1", port))
        partial.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
        started = time.monotonic()
        assert await _closed_within(silent, 2) and await _closed_within(partial, 2)
        assert time.monotonic() - started < 1.5
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            assert (await client.get("/")).status_code == 200  # a prompt client is served


@pytest.mark.parametrize("base", BASES)
async def test_a_kept_alive_connection_gets_a_new_head_deadline(
    base: type[asyncio.Protocol],
) -> None:
    async with _serving(_config(base)) as port:
        connection = socket.create_connection(("127.0.0.1", port))
        connection.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        await asyncio.sleep(0.2)
        assert connection.recv(1000).startswith(b"HTTP/1.1 200")
        await asyncio.sleep(0.2)  # longer than the head deadline, counted from the open
        connection.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")  # starts a second head, slowly
        assert await _closed_within(connection, 2)


@pytest.mark.parametrize("base", BASES)
async def test_a_head_begun_late_keeps_its_own_deadline(base: type[asyncio.Protocol]) -> None:
    """The deadline's timer stays armed from the opening: when it fires during a later head,
    that head still has the rest of its own deadline."""
    async with _serving(_config(base, head=1.0)) as port:
        connection = socket.create_connection(("127.0.0.1", port))
        connection.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        await asyncio.sleep(0.6)
        assert connection.recv(1000).startswith(b"HTTP/1.1 200")
        connection.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")  # due 1.6 s after the opening
        await asyncio.sleep(0.6)  # past the opening's deadline
        connection.setblocking(False)
        with pytest.raises(BlockingIOError):  # open, nothing to read
            connection.recv(100)
        assert await _closed_within(connection, 2)


@pytest.mark.parametrize("base", BASES)
async def test_prompt_requests_on_one_connection_outlast_the_head_deadline(
    base: type[asyncio.Protocol],
) -> None:
    async with _serving(_config(base, head=0.3)) as port:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            for _ in range(8):  # one connection, kept alive, for 0.8 s
                assert (await client.get("/")).status_code == 200
                await asyncio.sleep(0.1)
            assert (await client.get("/")).status_code == 200


@pytest.mark.parametrize("base", BASES)
async def test_too_much_head_is_closed(base: type[asyncio.Protocol]) -> None:
    async with _serving(_config(base, head=5)) as port:
        connection = socket.create_connection(("127.0.0.1", port))
        connection.sendall(b"GET / HTTP/1.1\r\n" + b"X-Padding: " + b"a" * 8000)
        assert await _closed_within(connection, 2)


@pytest.mark.parametrize("base", BASES)
async def test_at_the_cap_the_longest_waiting_connection_makes_room(
    base: type[asyncio.Protocol],
) -> None:
    async with _serving(_config(base, cap=4, head=30)) as port:
        waiting = [socket.create_connection(("127.0.0.1", port)) for _ in range(4)]
        for connection in waiting:
            connection.sendall(b"GET / HTTP/1.1\r\n")
            await asyncio.sleep(0.02)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            assert (await client.get("/")).status_code == 200
        try:
            assert await _closed_within(waiting[0], 1)  # the oldest made room
        finally:
            for connection in waiting:
                connection.close()


async def test_forwarded_headers_only_from_trusted_proxies() -> None:
    headers = {"x-forwarded-for": "203.0.113.9"}
    for trusted, seen in (([], "127.0.0.1"), (["127.0.0.0/8"], "203.0.113.9")):
        config = server_config(
            _app, ServerSettings(trusted_proxies=trusted), host="127.0.0.1", port=0
        )
        config.lifespan = "off"
        async with _serving(config) as port:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
                assert (await client.get("/", headers=headers)).text == seen


def test_the_config_has_no_server_header_and_the_settings_limits() -> None:
    server = ServerSettings(keep_alive_seconds=7, trusted_proxies=[])
    config = server_config(_app, server, host="127.0.0.1", port=8000, open_files=1024)
    assert (config.server_header, config.proxy_headers, config.timeout_keep_alive) == (
        False,
        False,
        7,
    )


def test_the_connection_cap_follows_the_open_file_limit() -> None:
    assert connection_limit(ServerSettings(), 1024) == 1024 - FILE_RESERVE
    assert connection_limit(ServerSettings(), 50) == 16
    assert connection_limit(ServerSettings(max_connections=300), 1024) == 300
    assert connection_limit(ServerSettings(), resource.RLIM_INFINITY) == 65_536
