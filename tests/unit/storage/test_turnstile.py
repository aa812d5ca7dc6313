"""The receiver's right of way to SQLite's write lock: while the receiver holds the
turnstile no worker transaction begins, a worker passing through keeps the receiver out
for that instant only, and nothing waits on it for long or at all on PostgreSQL."""

from __future__ import annotations

import fcntl
import os
import stat
import threading
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import Engine, text

from storage.db import make_engine
from storage.turnstile import Turnstile, turnstile_of, yield_to_receiver


def _passing(turnstile: Turnstile, *, patience: float) -> threading.Thread:
    thread = threading.Thread(target=turnstile.pass_through, kwargs={"patience": patience})
    thread.start()
    return thread


def _within(seconds: float, done: Callable[[], bool]) -> bool:
    """Whether `done()` holds within `seconds`, by looking every 10 ms. Not a timed wait on a
    lock or an event: under faketime (scripts/test-clocks) those do not time out."""
    deadline = time.monotonic() + seconds
    while not done():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.01)
    return True


def test_a_worker_waits_at_the_turnstile_while_the_receiver_holds_it(tmp_path: Path) -> None:
    turnstile = Turnstile(tmp_path / "db-turnstile")
    with turnstile.right_of_way() as way:
        assert way.taken()
        worker = _passing(turnstile, patience=60)
        assert not _within(0.3, lambda: not worker.is_alive())  # held at the turnstile
    assert _within(10, lambda: not worker.is_alive())  # through once the receiver let go


def test_a_worker_goes_ahead_after_its_patience(tmp_path: Path) -> None:
    turnstile = Turnstile(tmp_path / "db-turnstile")
    with turnstile.right_of_way() as way:
        assert way.taken()
        worker = _passing(turnstile, patience=0.05)
        assert _within(10, lambda: not worker.is_alive())


def test_the_receiver_takes_it_only_between_workers(tmp_path: Path) -> None:
    path = tmp_path / "db-turnstile"
    turnstile = Turnstile(path)
    passing = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(passing, fcntl.LOCK_SH)  # a worker in the middle of passing through
        with turnstile.right_of_way() as way:
            assert not way.taken()
            fcntl.flock(passing, fcntl.LOCK_UN)
            assert way.taken()
            assert way.taken()  # held already
    finally:
        os.close(passing)
    with turnstile.right_of_way() as again:  # let go at the end of the block
        assert again.taken()


def test_a_turnstile_that_cannot_be_opened_lets_everyone_through(tmp_path: Path) -> None:
    turnstile = Turnstile(tmp_path / "missing-folder" / "db-turnstile")
    turnstile.pass_through(patience=60)
    with turnstile.right_of_way() as way:
        assert not way.taken()


def test_the_turnstile_sits_beside_a_sqlite_file_owner_only(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'balint.db'}")
    try:
        turnstile = turnstile_of(engine)
        assert turnstile is not None and turnstile.path == tmp_path / "balint.db-turnstile"
        turnstile.pass_through()
        assert stat.S_IMODE(turnstile.path.stat().st_mode) == 0o600
    finally:
        engine.dispose()
    assert turnstile_of(make_engine("sqlite://")) is None
    postgres = make_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")
    assert turnstile_of(postgres) is None


def test_a_workers_transactions_begin_only_past_the_turnstile(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'balint.db'}")
    yield_to_receiver(engine, patience=60)
    turnstile = turnstile_of(engine)
    assert turnstile is not None
    began = threading.Event()

    def transaction(engine: Engine = engine) -> None:
        with engine.begin() as connection:
            began.set()
            connection.execute(text("SELECT 1"))

    try:
        with turnstile.right_of_way() as way:
            assert way.taken()
            worker = threading.Thread(target=transaction)
            worker.start()
            assert not _within(0.3, began.is_set)
        assert _within(10, began.is_set)
        assert _within(10, lambda: not worker.is_alive())
    finally:
        engine.dispose()
