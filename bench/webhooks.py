"""Benchmark: webhook acknowledgement, `balint-bot serve` against a bare signature check.

`python -m bench.webhooks [--requests N] [--concurrency C] [--rate R] [--seconds S]
[--workers W]`

Three runs, one after the other, in one invocation (the machines are shared and noisy, so
the figure that counts is the ratio between runs made minutes apart on the same load):

1. baseline: a bare FastAPI app (`bare_app`) whose only work is the signature and
   timestamp check, under the same `uvicorn.run` settings as serve; `N` signed
   `participant_joined` webhooks over `C` keep-alive connections, closed loop;
2. serve: the real `balint-bot serve` command on a fresh, migrated SQLite file (the
   receiver process: journal, group commit, metrics; and its `W` meeting worker processes
   processing what it journals meanwhile), the same load; prints both throughputs, p50/p99
   ack latency, CPU per request of the receiver and of the workers, and the ratio
   (target >= 0.6), and the ceiling this machine puts on that ratio (every core busy with
   serve and this client, at the CPU a delivery cost them). The bare endpoint runs on the
   same uvicorn flavour (uvloop and httptools where installed, as `flavour` prints);
   Between the two, the receiver alone (`receiver_app`: `create_app` journaling into
   SQLite, no worker) shows what the journal costs without the worker;
3. serve at a fixed rate: `R` requests per second for `S` seconds, open loop (latency from
   when a request was due, so queueing shows), after the worker drained the backlog of
   run 2; prints p99 (target < 20 ms at 500/s).

Finally it counts the journal: every 200 answer must be a row (nothing lost), and the exit
status is 1 if not. There may be more rows than 200 answers: a delivery answered 503 after
the journal timeout may still commit, and Zoom's retry of it is then a duplicate.
Loopback only; every run is bounded in count and time.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time

from fastapi import FastAPI, Request, Response
from pydantic import SecretStr

from bench._common import (
    SECRET,
    WEBHOOK_PATH,
    LoadResult,
    ServeProcess,
    closed_loop,
    cpu_seconds,
    family,
    family_cpu_seconds,
    flavour,
    journal_rows,
    open_loop,
    participant_body,
    percentile,
    stop_on_sigterm,
    summary,
    unprocessed_rows,
)
from bot.config import Settings, StorageSettings, ZoomSettings
from webhooks.http import create_app
from webhooks.signature import signature_matches

__all__ = ["bare_app", "join_bodies", "main", "receiver_app"]

_WINDOW_SECONDS = 7200
_MEETINGS = 20


def bare_app() -> FastAPI:
    """The baseline: checks the signature and the timestamp window, stores nothing."""
    app = FastAPI()

    @app.post(WEBHOOK_PATH)
    async def webhook(request: Request) -> Response:
        body = await request.body()
        timestamp = request.headers.get("x-zm-request-timestamp", "")
        signature = request.headers.get("x-zm-signature", "")
        fresh = timestamp.isdigit() and abs(time.time() - int(timestamp)) <= _WINDOW_SECONDS
        if not fresh or not signature_matches([SECRET], timestamp, body, signature):
            return Response(status_code=401)
        return Response(status_code=200)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def receiver_app() -> FastAPI:
    """The receiver alone (`webhooks.http.create_app`: verify, parse, journal; no worker), on
    the migrated database named by `BENCH_STORAGE_URL`: separates the journal's cost from
    the background worker's."""
    settings = Settings(
        zoom=ZoomSettings(webhook_secret_tokens=[SecretStr(SECRET)]),
        storage=StorageSettings(url=os.environ["BENCH_STORAGE_URL"]),
    )
    return create_app(settings)


def join_bodies(first: int, count: int) -> list[bytes]:
    """`count` distinct `participant_joined` bodies, numbered from `first`, over 20 meetings."""
    return [
        participant_body(n, meeting_uuid=f"bench-{n % _MEETINGS:02d}==")
        for n in range(first, first + count)
    ]


def _drain(url: str, *, time_limit: float) -> tuple[float, int]:
    """Wait until the worker processed every journaled entry; (seconds, left over)."""
    start = time.perf_counter()
    left = unprocessed_rows(url)
    while left and time.perf_counter() - start < time_limit:
        time.sleep(0.25)
        left = unprocessed_rows(url)
    return time.perf_counter() - start, left


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def main(argv: list[str] | None = None) -> int:
    stop_on_sigterm()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--requests", type=int, default=5000, help="requests per closed run")
    parser.add_argument("--concurrency", type=int, default=32, help="connections (closed runs)")
    parser.add_argument("--rate", type=int, default=500, help="fixed rate, requests/s")
    parser.add_argument("--seconds", type=float, default=10.0, help="fixed-rate run length")
    parser.add_argument("--time-limit", type=float, default=120.0, help="per run, seconds")
    parser.add_argument("--workers", type=int, default=1, help="serve's meeting_workers")
    args = parser.parse_args(argv)
    print(f"uvicorn flavour (bare and serve): {flavour()}; serve meeting_workers={args.workers}")

    bodies = join_bodies(0, args.requests)
    with ServeProcess.app("bench.webhooks", "bare_app") as bare:
        cpu, client = cpu_seconds(bare.pid), time.process_time()
        base = asyncio.run(
            closed_loop(bare.port, bodies, concurrency=args.concurrency, time_limit=args.time_limit)
        )
        base_cpu, base_client = cpu_seconds(bare.pid) - cpu, time.process_time() - client
    print(
        f"bare endpoint : {summary(base)} server_cpu/request={_per(base_cpu, base)}ms "
        f"client_cpu/request={_per(base_client, base)}ms"
    )

    alone = ServeProcess.serve()  # only for its migrated database
    try:
        with ServeProcess.app(
            "bench.webhooks", "receiver_app", env={"BENCH_STORAGE_URL": alone.url}
        ) as receiver:
            cpu = cpu_seconds(receiver.pid)
            only = asyncio.run(
                closed_loop(
                    receiver.port,
                    join_bodies(args.requests, args.requests),
                    concurrency=args.concurrency,
                    time_limit=args.time_limit,
                )
            )
            only_cpu = cpu_seconds(receiver.pid) - cpu
        only_rows = journal_rows(alone.url)
    finally:
        alone.cleanup()
    print(
        f"receiver only : {summary(only)} server_cpu/request={_per(only_cpu, only)}ms "
        f"journal_rows={only_rows} ratio={only.rate / base.rate if base.rate else 0.0:.2f}"
    )

    serve = ServeProcess.serve(server={"meeting_workers": args.workers})
    try:
        with serve:
            _await_workers(serve.pid, args.workers, time_limit=args.time_limit)
            cpu, client = cpu_seconds(serve.pid), time.process_time()
            all_cpu = family_cpu_seconds(serve.pid)
            load = asyncio.run(
                closed_loop(
                    serve.port,
                    join_bodies(args.requests, args.requests),
                    concurrency=args.concurrency,
                    time_limit=args.time_limit,
                )
            )
            serve_cpu, serve_client = cpu_seconds(serve.pid) - cpu, time.process_time() - client
            workers_cpu = family_cpu_seconds(serve.pid) - all_cpu - serve_cpu
            print(
                f"serve (SQLite): {summary(load)} server_cpu/request={_per(serve_cpu, load)}ms "
                f"(receiver) + {_per(workers_cpu, load)}ms (workers, so far) "
                f"client_cpu/request={_per(serve_client, load)}ms"
            )
            ratio = load.rate / base.rate if base.rate else 0.0
            print(
                f"throughput ratio serve/bare = {ratio:.2f} (target >= 0.6) "
                f"{_verdict(ratio >= 0.6)}"
            )
            _ceiling(load, serve_cpu + workers_cpu + serve_client, base.rate)
            drained, left = _drain(serve.url, time_limit=args.time_limit)
            print(f"worker backlog after the closed run: drained in {drained:.1f}s, left={left}")
            count = int(args.rate * args.seconds)
            fixed = asyncio.run(
                open_loop(
                    serve.port,
                    join_bodies(2 * args.requests, count),
                    rate=args.rate,
                    time_limit=args.seconds + 5,
                )
            )
            p99 = percentile(fixed.latencies, 99) * 1000
            print(f"serve at {args.rate} req/s: {summary(fixed)}")
            print(
                f"p99 ack at {args.rate} req/s = {p99:.2f} ms (target < 20 ms) {_verdict(p99 < 20)}"
            )
        rows = journal_rows(serve.url)
    finally:
        serve.cleanup()
    accepted = load.ok + fixed.ok
    lost = max(0, accepted - rows)
    print(
        f"journal rows = {rows}, 200 answers = {accepted}, lost = {lost}, "
        f"stored after a 503 = {max(0, rows - accepted)} "
        f"{_verdict(lost == 0 and load.errors + fixed.errors == 0)}"
    )
    return 0 if lost == 0 else 1


def _await_workers(pid: int, count: int, *, time_limit: float) -> None:
    """Wait until serve's meeting workers run (their imports would otherwise share the
    first seconds of the load with the receiver)."""
    deadline = time.perf_counter() + time_limit
    while len(family(pid)) < 1 + count and time.perf_counter() < deadline:
        time.sleep(0.1)
    time.sleep(3.0)  # their start-up: imports, the first sweep


def _ceiling(load: LoadResult, cpu: float, bare_rate: float) -> None:
    """Print the most serve could answer on this machine's cores, as a ratio to the bare
    endpoint: every core busy with nothing but serve's processes and this client, at the
    CPU each delivery cost them in the run (`cpu`). Above what serve reached, it is how
    much better use of the cores could gain; below 0.6, no use of them reaches the target
    here (docs/benchmarks.md, "ninth round")."""
    if not load.statuses or not bare_rate:
        return
    cores = len(os.sched_getaffinity(0))
    per = cpu / len(load.statuses)
    print(
        f"ceiling on this machine: serve/bare <= {cores / per / bare_rate:.2f} "
        f"({cores} cores / {per * 1000:.2f} ms of CPU a delivery, serve's and the client's)"
    )


def _per(cpu: float, result: LoadResult) -> str:
    return f"{cpu / len(result.statuses) * 1000:.2f}" if result.statuses else "n/a"


if __name__ == "__main__":
    raise SystemExit(main())
