"""Shared helpers of the benchmarks: ports, processes, load, percentiles, memory.

Everything here runs on loopback (127.0.0.1) and every loop is bounded in count and in
time. `ServeProcess` starts the real `balint-bot serve` command as a child process on a
fresh, migrated SQLite file (or any other small uvicorn app, for a baseline, under the
same uvicorn settings); `closed_loop` and `open_loop` post signed webhooks to it with a
small keep-alive HTTP/1.1 client. The client is a few lines over asyncio streams rather
than httpx on purpose: on a two-core machine httpx spends more CPU per request than the
server under test, so the sender, not the server, would set the throughput (the receiver
engineer measured this for the first load generator, which this module folds in).
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import IO

from sqlalchemy import func, select

from storage.db import make_engine, make_session_factory, session_scope
from storage.migrate import upgrade
from storage.tables.journal import JournalEntry
from webhooks.signature import sign

__all__ = [
    "ROOT",
    "SECRET",
    "WEBHOOK_PATH",
    "BenchError",
    "Connection",
    "LoadResult",
    "ServeProcess",
    "closed_loop",
    "cpu_seconds",
    "family",
    "family_cpu_seconds",
    "family_pss_mib",
    "family_rss_mib",
    "flavour",
    "free_port",
    "journal_rows",
    "open_loop",
    "participant_body",
    "percentile",
    "rss_mib",
    "unprocessed_rows",
    "signed_headers",
    "stop_on_sigterm",
    "summary",
]

ROOT = Path(__file__).resolve().parents[1]
SECRET = "bench-secret-token"
WEBHOOK_PATH = "/zoom/webhook"

#: `balint-bot serve` as `bot/commands/serve_cmd.py` runs it, for an app given by import path.
#: The baseline runs under exactly the same `uvicorn.run` arguments.
_UVICORN = """
import sys, uvicorn
module, name, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
app = getattr(__import__(module, fromlist=[name]), name)()
uvicorn.run(app, host="127.0.0.1", port=port, workers=1, log_config=None, proxy_headers=True)
"""


class BenchError(RuntimeError):
    """A benchmark could not run (server did not start, nothing answered)."""


def stop_on_sigterm() -> None:
    """Let SIGTERM (what `timeout` and `kill` send) end a benchmark as an exception would, so
    that its `with` and `finally` blocks stop the servers it started. Python's default is
    to die at once, and then `balint-bot serve` and its meeting workers outlive the
    benchmark, stepping its backlog at a core's full speed and skewing every run after it.
    Call it first in a benchmark's `main`, on the main thread."""

    def stop(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, stop)


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def percentile(values: Sequence[float], p: float) -> float:
    """The `p`-th percentile (0..100) of `values`, nearest-rank; 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-p * len(ordered) // 100))))
    return ordered[rank - 1]


def rss_mib(pid: int) -> tuple[float, float]:
    """(current, peak) resident memory of process `pid` in MiB (`VmRSS`, `VmHWM`)."""
    found: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            found[name] = int(value.split()[0]) / 1024
    return found.get("VmRSS", 0.0), found.get("VmHWM", 0.0)


def family(pid: int) -> list[int]:
    """`pid` and its live descendants (serve's meeting worker processes), from `/proc`."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z":
            parents.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(parents.get(current, []))
    return found


def family_rss_mib(pid: int) -> float:
    """The resident memory of `pid` and all its descendants together, in MiB."""
    total = 0.0
    for member in family(pid):
        try:
            total += rss_mib(member)[0]
        except OSError:
            continue
    return total


def family_pss_mib(pid: int) -> float:
    """The proportional set size of `pid` and its descendants together, in MiB: pages they
    share (the interpreter's libraries) counted once, split among them."""
    total = 0.0
    for member in family(pid):
        try:
            text = Path(f"/proc/{member}/smaps_rollup").read_text()
        except OSError:
            continue
        for line in text.splitlines():
            if line.startswith("Pss:"):
                total += int(line.split()[1]) / 1024
    return total


def family_cpu_seconds(pid: int) -> float:
    """User + system CPU time of `pid` and its live descendants so far."""
    total = 0.0
    for member in family(pid):
        try:
            total += cpu_seconds(member)
        except OSError:
            continue
    return total


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process `pid` so far (Linux `/proc/<pid>/stat`)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def signed_headers(body: bytes, *, secret: str = SECRET, at: float | None = None) -> dict[str, str]:
    """Zoom's signing headers for `body` at `at` (epoch seconds; default now)."""
    timestamp = str(int(time.time() if at is None else at))
    return {
        "x-zm-request-timestamp": timestamp,
        "x-zm-signature": sign(secret, timestamp, body),
        "content-type": "application/json",
    }


def participant_body(n: int, *, meeting_uuid: str = "bench-meeting-uuid==") -> bytes:
    """A distinct `meeting.participant_joined` body (number `n`), shaped like Zoom's."""
    now = datetime.now(UTC)
    return json.dumps(
        {
            "event": "meeting.participant_joined",
            "event_ts": int(now.timestamp() * 1000) + n,
            "payload": {
                "account_id": "lAAAAAAAAAAAAA-bcde12",
                "object": {
                    "id": "85746065432",
                    "uuid": meeting_uuid,
                    "host_id": "z8yCxjjyTSiw02QgCfp8uQ",
                    "topic": "Bench group",
                    "type": 8,
                    "start_time": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "timezone": "America/Toronto",
                    "duration": 105,
                    "participant": {
                        "user_id": str(16778240 + n),
                        "user_name": f"Bench Person {n}",
                        "participant_uuid": f"bench-{n}",
                        "id": "",
                        "join_time": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
                        "email": "",
                    },
                },
            },
        }
    ).encode()


class Connection:
    """One keep-alive HTTP/1.1 connection that POSTs and reads the status and body."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> Connection:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def post(self, path: str, body: bytes, headers: dict[str, str]) -> int:
        head = f"POST {path} HTTP/1.1\r\nhost: bench\r\ncontent-length: {len(body)}\r\n"
        head += "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        self.writer.write(head.encode() + b"\r\n" + body)
        status_line = await self.reader.readline()
        if not status_line:
            raise BenchError("the server closed the connection")
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value)
        await self.reader.readexactly(length)
        return int(status_line.split()[1])

    def close(self) -> None:
        self.writer.close()


@dataclass(slots=True)
class LoadResult:
    """What a load run saw: one latency (seconds) and one status per answered request."""

    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    errors: int = 0

    @property
    def ok(self) -> int:
        return sum(1 for status in self.statuses if status == 200)

    @property
    def rate(self) -> float:
        return len(self.statuses) / self.seconds if self.seconds else 0.0


def summary(result: LoadResult) -> str:
    """`requests=… ok=… req/s=… p50=…ms p99=…ms` for a load run."""
    ms = [latency * 1000 for latency in result.latencies]
    return (
        f"requests={len(result.statuses)} ok={result.ok} errors={result.errors} "
        f"req/s={result.rate:.0f} p50={percentile(ms, 50):.2f}ms "
        f"p99={percentile(ms, 99):.2f}ms max={max(ms, default=0.0):.2f}ms"
    )


async def closed_loop(
    port: int,
    bodies: Sequence[bytes],
    *,
    concurrency: int,
    time_limit: float,
    path: str = WEBHOOK_PATH,
) -> LoadResult:
    """Post `bodies` (each once, signed) with `concurrency` connections, each sending its
    next request when the previous one is answered; stops early after `time_limit` seconds.
    Latency is from sending to the answer: this run measures throughput."""
    result = LoadResult()
    queue = list(reversed(bodies))
    deadline = time.perf_counter() + time_limit

    async def lane() -> None:
        connection = await Connection.open(port)
        try:
            while queue and time.perf_counter() < deadline:
                body = queue.pop()
                sent = time.perf_counter()
                try:
                    status = await connection.post(path, body, signed_headers(body))
                except (OSError, BenchError, asyncio.IncompleteReadError):
                    result.errors += 1
                    connection.close()
                    connection = await Connection.open(port)
                    continue
                result.latencies.append(time.perf_counter() - sent)
                result.statuses.append(status)
        finally:
            connection.close()

    start = time.perf_counter()
    await asyncio.gather(*(lane() for _ in range(concurrency)))
    result.seconds = time.perf_counter() - start
    return result


async def open_loop(
    port: int,
    bodies: Sequence[bytes],
    *,
    rate: float,
    connections: int = 64,
    time_limit: float,
    path: str = WEBHOOK_PATH,
) -> LoadResult:
    """Post `bodies` at a fixed `rate` per second whatever the answers (as Zoom does), over
    a pool of keep-alive `connections`; latency counts from when a request was due, so
    queueing shows. Stops sending after `time_limit` seconds."""
    result = LoadResult()
    idle: asyncio.Queue[Connection] = asyncio.Queue()
    for _ in range(connections):
        idle.put_nowait(await Connection.open(port))

    async def one(body: bytes, due: float) -> None:
        connection = await idle.get()
        try:
            status = await connection.post(path, body, signed_headers(body))
        except (OSError, BenchError, asyncio.IncompleteReadError):
            result.errors += 1
            connection.close()
            idle.put_nowait(await Connection.open(port))
            return
        result.latencies.append(time.perf_counter() - due)
        result.statuses.append(status)
        idle.put_nowait(connection)

    tasks: list[asyncio.Task[None]] = []
    start = time.perf_counter()
    for n, body in enumerate(bodies):
        due = start + n / rate
        if due - start > time_limit:
            break
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(body, due)))
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=time_limit + 30)
    result.seconds = time.perf_counter() - start
    while not idle.empty():
        idle.get_nowait().close()
    return result


def unprocessed_rows(url: str) -> int:
    """How many webhooks the journal at `url` holds that the workers have not processed."""
    engine = make_engine(url)
    try:
        with session_scope(make_session_factory(engine)) as session:
            query = select(func.count()).select_from(JournalEntry)
            return int(session.scalar(query.where(JournalEntry.processed_at.is_(None))) or 0)
    finally:
        engine.dispose()


def journal_rows(url: str) -> int:
    """How many webhooks the journal at `url` holds."""
    engine = make_engine(url)
    try:
        with session_scope(make_session_factory(engine)) as session:
            return int(session.scalar(select(func.count()).select_from(JournalEntry)) or 0)
    finally:
        engine.dispose()


_CONFIG = """
[zoom]
webhook_secret_tokens = ["{secret}"]
[storage]
url = "{url}"
[server]
timestamp_window_seconds = 7200
[group]
meeting_id = "85746065432"
[group.calendar]
breaks = []
[bot]
meeting_adapter = "none"
[log]
level = "WARNING"
[console]
enabled = false
"""


def _keys(table: dict[str, object] | None) -> str:
    """TOML lines for a table's keys (values written as JSON, which TOML reads the same)."""
    return "".join(f"{key} = {json.dumps(value)}\n" for key, value in (table or {}).items())


def flavour() -> str:
    """uvicorn's event loop and HTTP parser here (`auto` picks these, serve's listener too)."""
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    http = "httptools" if importlib.util.find_spec("httptools") else "h11"
    return f"{loop}+{http}"


class ServeProcess:
    """A child process serving HTTP on a free loopback port; a context manager.

    `ServeProcess.serve()` runs the real `balint-bot serve` command on a fresh, migrated
    SQLite file in a temporary directory (`url`); `ServeProcess.app("module", "factory")`
    runs `factory()` under the same `uvicorn.run` settings as serve (the baseline).
    """

    def __init__(
        self,
        argv: list[str],
        *,
        port: int,
        url: str = "",
        tmp: Path | None = None,
        env: dict[str, str] | None = None,
    ):
        self.argv = argv
        self.extra_env = dict(env or {})
        self.port = port
        self.url = url
        self._tmp = tmp
        self._holder: tempfile.TemporaryDirectory[str] | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @classmethod
    def serve(
        cls,
        *,
        secret: str = SECRET,
        url: str | None = None,
        server: dict[str, object] | None = None,
        agenda: dict[str, object] | None = None,
        env: dict[str, str] | None = None,
    ) -> ServeProcess:
        """`balint-bot serve` on a fresh SQLite file, or on `url` (migrated here); `server`:
        extra `[server]` keys (`meeting_workers`, `instance_id`); `agenda`: `[agenda]` keys;
        `env`: added to the process's environment (`BALINT_DATA_KEY`)."""
        holder = tempfile.TemporaryDirectory(prefix="balint-bench-")
        tmp = Path(holder.name)
        url = url if url is not None else f"sqlite:///{tmp / 'bench.db'}"
        upgrade(url)
        config = tmp / "bench.toml"
        text = _CONFIG.format(secret=secret, url=url)
        text = text.replace("[server]\n", "[server]\n" + _keys(server), 1)
        if agenda:
            text += "[agenda]\n" + _keys(agenda)
        config.write_text(text)
        port = free_port()
        argv = [
            sys.executable,
            "-c",
            "from bot.cli import run; run()",
            "--config",
            str(config),
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ]
        made = cls(argv, port=port, url=url, tmp=tmp, env=env)
        made._holder = holder
        return made

    @classmethod
    def app(cls, module: str, factory: str, *, env: dict[str, str] | None = None) -> ServeProcess:
        port = free_port()
        argv = [sys.executable, "-c", _UVICORN, module, factory, str(port)]
        return cls(argv, port=port, env=env)

    @property
    def pid(self) -> int:
        if self.process is None:
            raise BenchError("not started")
        return self.process.pid

    def __enter__(self) -> ServeProcess:
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith("BALINT_") or key == "BALINT_DATA_KEY"
        }
        env["PYTHONPATH"] = str(ROOT)
        env.update(self.extra_env)
        self._log = tempfile.TemporaryFile()  # closed in cleanup()
        self.process = subprocess.Popen(
            self.argv, env=env, stdout=subprocess.DEVNULL, stderr=self._log
        )
        try:
            self._wait_ready(time_limit=30.0)
        except BaseException:  # `__exit__` is not called then: stopped here, even by SIGTERM
            self.stop()
            raise
        return self

    def _wait_ready(self, *, time_limit: float) -> None:
        assert self.process is not None
        deadline = time.monotonic() + time_limit
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                error = self.stderr()
                raise BenchError(f"the server exited with {self.process.returncode}: {error}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                    sock.sendall(b"GET /healthz HTTP/1.1\r\nhost: bench\r\n\r\n")
                    if sock.recv(64).startswith(b"HTTP/1.1"):
                        return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise BenchError(f"the server did not answer on port {self.port} in {time_limit}s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)

    def stderr(self) -> str:
        """What the child wrote to stderr so far (its last 4,000 characters)."""
        if self._log is None:
            return ""
        self._log.seek(0)
        return self._log.read().decode(errors="replace")[-4000:]

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()

    def cleanup(self) -> None:
        """Remove the temporary directory (after reading the journal)."""
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._holder is not None:
            self._holder.cleanup()
            self._holder = None
