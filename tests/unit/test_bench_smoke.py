"""Smoke test of the benchmarks: each runs end to end with tiny sizes and prints its figures.

Each benchmark runs as `python -m bench.NAME` in a child process, as a person would run it,
with sizes small enough for seconds. The test checks the exit status (a benchmark exits 1
when it finds something wrong: a webhook lost, a latecomer never admitted) and that every
figure line is printed with a number in it. It never asserts a speed: timings on a shared
machine say nothing in a test.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from bench._common import BenchError, family
from bench.meetings import prepare_database
from storage import journal
from storage.crypto import generate_key
from storage.db import make_engine, make_session_factory, session_scope
from tests.clock import TEST_NOW
from tests.processes import alive
from tests.storage_fixtures import POSTGRES_ENV, reset_postgres
from tests.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]
_NUMBER = r"[0-9]+(?:\.[0-9]+)?"


def _run(module: str, *args: str, time_limit: float = 120.0) -> str:
    done = _process(module, *args, time_limit=time_limit)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _environment() -> dict[str, str]:
    """A benchmark's environment: this one without the test settings, the repository on
    the import path."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("BALINT_")}
    env["PYTHONPATH"] = str(ROOT)
    return env


def _process(module: str, *args: str, time_limit: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        env=_environment(),
        capture_output=True,
        text=True,
        timeout=time_limit,
        check=False,
    )


def _figure(output: str, pattern: str) -> None:
    assert re.search(pattern, output, re.MULTILINE), f"no line like {pattern!r} in:\n{output}"


def test_webhooks_benchmark_prints_both_runs_the_ratio_and_the_journal_count():
    out = _run(
        "bench.webhooks", "--requests", "60", "--concurrency", "4", "--rate", "50", "--seconds", "1"
    )
    for name in ("bare endpoint :", "receiver only :", r"serve \(SQLite\):"):
        _figure(out, rf"^{name} requests=60 ok=60 errors=0 req/s={_NUMBER} p50={_NUMBER}ms")
    _figure(out, rf"^throughput ratio serve/bare = {_NUMBER} ")
    _figure(out, rf"client_cpu/request={_NUMBER}ms$")
    ceiling = rf"^ceiling on this machine: serve/bare <= {_NUMBER} \([0-9]+ cores / {_NUMBER} ms"
    _figure(out, ceiling)
    _figure(out, rf"^p99 ack at 50 req/s = {_NUMBER} ms")
    _figure(out, r"^journal rows = 110, 200 answers = 110, lost = 0, stored after a 503 = 0 PASS")


def test_a_benchmark_stopped_by_sigterm_stops_the_servers_it_started():
    # `timeout` and `kill` send SIGTERM. Python's default is to die at once, and the server
    # the benchmark started (here the bare baseline's; serve and its workers alike) went on
    # running after it.
    driver = subprocess.Popen(
        [sys.executable, "-m", "bench.webhooks", "--requests", "100000"],
        cwd=ROOT,
        env=_environment(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    started: list[int] = []
    try:
        wait_until(lambda: len(family(driver.pid)) > 1 or driver.poll() is not None, 60)
        started = family(driver.pid)[1:]
        assert started, "the benchmark started no server"
        driver.send_signal(signal.SIGTERM)
        code = driver.wait(timeout=60)
        assert [pid for pid in started if alive(pid)] == []
        assert code == 128 + signal.SIGTERM
    finally:
        for pid in [driver.pid, *started]:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        driver.wait(timeout=10)


def test_receivers_benchmark_runs_one_and_two_receivers_on_one_port():
    out = _run("bench.receivers", "--requests", "40", "--concurrency", "4", "--receivers", "1,2")
    share = rf"\(cores per process: {_NUMBER}\)"
    _figure(out, rf"^bare endpoint  : requests=40 ok=40 errors=0 req/s={_NUMBER} .* {share}")
    _figure(out, rf"^receivers x1   : requests=40 ok=40 .* {share} .* journal_rows=40 ratio=")
    two = rf"\(cores per process: {_NUMBER}, {_NUMBER}\)"
    _figure(out, rf"^receivers x2   : requests=40 ok=40 .* {two} .* speed-up over x1={_NUMBER}$")
    _figure(out, rf"machine_idle={_NUMBER}%")
    _figure(out, r"^journal rows missing for answers of 200: 0$")


@pytest.mark.postgres
def test_receivers_benchmark_on_postgresql():
    url = os.environ.get(POSTGRES_ENV) or pytest.skip(f"{POSTGRES_ENV} not set")
    reset_postgres(url)  # the benchmark migrates it; later tests' fixtures migrate it again
    try:
        out = _run("bench.receivers", "--postgres", url, *("--requests", "40"), "--receivers", "2")
    finally:
        reset_postgres(url)
    _figure(out, r"^uvicorn flavour: .*; database: PostgreSQL \(given\); cores: [0-9]+$")
    _figure(out, r"^receivers x2   : requests=40 ok=40 .* journal_rows=40 ratio=")
    _figure(out, r"^journal rows missing for answers of 200: 0$")


def test_receivers_benchmark_says_why_it_cannot_use_a_database():
    unreachable = "postgresql+psycopg://nobody@127.0.0.1:1/none"
    done = _process("bench.receivers", "--postgres", unreachable, time_limit=60)
    assert done.returncode == 2
    assert done.stderr.startswith("bench.receivers: the PostgreSQL database cannot be used: ")
    assert "Traceback" not in done.stderr
    assert done.stdout == ""  # it said so before running anything


def test_engine_benchmark_prints_events_per_second():
    out = _run("bench.engine", "--rounds", "1")
    _figure(out, r"^engine handle: +[0-9,]+ events/s")
    _figure(out, r"^baseline no-op loop: +[0-9,]+ events/s")


def test_turns_benchmark_prints_both_modes_and_their_ratios():
    out = _run("bench.turns", "--transactions", "40", "--rounds", "1")
    _figure(out, rf"^baseline \(SQLite's busy handler\): [0-9,]+ transactions/s, p50={_NUMBER}ms")
    _figure(out, rf"^with the workers' turns: [0-9,]+ transactions/s, p50={_NUMBER}ms")
    _figure(out, rf"^ratio turns/baseline: throughput {_NUMBER}, p99 {_NUMBER}$")


def test_meetings_benchmark_pairs_webhooks_with_actions_and_admits_every_latecomer():
    out = _run(
        "bench.meetings",
        *("--mode", "in-process", "--meetings", "2", "--latecomers", "2", "--speed", "10"),
        *("--sweep-interval", "0.2"),
        *("--social", "20", "--after", "1", "--time-limit", "30"),
    )
    _figure(out, r"^2 meetings x 12 members .* failed=0 journal_left_unprocessed=0$")
    _figure(out, rf"^webhook -> action: pairs=[1-9][0-9]* p50={_NUMBER}ms p99={_NUMBER}ms")
    _figure(out, rf"^admission at the meditation's end: admitted=4/4 p50={_NUMBER}ms")


@pytest.mark.slow
def test_meetings_benchmark_through_the_serve_command_and_its_workers():
    """The real serve (receiver + 2 worker processes) on the real clock: about 90 s, the
    meditation being one minute."""
    out = _run(
        "bench.meetings",
        *("--meetings", "2", "--members", "4", "--latecomers", "1", "--workers", "2"),
        *("--social", "6", "--startup", "15", "--time-limit", "60"),
        time_limit=300,
    )
    _figure(out, r"^serve mode on SQLite: 1 replica\(s\) x 2 meeting worker\(s\) \(processes per")
    _figure(out, r"^replica 0: webhooks posted=(\d+) acked=\1$")
    _figure(out, rf"^webhook -> action: pairs=[1-9][0-9]* p50={_NUMBER}ms p99={_NUMBER}ms")
    _figure(
        out,
        rf"^webhook -> action by stage \([1-9][0-9]* pairs .*\): median pair {_NUMBER}ms = "
        rf"POST -> receiver {_NUMBER} \+ receiver -> step {_NUMBER} \+ step -> carried out",
    )
    _figure(
        out,
        rf"^slowest 1 % of pairs by when posted \(.*median: {_NUMBER}\): "
        rf"\+{_NUMBER}: [1-9][0-9]*, [1-9][0-9]*(; |$)",
    )
    _figure(out, rf"^admission at the meditation's end: admitted=2/2 p50={_NUMBER}ms")
    _figure(
        out,
        rf"^CPU over the evening: receiver\(s\) {_NUMBER} s, meeting worker\(s\) {_NUMBER} s; "
        rf"per acked webhook: receiver {_NUMBER} ms, workers {_NUMBER} ms$",
    )


def test_memory_benchmark_prints_idle_and_loaded_rss():
    out = _run(
        "bench.memory", "--meetings", "2", "--members", "3", "--workers", "2", "--time-limit", "30"
    )
    _figure(out, rf"^serve idle: rss={_NUMBER} MiB in 3 processes \(receiver {_NUMBER} MiB\)$")
    _figure(out, r"^webhooks of 2 meetings x 3 members: requests=\d+ ok=\d+ errors=0")
    _figure(
        out,
        rf"^serve under load \(all processes\): peak rss={_NUMBER} MiB, "
        rf"after processing={_NUMBER} MiB",
    )


def test_export_benchmark_prints_the_export_and_its_baseline():
    members = 2
    out = _run("bench.export", "--years", "1", "--members", str(members), "--repeat", "1")
    _figure(out, rf"^built 39 sessions, {39 * (members + 1)} attendance rows")
    _figure(out, rf"^read {39 * (members + 1)} attendance rows \(baseline\): {_NUMBER} ms$")
    _figure(out, rf"^claims export over 1 years: {_NUMBER} ms \(written=\d+, left_out=\d+")


def test_meetings_benchmark_refuses_a_database_an_earlier_run_left(tmp_path: Path) -> None:
    # Its meetings have the same uuids in every run: an earlier run's actions would be
    # counted as this run's (admissions "before" the meditation ended, a PASS).
    url = f"sqlite:///{tmp_path / 'used.db'}"
    prepare_database(url, generate_key(), 4)
    engine = make_engine(url)
    with session_scope(make_session_factory(engine)) as session:
        journal.record(
            session,
            received_at=TEST_NOW,
            event="meeting.started",
            event_ts=None,
            meeting_uuid="bench-0000==",
            dedupe_key="an earlier run",
            body=b"{}",
            parsed_ok=True,
        )
    engine.dispose()
    with pytest.raises(BenchError, match="1 journal entries"):
        prepare_database(url, generate_key(), 4)
