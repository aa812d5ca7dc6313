"""Benchmark: webhook acknowledgement latency at a steady request rate, SQLite journal.

Starts the real receiver (`webhooks.http.create_app`) under uvicorn in a child process on a
fresh, migrated SQLite file, then sends correctly signed, distinct `participant_joined` bodies
open-loop at `--rate` requests per second for `--seconds`, and prints p50/p95/p99/max latency
and the number of journal rows. Open-loop means a slow answer does not slow the sender, so
queueing shows up in the percentiles as it would with Zoom.

    .venv/bin/python bench/webhook_ack.py --rate 500 --seconds 10
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import func, select

from storage.db import make_engine, make_session_factory, session_scope
from storage.migrate import upgrade
from storage.tables.journal import JournalEntry

SECRET = "bench-secret"
SERVER = """
import sys, uvicorn
from bot.config import Settings
from webhooks.http import create_app
settings = Settings(zoom={"webhook_secret_tokens": [sys.argv[2]]}, storage={"url": sys.argv[1]})
uvicorn.run(create_app(settings), host="127.0.0.1", port=int(sys.argv[3]), log_level="warning")
"""


def _body(n: int) -> bytes:
    return json.dumps(
        {
            "event": "meeting.participant_joined",
            "event_ts": 1772643790113 + n,
            "payload": {
                "account_id": "acc",
                "object": {
                    "id": "85746065432",
                    "uuid": "4118UHIiRCAAAtBlDkcVyw==",
                    "host_id": "z8yCxjjyTSiw02QgCfp8uQ",
                    "participant": {
                        "user_id": str(16778240 + n),
                        "user_name": f"Bench Person {n}",
                        "participant_uuid": f"bench-{n}",
                        "join_time": "2026-03-04T17:03:09Z",
                        "email": "",
                    },
                },
            },
        }
    ).encode()


def _headers(body: bytes) -> dict[str, str]:
    ts = str(int(time.time()))
    digest = hmac.new(SECRET.encode(), f"v0:{ts}:".encode() + body, hashlib.sha256).hexdigest()
    return {
        "x-zm-request-timestamp": ts,
        "x-zm-signature": f"v0={digest}",
        "content-type": "application/json",
    }


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of process `pid` so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _server_ack_p99(port: int) -> str:
    """The upper bound of the server's own ack-time histogram bucket holding its p99."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(b"GET /metrics HTTP/1.1\r\nhost: bench\r\nconnection: close\r\n\r\n")
        raw = b""
        while chunk := sock.recv(65536):
            raw += chunk
    buckets: list[tuple[float, float]] = []
    for line in raw.decode().splitlines():
        if line.startswith("balint_webhook_ack_seconds_bucket"):
            upper = line.split('le="', 1)[1].split('"', 1)[0]
            buckets.append((float(upper), float(line.rsplit(" ", 1)[1])))
    total = buckets[-1][1] if buckets else 0.0
    for bound, count in buckets:
        if total and count >= 0.99 * total:
            return f"{bound * 1000:g}ms"
    return "?"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class _Connection:
    """A minimal keep-alive HTTP/1.1 client connection (httpx would cost more CPU than the
    server under test on a small machine, and the sender must not be the bottleneck)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def post(self, path: str, body: bytes, headers: dict[str, str]) -> int:
        head = f"POST {path} HTTP/1.1\r\nhost: bench\r\ncontent-length: {len(body)}\r\n"
        head += "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        self.writer.write(head.encode() + b"\r\n" + body)
        status_line = await self.reader.readline()
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value)
        await self.reader.readexactly(length)
        return int(status_line.split()[1])


async def _run(port: int, rate: int, seconds: float) -> tuple[list[float], list[int]]:
    for _ in range(100):  # wait for the server
        try:
            _, probe = await asyncio.open_connection("127.0.0.1", port)
            probe.close()
            break
        except OSError:
            await asyncio.sleep(0.1)
    idle: asyncio.Queue[_Connection] = asyncio.Queue()
    for _ in range(64):
        idle.put_nowait(_Connection(*await asyncio.open_connection("127.0.0.1", port)))
    latencies: list[float] = []
    statuses: list[int] = []
    bodies = [_body(n) for n in range(int(rate * seconds))]

    async def one(body: bytes, due: float) -> None:
        connection = await idle.get()
        statuses.append(await connection.post("/zoom/webhook", body, _headers(body)))
        latencies.append(time.perf_counter() - due)  # from when it was due: open loop
        idle.put_nowait(connection)

    tasks = []
    start = time.perf_counter()
    for n, body in enumerate(bodies):
        due = start + n / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(body, due)))
    await asyncio.gather(*tasks)
    while not idle.empty():
        idle.get_nowait().writer.close()
    return latencies, statuses


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db_url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        upgrade(db_url)
        port = _free_port()
        server = subprocess.Popen(
            [
                sys.executable,
                "-c",
                SERVER,
                db_url,
                SECRET,
                str(port),
            ],
            env=os.environ | {"PYTHONPATH": str(Path(__file__).resolve().parents[1])},
        )
        try:
            cpu_before = _cpu_seconds(server.pid)
            latencies, statuses = asyncio.run(_run(port, args.rate, args.seconds))
            server_cpu = _cpu_seconds(server.pid) - cpu_before
            server_p99 = _server_ack_p99(port)
        finally:
            server.terminate()
            server.wait(timeout=10)
        engine = make_engine(db_url)
        with session_scope(make_session_factory(engine)) as session:
            rows = session.scalar(select(func.count()).select_from(JournalEntry))
        engine.dispose()
    ordered = sorted(latencies)

    def pct(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000

    ok = sum(1 for status in statuses if status == 200)
    print(
        f"requests={len(ordered)} rate={args.rate}/s ok={ok} journal_rows={rows} "
        f"p50={pct(0.50):.1f}ms p95={pct(0.95):.1f}ms p99={pct(0.99):.1f}ms "
        f"max={ordered[-1] * 1000:.1f}ms "
        f"server_cpu_per_request={server_cpu / len(ordered) * 1000:.2f}ms "
        f"server_side_ack_p99<={server_p99}"
    )
    return 0 if ok == len(ordered) == rows else 1


if __name__ == "__main__":
    raise SystemExit(main())
