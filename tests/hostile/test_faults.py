"""Faults under a real `balint-bot serve` on loopback: a hung database, a full disk, slow clients.

Each test breaks one thing the service depends on, checks what Zoom would be answered while
it is broken (503 within a second, never a hang, never a 500), that `/healthz` keeps
answering and `/readyz` says what is wrong, then mends it and measures how long the service
takes to answer 200 again. Every delivery answered 200, before, during or after, must be in
the journal: nothing acknowledged is lost. A delivery answered 503 is sent again, as Zoom
does, and must then be stored exactly once.

- SQLite locked by another process (`BEGIN IMMEDIATE` held by a helper process);
- PostgreSQL that stops answering (a TCP proxy in this process that stops forwarding);
  needs `BALINT_TEST_POSTGRES_URL` (`.ci/run`);
- a full disk: a file-size limit on the process (`RLIMIT_FSIZE`, any user), and, as root, a
  real filesystem that fills up (a 2 MB tmpfs; skipped where mounting is not allowed);
- slow clients holding connections at a low open-file limit (`RLIMIT_NOFILE` of 256).
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from storage.migrate import upgrade
from tests.hostile.conftest import migrated_copy
from tests.hostile.harness import (
    Serve,
    encode,
    open_sockets,
    participant,
    record,
    rows,
    unfinished_actions,
)
from tests.storage_fixtures import POSTGRES_ENV, reset_postgres
from tests.waiting import wait_until

pytestmark = pytest.mark.slow


class Ledger:
    """What Zoom was answered, per delivery; checks that every 200 is in the journal."""

    def __init__(self, serve: Serve) -> None:
        self.serve = serve
        self.acked: set[int] = set()
        self.refused: list[bytes] = []

    def send(self, body: bytes, *, timeout: float = 10.0) -> tuple[int, float]:
        response, took = self.serve.post(body, timeout=timeout)
        assert response.status_code in (200, 503), (response.status_code, response.text)
        if response.status_code == 200:
            self.acked.add(json.loads(body)["event_ts"])
        else:
            self.refused.append(body)
        return response.status_code, took

    def retry_refused(self) -> None:
        """Zoom's retries of everything answered 503: each must now be stored."""
        for body in self.refused:
            status, _ = self.send(body)
            assert status == 200
        self.refused.clear()

    def lost(self) -> int:
        kept = [row.event_ts for row in rows(self.serve.url)]
        assert len(kept) == len(set(kept)), "a delivery was stored twice"
        return len(self.acked - set(kept))


def _recover(ledger: Ledger, timeout: float = 15.0) -> float:
    """Send new deliveries until one is answered 200; the seconds that took."""
    started = time.perf_counter()
    deadline = started + timeout
    while time.perf_counter() < deadline:
        status, _ = ledger.send(encode(participant()))
        if status == 200:
            return time.perf_counter() - started
        time.sleep(0.05)
    raise AssertionError("the service did not recover:\n" + ledger.serve.log[-3000:])


def _healthz_fast(serve: Serve) -> float:
    response, took = serve.get("/healthz", timeout=2.0)
    assert response.status_code == 200 and took < 0.5, took
    return took


@pytest.fixture
def serve_factory(hostile_template: Path, tmp_path: Path) -> Iterator[Callable[..., Serve]]:
    started: list[Serve] = []

    def make(*, url: str | None = None, **options: Any) -> Serve:
        serve = Serve(tmp_path, url=url or migrated_copy(hostile_template, tmp_path), **options)
        started.append(serve)
        return serve

    yield make
    for serve in started:
        serve.stop()


# --- a hung database -----------------------------------------------------------------------------

LOCKER = """
import sqlite3, sys
connection = sqlite3.connect(sys.argv[1], isolation_level=None)
connection.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
sys.stdin.read()
connection.execute("ROLLBACK")
"""


def test_sqlite_locked_by_another_process(serve_factory: Callable[..., Serve]) -> None:
    serve = serve_factory()
    serve.start()
    ledger = Ledger(serve)
    path = str(make_url(serve.url).database)
    locker = subprocess.Popen(
        [sys.executable, "-c", LOCKER, path], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        assert locker.stdout is not None and locker.stdout.readline() == b"locked\n"
        answers = [ledger.send(encode(participant())) for _ in range(3)]
        assert all(status == 503 and took < 1.0 for status, took in answers), answers
        _healthz_fast(serve)
        ready, took = serve.get("/readyz")
        assert ready.status_code == 503 and ready.json()["checks"]["database"] is False
        assert took < 1.5
    finally:
        assert locker.stdin is not None
        locker.stdin.close()
        locker.wait(timeout=10)
        assert locker.stdout is not None
        locker.stdout.close()
    recovered = _recover(ledger)
    ledger.retry_refused()
    assert serve.get("/readyz")[0].status_code == 200
    assert ledger.lost() == 0
    worst = max(took for _, took in answers)
    record(
        "SQLite file locked by another process",
        f"503 in at most {worst:.2f} s; /healthz 200; /readyz 503 (database)",
        f"{recovered:.2f} s after the lock was released",
    )


class PausableProxy:
    """A TCP proxy to PostgreSQL that can stop forwarding (the server seems to hang)."""

    def __init__(self, host: str, port: int) -> None:
        self.upstream = (host, port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.forwarding = threading.Event()
        self.forwarding.set()
        self.closed = False
        self.sockets: list[socket.socket] = [self.listener]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            self.forwarding.wait()
            try:
                server = socket.create_connection(self.upstream)
            except OSError:
                client.close()
                continue
            self.sockets += [client, server]
            for source, target in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(source, target), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                self.forwarding.wait()
                target.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, target):
                try:
                    end.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def pause(self) -> None:
        self.forwarding.clear()

    def resume(self) -> None:
        self.forwarding.set()

    def close(self) -> None:
        self.closed = True
        self.forwarding.set()
        for end in self.sockets:
            try:
                end.close()
            except OSError:
                pass


@pytest.fixture
def postgres_behind_proxy() -> Iterator[tuple[str, PausableProxy]]:
    url = os.environ.get(POSTGRES_ENV, "")
    if not url:
        pytest.skip(f"{POSTGRES_ENV} not set (run .ci/run for the PostgreSQL tests)")
    reset_postgres(url)
    upgrade(url)
    parsed = make_url(url)
    proxy = PausableProxy(parsed.host or "127.0.0.1", parsed.port or 5432)
    yield parsed.set(port=proxy.port).render_as_string(hide_password=False), proxy
    proxy.close()
    reset_postgres(url)


def _sdk_mode_far_from_any_session() -> dict[str, dict[str, Any]]:
    """Settings for serve in sdk mode with the next session days away.

    serve then runs no worker of its own (the SDK join process would, during a session), so
    what is measured is the receiver alone.
    """
    day = (datetime.now(UTC) + timedelta(days=3)).strftime("%A").lower()
    return {"bot": {"meeting_adapter": "sdk"}, "group": {"timezone": "UTC", "weekday": day}}


@pytest.mark.postgres
def test_postgresql_that_stops_answering(
    postgres_behind_proxy: tuple[str, PausableProxy], serve_factory: Callable[..., Serve]
) -> None:
    url, proxy = postgres_behind_proxy
    serve = serve_factory(url=url, sections=_sdk_mode_far_from_any_session())
    serve.start()
    ledger = Ledger(serve)
    assert ledger.send(encode(participant()))[0] == 200
    proxy.pause()
    try:
        answers = [ledger.send(encode(participant())) for _ in range(8)]
        assert all(status == 503 and took < 1.0 for status, took in answers), answers
        _healthz_fast(serve)
        ready, took = serve.get("/readyz")
        assert ready.status_code == 503 and took < 1.5
        assert ready.json()["checks"]["database"] is False
        assert ready.json()["checks"]["journal"] is False  # writes are hanging
    finally:
        proxy.resume()
    recovered = _recover(ledger)
    ledger.retry_refused()
    assert wait_until(lambda: serve.get("/readyz")[0].status_code == 200, 10)
    assert ledger.lost() == 0
    proxy.pause()  # and stops answering again as the service is stopped: it still stops
    assert ledger.send(encode(participant()))[0] == 503
    started = time.perf_counter()
    assert serve.stop() in (0, -signal.SIGTERM)
    stopping = time.perf_counter() - started
    assert stopping < 15
    proxy.resume()
    worst = max(took for _, took in answers)
    record(
        "PostgreSQL stops answering (every connection hangs)",
        f"503 in at most {worst:.2f} s; /healthz 200; /readyz 503 (database, journal)",
        f"{recovered:.2f} s after it answered again (stopped in {stopping:.1f} s while hung)",
    )


# --- a full disk ----------------------------------------------------------------------------


def _fill(ledger: Ledger, *, limit: int = 3000) -> float:
    """Send padded deliveries until the journal refuses one; the seconds that answer took."""
    for _ in range(limit):
        status, took = ledger.send(encode(participant(extra={"padding": "x" * 6000})))
        if status == 503:
            return took
    raise AssertionError("the disk never filled up")


def _fill_until_unready(ledger: Ledger, serve: Serve, *, rounds: int = 10) -> float:
    """`_fill` until `/readyz` answers 503 as well; the seconds the last refusal took.

    The first refusal need not be the last: SQLite's log is reused from its start once the
    checkpoints beside the commits (`storage.checkpoints`, on a thread of their own) have
    copied it, and a small write (the readiness probe's) can still land in pages the
    database file already has, so the probe may rightly pass for a while (it did in one CI
    run of the fill, 5 s after the refusal). The disk is full for good once neither the log
    nor the database file can grow: then every write is refused, the probe's as well."""
    for _ in range(rounds):
        took = _fill(ledger)
        if wait_until(lambda: serve.get("/readyz")[0].status_code == 503, 2):
            return took
    raise AssertionError("the service stayed ready with its disk full")


def test_disk_full_by_a_file_size_limit(serve_factory: Callable[..., Serve]) -> None:
    serve = serve_factory()
    database = Path(str(make_url(serve.url).database))
    serve.fsize = database.stat().st_size + 1_500_000
    serve.start()
    ledger = Ledger(serve)
    took = _fill_until_unready(ledger, serve)
    assert took < 1.0
    _healthz_fast(serve)
    assert serve.get("/readyz")[0].json()["checks"]["database"] is False
    assert serve.process is not None
    freed = time.perf_counter()
    resource.prlimit(serve.process.pid, resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY,) * 2)
    recovered = _recover(ledger)
    ledger.retry_refused()
    assert wait_until(lambda: serve.get("/readyz")[0].status_code == 200, 10)
    assert ledger.lost() == 0
    record(
        f"disk full (file-size limit reached after {len(ledger.acked) - 1} deliveries)",
        f"503 in {took:.2f} s; /healthz 200; /readyz 503 (database)",
        f"{recovered:.2f} s after space was made ({time.perf_counter() - freed:.2f} s in all)",
    )


@pytest.fixture
def tiny_filesystem(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "tiny"
    mount.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m,mode=0700", "tmpfs", str(mount)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip("this machine does not allow mounting a tmpfs")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_disk_full_on_a_real_filesystem(
    serve_factory: Callable[..., Serve], hostile_template: Path, tiny_filesystem: Path
) -> None:
    serve = serve_factory(url=migrated_copy(hostile_template, tiny_filesystem))
    serve.start()
    ledger = Ledger(serve)
    took = _fill_until_unready(ledger, serve)
    assert took < 1.0
    _healthz_fast(serve)
    subprocess.run(
        ["mount", "-o", "remount,size=16m", str(tiny_filesystem)], check=True, capture_output=True
    )
    recovered = _recover(ledger)
    ledger.retry_refused()
    assert wait_until(lambda: serve.get("/readyz")[0].status_code == 200, 10)
    assert ledger.lost() == 0
    record(
        f"disk full (a 2 MB filesystem, full after {len(ledger.acked) - 1} deliveries)",
        f"503 in {took:.2f} s; /healthz 200; /readyz 503 (database)",
        f"{recovered:.2f} s after the filesystem grew",
    )


# --- slow clients --------------------------------------------------------------------------


def test_slow_clients_at_a_low_open_file_limit(serve_factory: Callable[..., Serve]) -> None:
    serve = serve_factory(nofile=256, server={"header_timeout_seconds": 30.0})
    serve.start()
    ledger = Ledger(serve)
    mark = serve.mark()
    head = b"POST /zoom/webhook HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    slow = list(open_sockets(serve.port, 400, head))  # more than the process has files for
    try:
        answers = [ledger.send(encode(participant())) for _ in range(5)]
        assert all(status == 200 and took < 1.0 for status, took in answers), answers
        _healthz_fast(serve)
    finally:
        for connection in slow:
            connection.close()
    assert ledger.lost() == 0
    logged = serve.lines[mark:]
    assert sum(len(line) for line in logged) < 20_000, "\n".join(logged[-20:])
    assert not any("Too many open files" in line or "Traceback" in line for line in logged)
    worst = max(took for _, took in answers)
    record(
        "400 slow clients holding connections, open-file limit 256",
        f"webhooks 200 in at most {worst:.2f} s (oldest slow connection closed to make room); "
        f"{len(logged)} log lines",
        "none needed",
    )


def test_more_connections_than_files_does_not_flood_the_log(
    serve_factory: Callable[..., Serve],
) -> None:
    """A cap set above the open-file limit (a mistake): accepting fails, quietly."""
    serve = serve_factory(
        nofile=256, server={"header_timeout_seconds": 2.0, "max_connections": 5000}
    )
    serve.start()
    mark = serve.mark()
    head = b"POST /zoom/webhook HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    slow = list(open_sockets(serve.port, 400, head))
    try:
        time.sleep(1.0)
    finally:
        for connection in slow:
            connection.close()
    ledger = Ledger(serve)
    recovered = _recover(ledger)
    logged = serve.lines[mark:]
    assert sum(len(line) for line in logged) < 20_000, "\n".join(logged[-20:])
    assert ledger.lost() == 0
    record(
        "out of open files (max_connections set above the limit)",
        f"accept errors logged once ({len(logged)} log lines in all)",
        f"{recovered:.2f} s after the clients left",
    )


# --- with the meetings' worker running ----------------------------------------------------------

#: The worker's database deadline in these tests (default 10 s), so that it overruns quickly.
WORKER_DEADLINE = {"bot": {"database_timeout_seconds": 1.0}}


def _checks(serve: Serve) -> dict[str, bool]:
    checks: dict[str, bool] = serve.get("/readyz")[0].json()["checks"]
    return checks


def _all_processed(serve: Serve) -> bool:
    return all(row.processed_at is not None for row in rows(serve.url))


def _settled(serve: Serve) -> bool:
    """Every delivery processed and every action it planned carried out: an action runs after
    the step that planned it has committed, so a processed journal is not yet enough."""
    return _all_processed(serve) and unfinished_actions(serve.url) == []


def _webhooks_refused_quickly_for(serve: Serve, ledger: Ledger, seconds: float) -> float:
    """Send deliveries for `seconds` (past the worker's 5 s sweep): each must be a quick 503,
    and `/healthz` quick between them; the slowest answer."""
    worst = 0.0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        status, took = ledger.send(encode(participant()), timeout=2.0)
        assert status == 503 and took < 1.0, took
        worst = max(worst, took)
        _healthz_fast(serve)
    return worst


def test_sqlite_locked_while_a_meeting_is_live(serve_factory: Callable[..., Serve]) -> None:
    serve = serve_factory(sections=WORKER_DEADLINE)
    serve.start()
    ledger = Ledger(serve)
    assert ledger.send(encode(participant()))[0] == 200  # the meeting is live: leases renew
    assert wait_until(lambda: _all_processed(serve))
    path = str(make_url(serve.url).database)
    locker = subprocess.Popen(
        [sys.executable, "-c", LOCKER, path], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        assert locker.stdout is not None and locker.stdout.readline() == b"locked\n"
        worst = _webhooks_refused_quickly_for(serve, ledger, 6)
        # the worker's lease renewal waits for the lock past its deadline: reported stalled
        assert wait_until(lambda: _checks(serve)["worker"] is False, 10)
    finally:
        assert locker.stdin is not None and locker.stdout is not None
        locker.stdin.close()
        locker.wait(timeout=10)
        locker.stdout.close()
    recovered = _recover(ledger)
    ledger.retry_refused()
    assert wait_until(lambda: serve.get("/readyz")[0].status_code == 200, 15), _checks(serve)
    assert wait_until(lambda: _settled(serve), 15), unfinished_actions(serve.url)
    assert ledger.lost() == 0
    record(
        "SQLite file locked while a meeting is live (worker deadline 1 s)",
        f"503 in at most {worst:.2f} s; /healthz 200; /readyz 503 (database, worker stalled)",
        f"{recovered:.2f} s after the lock was released; every delivery processed once",
    )


@pytest.mark.postgres
def test_postgresql_that_stops_answering_with_the_worker_running(
    postgres_behind_proxy: tuple[str, PausableProxy], serve_factory: Callable[..., Serve]
) -> None:
    url, proxy = postgres_behind_proxy
    serve = serve_factory(url=url, sections=WORKER_DEADLINE)
    serve.start()
    ledger = Ledger(serve)
    assert ledger.send(encode(participant()))[0] == 200
    assert wait_until(lambda: _all_processed(serve))
    time.sleep(0.5)  # the worker is idle: its next database call is its periodic sweep
    proxy.pause()
    try:
        worst = _webhooks_refused_quickly_for(serve, ledger, 6)
        assert wait_until(lambda: _checks(serve)["worker"] is False, 10)
    finally:
        proxy.resume()
    recovered = _recover(ledger)
    ledger.retry_refused()
    assert wait_until(lambda: serve.get("/readyz")[0].status_code == 200, 15), _checks(serve)
    assert wait_until(lambda: _settled(serve), 15), unfinished_actions(serve.url)
    assert ledger.lost() == 0
    proxy.pause()  # and stops answering again as serve is stopped: it still stops, cleanly
    mark = serve.mark()
    started = time.perf_counter()
    assert serve.stop() in (0, -signal.SIGTERM)
    stopping = time.perf_counter() - started
    proxy.resume()
    after = "\n".join(serve.lines[mark:])
    assert stopping < 10 and "Traceback" not in after and "shutdown failed" not in after, after
    record(
        "PostgreSQL stops answering while a meeting is live (worker deadline 1 s)",
        f"503 in at most {worst:.2f} s; /healthz 200; /readyz 503 (database, journal, worker "
        "stalled)",
        f"{recovered:.2f} s after it answered again; every delivery processed once; stopped "
        f"in {stopping:.1f} s while hung",
    )
