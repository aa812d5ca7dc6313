"""Benchmark: several receiver processes on one port, against one receiver and the bare check.

`python -m bench.receivers [--receivers 1,2,3] [--requests N] [--concurrency C]
[--postgres URL]`

What it answers: whether acknowledging in several processes would raise the throughput on
this machine and this database, before anyone builds it (issue 18: one receiver is bound by
its one GIL, `docs/benchmarks.md`, "ninth round"). `balint-bot serve` runs one receiver;
this benchmark runs the receiver alone (`bench.webhooks.receiver_app`: verify, journal, no
worker) in N processes, each with its own listening socket on the same port
(`SO_REUSEPORT`: the kernel spreads the connections over them by their addresses, so a
process that started first does not take them all, as it does with one shared socket), all
journaling into one database:

- SQLite (the default): a fresh file for each N; every process's journal writes take the
  file's one write lock in turn;
- `--postgres URL`: a throwaway PostgreSQL database, migrated here (each N posts bodies
  of its own and counts the rows it added). The server's own CPU is not in the receivers'
  figures; the machine's idle share shows it.

For the baseline, the bare signature check (`bench.webhooks.bare_app`, one process), under
the same uvicorn settings. Load: the `bench.webhooks` closed loop (distinct signed
`participant_joined` bodies, keep-alive connections, each sending its next request when the
previous is answered). Printed per run: the rate and latencies, the receivers' CPU per
request and each process's share of a core (an idle process shows that the kernel gave it
no connection), the client's CPU per request, the machine's idle share over the run
(`/proc/stat`), the ratio to the bare endpoint and, for N > 1, the speed-up over one
receiver. Nothing here decides what serve runs: it measures what an N-process receiver
could gain. Every wait is bounded in time.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.exc import ArgumentError, OperationalError

from bench._common import (
    ROOT,
    BenchError,
    LoadResult,
    closed_loop,
    cpu_seconds,
    flavour,
    free_port,
    journal_rows,
    stop_on_sigterm,
    summary,
)
from bench.webhooks import join_bodies
from storage.migrate import upgrade

__all__ = ["main"]

#: One receiver process: the app from `module:factory` on its own `SO_REUSEPORT` socket,
#: under the uvicorn settings of `bench._common._UVICORN` (serve's); prints `ready` once it
#: answers.
_PROCESS = """
import asyncio, socket, sys, uvicorn
module, name, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
app = getattr(__import__(module, fromlist=[name]), name)()
sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
sock.bind(("127.0.0.1", port))
config = uvicorn.Config(app, log_config=None, proxy_headers=True)
server = uvicorn.Server(config)

async def main():
    serving = asyncio.ensure_future(server.serve(sockets=[sock]))
    while not server.started and not serving.done():
        await asyncio.sleep(0.01)
    print("ready", flush=True)
    await serving

with asyncio.Runner(loop_factory=config.get_loop_factory()) as runner:
    runner.run(main())
"""


@dataclass(frozen=True, slots=True)
class _Group:
    """Receiver processes listening on one port."""

    port: int
    pids: list[int]


@dataclass(frozen=True, slots=True)
class _Figures:
    """One run: what the client saw and the CPU it cost."""

    load: LoadResult
    server_cpu: list[float]
    client_cpu: float
    idle: float


def main(argv: list[str] | None = None) -> int:
    stop_on_sigterm()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--receivers", default="1,2,3", help="receiver counts, comma-separated")
    parser.add_argument("--requests", type=int, default=8000, help="requests per run")
    parser.add_argument("--concurrency", type=int, default=32, help="connections")
    parser.add_argument("--time-limit", type=float, default=120.0, help="per run, seconds")
    parser.add_argument(
        "--postgres", help="a throwaway PostgreSQL database (migrated here; runs add to it)"
    )
    args = parser.parse_args(argv)
    try:
        counts = [int(count) for count in args.receivers.split(",")]
    except ValueError:
        counts = []
    if not counts or any(count < 1 for count in counts):
        parser.error("--receivers: counts of 1 or more, comma-separated")
    try:
        return _run(args, counts)
    except BenchError as failure:
        print(f"bench.receivers: {failure}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace, counts: list[int]) -> int:
    if args.postgres:
        _migrate(args.postgres)
    database = "PostgreSQL (given)" if args.postgres else "SQLite (a fresh file for each run)"
    print(f"uvicorn flavour: {flavour()}; database: {database}; cores: {os.cpu_count()}")

    with _processes("bare_app", 1, env={}) as group:
        bare = _measure(group, join_bodies(0, args.requests), args)
    print(f"bare endpoint  : {_line(bare)}")

    single: float | None = None
    lost = 0
    for run, count in enumerate(counts, start=1):
        with _database(args.postgres) as url:
            before = journal_rows(url)
            env = {"BENCH_STORAGE_URL": url}
            with _processes("receiver_app", count, env=env) as group:
                figures = _measure(group, join_bodies(run * args.requests, args.requests), args)
            rows = journal_rows(url) - before
        lost += max(0, figures.load.ok - rows)
        ratio = figures.load.rate / bare.load.rate if bare.load.rate else 0.0
        line = f"receivers x{count:<2}  : {_line(figures)} journal_rows={rows} ratio={ratio:.2f}"
        if single is None:
            single = figures.load.rate
        elif single:
            line += f" speed-up over x{counts[0]}={figures.load.rate / single:.2f}"
        print(line)
    print(f"journal rows missing for answers of 200: {lost}")
    return 0 if lost == 0 else 1


def _line(figures: _Figures) -> str:
    answered = len(figures.load.statuses) or 1
    shares = ", ".join(f"{seconds / figures.load.seconds:.2f}" for seconds in figures.server_cpu)
    return (
        f"{summary(figures.load)} "
        f"server_cpu/request={sum(figures.server_cpu) / answered * 1000:.2f}ms "
        f"(cores per process: {shares}) "
        f"client_cpu/request={figures.client_cpu / answered * 1000:.2f}ms "
        f"machine_idle={figures.idle:.0%}"
    )


def _measure(group: _Group, bodies: list[bytes], args: argparse.Namespace) -> _Figures:
    before = [cpu_seconds(pid) for pid in group.pids]
    client_before = time.process_time()
    idle_before, ticks_before = _idle()
    load = asyncio.run(
        closed_loop(group.port, bodies, concurrency=args.concurrency, time_limit=args.time_limit)
    )
    idle, ticks = _idle()
    server = [cpu_seconds(pid) - start for pid, start in zip(group.pids, before, strict=True)]
    elapsed = ticks - ticks_before
    share = (idle - idle_before) / elapsed if elapsed else 0.0
    return _Figures(load, server, time.process_time() - client_before, share)


@contextmanager
def _processes(factory: str, count: int, *, env: dict[str, str]) -> Iterator[_Group]:
    """`count` processes serving `bench.webhooks:<factory>` on one free port."""
    port = free_port()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("BALINT_")}
    environment.update(env, PYTHONPATH=str(ROOT))
    started: list[subprocess.Popen[str]] = []
    try:
        for _ in range(count):
            started.append(
                subprocess.Popen(
                    [sys.executable, "-c", _PROCESS, "bench.webhooks", factory, str(port)],
                    env=environment,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.DEVNULL,
                    text=True,
                )
            )
        for process in started:
            _await_ready(process, time_limit=60.0)
        yield _Group(port, [process.pid for process in started])
    finally:
        for process in started:
            process.terminate()
        for process in started:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)


def _await_ready(process: subprocess.Popen[str], *, time_limit: float) -> None:
    """Wait for the process's `ready` line (a line read with a deadline: a thread would
    outlive a hung process, so the pipe is polled)."""
    assert process.stdout is not None
    os.set_blocking(process.stdout.fileno(), False)
    deadline = time.monotonic() + time_limit
    while time.monotonic() < deadline:
        if process.stdout.readline().strip() == "ready":
            return
        if process.poll() is not None:
            raise BenchError(f"a receiver process exited with {process.returncode}")
        time.sleep(0.05)
    raise BenchError(f"a receiver process was not ready in {time_limit:.0f}s")


@contextmanager
def _database(postgres: str | None) -> Iterator[str]:
    """A migrated database for one run: `postgres` as given, else a fresh SQLite file."""
    if postgres:
        yield postgres  # migrated before the first run (`_migrate`)
        return
    with tempfile.TemporaryDirectory(prefix="balint-bench-receivers-") as folder:
        url = f"sqlite:///{Path(folder) / f'{uuid.uuid4().hex}.db'}"
        upgrade(url)
        yield url


def _migrate(url: str) -> None:
    try:
        upgrade(url)
    except (ArgumentError, OperationalError) as failure:
        reason = str(getattr(failure, "orig", None) or failure).splitlines()[0]
        raise BenchError(f"the PostgreSQL database cannot be used: {reason}") from None


def _idle() -> tuple[int, int]:
    """(idle and iowait ticks, all ticks) of the whole machine so far (`/proc/stat`)."""
    ticks = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return ticks[3] + ticks[4], sum(ticks)


if __name__ == "__main__":
    sys.exit(main())
