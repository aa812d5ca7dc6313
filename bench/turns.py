"""Benchmark: several meeting workers writing one SQLite file, with their turns and without.

`python -m bench.turns [--workers W] [--transactions N] [--inside-us I] [--outside-us O]
[--rounds R]`

W worker processes (default 2) each run N transactions on one fresh SQLite file, through
an engine made as a meeting worker's is (`storage.db.make_engine`, WAL, the busy timeout)
and, in the measured mode, with `storage.turnstile.yield_to_receiver` (the turnstile and
the workers' turns, `storage.turnstile.Turns`). Each transaction is a worker step in
miniature: it writes a lease row, spends I microseconds of CPU (the engine's step and the
state's JSON), and inserts a row; between transactions the process spends O microseconds of
CPU (carrying out an action, the event loop). The baseline is the same run without the
turns, as the workers ran before them: a writer that finds the write lock taken sleeps in
SQLite's busy handler. The modes alternate, R rounds each, on fresh files.

Figures: transactions per second over all workers, and p50/p99/max of one transaction's
time from its beginning to its commit (the wait for the lock included), for each mode, and
the ratios turns / baseline.
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from multiprocessing.queues import Queue
from pathlib import Path

from sqlalchemy import text

from bench._common import percentile, stop_on_sigterm
from storage.db import make_engine
from storage.turnstile import yield_to_receiver

__all__ = ["Figures", "main", "measure"]


@dataclass(frozen=True)
class Figures:
    """One round of one mode."""

    per_second: float
    p50_ms: float
    p99_ms: float
    max_ms: float


def _spin(microseconds: float) -> None:
    """Spend CPU, as a step or an action would (not a sleep: the GIL and the core stay busy)."""
    end = time.perf_counter() + microseconds / 1e6
    while time.perf_counter() < end:
        pass


def _worker(
    url: str,
    turns: bool,
    transactions: int,
    inside_us: float,
    outside_us: float,
    out: Queue[list[float]],
) -> None:
    engine = make_engine(url)
    if turns:
        yield_to_receiver(engine)
    times = []
    for n in range(transactions):
        began = time.perf_counter()
        with engine.begin() as connection:
            connection.execute(text("UPDATE lease SET renewals = renewals + 1 WHERE id = 1"))
            _spin(inside_us)
            connection.execute(
                text("INSERT INTO step (body) VALUES (:body)"), {"body": f"{n:0200d}"}
            )
        times.append(time.perf_counter() - began)
        _spin(outside_us)
    engine.dispose()
    out.put(times)


def measure(
    *, turns: bool, workers: int, transactions: int, inside_us: float, outside_us: float
) -> Figures:
    """One round of one mode on a fresh file."""
    with tempfile.TemporaryDirectory(prefix="balint-bench-turns-") as folder:
        url = f"sqlite:///{Path(folder) / 'balint.db'}"
        engine = make_engine(url)
        with engine.begin() as connection:
            connection.execute(text("CREATE TABLE lease (id INTEGER PRIMARY KEY, renewals INT)"))
            connection.execute(text("INSERT INTO lease VALUES (1, 0)"))
            connection.execute(text("CREATE TABLE step (id INTEGER PRIMARY KEY, body TEXT)"))
        engine.dispose()
        context = multiprocessing.get_context("spawn")
        out: Queue[list[float]] = context.Queue()
        processes = [
            context.Process(
                target=_worker, args=(url, turns, transactions, inside_us, outside_us, out)
            )
            for _ in range(workers)
        ]
        started = time.perf_counter()
        times: list[float] = []
        finished = False
        try:
            for process in processes:
                process.start()
            for _ in processes:
                times.extend(out.get(timeout=600))
            elapsed = time.perf_counter() - started
            finished = True
        finally:  # done, or stopped (`stop_on_sigterm`): none outlives the benchmark
            for process in processes:
                if process.pid is None:
                    continue
                process.join(timeout=60 if finished else 0)
                if process.is_alive():
                    process.terminate()
                    process.join(timeout=60)
    milliseconds = [t * 1000 for t in times]
    return Figures(
        per_second=len(times) / elapsed,
        p50_ms=percentile(milliseconds, 50),
        p99_ms=percentile(milliseconds, 99),
        max_ms=max(milliseconds),
    )


def _line(name: str, figures: list[Figures]) -> str:
    return (
        f"{name}: {statistics.median(f.per_second for f in figures):,.0f} transactions/s, "
        f"p50={statistics.median(f.p50_ms for f in figures):.2f}ms "
        f"p99={statistics.median(f.p99_ms for f in figures):.2f}ms "
        f"max={max(f.max_ms for f in figures):.1f}ms (median of {len(figures)} rounds)"
    )


def main(argv: list[str] | None = None) -> int:
    stop_on_sigterm()
    parser = argparse.ArgumentParser(prog="python -m bench.turns", description=__doc__)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--transactions", type=int, default=1500, help="per worker")
    parser.add_argument("--inside-us", type=float, default=1000.0, help="CPU in a transaction")
    parser.add_argument("--outside-us", type=float, default=1000.0, help="CPU between them")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    kept: dict[bool, list[Figures]] = {False: [], True: []}
    for _ in range(args.rounds):
        for turns in (False, True):
            kept[turns].append(
                measure(
                    turns=turns,
                    workers=args.workers,
                    transactions=args.transactions,
                    inside_us=args.inside_us,
                    outside_us=args.outside_us,
                )
            )
    print(
        f"{args.workers} workers x {args.transactions} transactions on one SQLite file; "
        f"{args.inside_us:.0f} us of CPU inside each, {args.outside_us:.0f} us between"
    )
    print(_line("baseline (SQLite's busy handler)", kept[False]))
    print(_line("with the workers' turns", kept[True]))
    base, new = kept[False], kept[True]
    throughput = statistics.median(f.per_second for f in new) / statistics.median(
        f.per_second for f in base
    )
    p99 = statistics.median(f.p99_ms for f in new) / statistics.median(f.p99_ms for f in base)
    print(f"ratio turns/baseline: throughput {throughput:.2f}, p99 {p99:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
