"""The receiver's right of way to SQLite's write lock: while the receiver holds the
turnstile no worker transaction begins, a worker passing through keeps the receiver out
for that instant only, and nothing waits on it for long or at all on PostgreSQL. And the
workers' turns: one worker transaction at a time from its first write to its end, the
turn given back however it ends (commit, rollback, a killed process)."""

from __future__ import annotations

import fcntl
import os
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

from sqlalchemy import Engine, text

from storage.db import make_engine
from storage.turnstile import Turns, Turnstile, turns_of, turnstile_of, yield_to_receiver
from tests.waiting import wait_until


def _passing(turnstile: Turnstile, *, patience: float) -> threading.Thread:
    thread = threading.Thread(target=turnstile.pass_through, kwargs={"patience": patience})
    thread.start()
    return thread


def test_a_worker_waits_at_the_turnstile_while_the_receiver_holds_it(tmp_path: Path) -> None:
    turnstile = Turnstile(tmp_path / "db-turnstile")
    with turnstile.right_of_way() as way:
        assert way.taken()
        worker = _passing(turnstile, patience=60)
        # held at the turnstile
        assert not wait_until(lambda: not worker.is_alive(), 0.3, step=0.01)
    # through once the receiver let go
    assert wait_until(lambda: not worker.is_alive(), 10, step=0.01)


def test_workers_held_back_wait_in_the_kernels_queue_together(tmp_path: Path) -> None:
    """No polling: one thread of the process waits for the turnstile in the kernel's queue,
    however many transactions wait for it, and lets them all through when it opens."""
    turnstile = Turnstile(tmp_path / "together-turnstile")

    def watching() -> list[threading.Thread]:
        named = "balint-turnstile together-turnstile"
        return [t for t in threading.enumerate() if t.name.startswith(named)]

    with turnstile.right_of_way() as way:
        assert way.taken()
        workers = [_passing(turnstile, patience=60) for _ in range(3)]
        assert wait_until(lambda: len(watching()) == 1, 10, step=0.01)
        assert not wait_until(lambda: not any(w.is_alive() for w in workers), 0.3, step=0.01)
        assert len(watching()) == 1
    assert wait_until(lambda: not any(w.is_alive() for w in workers), 10, step=0.01)


def test_a_worker_goes_ahead_after_its_patience(tmp_path: Path) -> None:
    turnstile = Turnstile(tmp_path / "db-turnstile")
    with turnstile.right_of_way() as way:
        assert way.taken()
        worker = _passing(turnstile, patience=0.05)
        assert wait_until(lambda: not worker.is_alive(), 10, step=0.01)


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
            assert not wait_until(began.is_set, 0.3, step=0.01)
        assert wait_until(began.is_set, 10, step=0.01)
        assert wait_until(lambda: not worker.is_alive(), 10, step=0.01)
    finally:
        engine.dispose()


def _table(url: str) -> None:
    engine = make_engine(url)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE t (x INTEGER)"))
    engine.dispose()


def _writer(engine: Engine, wrote: threading.Event, end: threading.Event) -> None:
    """A transaction that writes, says so, and commits once `end` is set (or rolls back if
    `end` is never set within 30 s)."""
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO t VALUES (1)"))
        wrote.set()
        if not wait_until(end.is_set, 30, step=0.01):
            raise TimeoutError("the test never ended the transaction")


def _reader_then_writer(engine: Engine, read: threading.Event, wrote: threading.Event) -> None:
    with engine.begin() as connection:
        connection.execute(text("SELECT count(*) FROM t")).scalar()
        read.set()
        connection.execute(text("INSERT INTO t VALUES (2)"))
        wrote.set()


def test_workers_writes_take_turns_until_the_transaction_ends(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'balint.db'}"
    _table(url)
    first, second = make_engine(url), make_engine(url)  # two workers' engines
    for engine in (first, second):
        yield_to_receiver(engine, patience=60, turn_patience=60)
    first_wrote, end = threading.Event(), threading.Event()
    second_read, second_wrote = threading.Event(), threading.Event()
    threads = [
        threading.Thread(target=_writer, args=(first, first_wrote, end)),
        threading.Thread(target=_reader_then_writer, args=(second, second_read, second_wrote)),
    ]
    try:
        threads[0].start()
        assert wait_until(first_wrote.is_set, 10, step=0.01)
        threads[1].start()
        assert wait_until(second_read.is_set, 10, step=0.01)  # reading needs no turn (WAL)
        # writing waits for the first's end
        assert not wait_until(second_wrote.is_set, 0.3, step=0.01)
        end.set()
        assert wait_until(second_wrote.is_set, 10, step=0.01)
        for thread in threads:
            thread.join(timeout=10)
            assert not thread.is_alive()
    finally:
        end.set()
        first.dispose()
        second.dispose()


def test_a_transaction_that_rolls_back_gives_its_turn_back(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'balint.db'}"
    _table(url)
    engine = make_engine(url)
    yield_to_receiver(engine, patience=60, turn_patience=60)
    turns = turns_of(engine)
    assert turns is not None
    try:
        try:
            with engine.begin() as connection:
                connection.execute(text("SELECT 1"))
                descriptor = turns.take(patience=0)
                assert descriptor is not None  # a read takes no turn
                os.close(descriptor)
                connection.execute(text("UPDATE t SET x = 3"))
                assert turns.take(patience=0) is None  # held by the transaction
                raise LookupError("the transaction fails")
        except LookupError:
            pass
        descriptor = turns.take(patience=0)
        assert descriptor is not None
        os.close(descriptor)
    finally:
        engine.dispose()


def test_a_turn_waited_for_too_long_goes_ahead_without_it(tmp_path: Path) -> None:
    turns = Turns(tmp_path / "db-turns")
    held = turns.take(patience=0)
    assert held is not None
    try:
        started = time.monotonic()
        assert turns.take(patience=0.05) is None
        assert time.monotonic() - started < 10
    finally:
        os.close(held)
    assert Turns(tmp_path / "missing-folder" / "db-turns").take(patience=60) is None


def test_a_worker_waiting_for_its_turn_gets_it_from_one_that_keeps_taking_it(
    tmp_path: Path,
) -> None:
    """The waiter is queued in the kernel: a holder that gives the turn back and takes it
    again at once, over and over, does not keep it from the waiter."""
    path = tmp_path / "db-turns"
    busy, waiter = Turns(path), Turns(path)
    stop = threading.Event()
    turns_taken = []

    def keep_taking() -> None:
        descriptor = busy.take(patience=0)
        while not stop.is_set() and len(turns_taken) < 2000:
            time.sleep(0.002)  # a transaction
            os.close(descriptor)
            while (descriptor := busy.take(patience=0)) is None:
                pass  # another holds it: look again at once
            turns_taken.append(1)
        os.close(descriptor)

    holder = threading.Thread(target=keep_taking)
    holder.start()
    try:
        assert wait_until(lambda: len(turns_taken) > 0, 10, step=0.01)
        descriptor = waiter.take(patience=60)
        assert descriptor is not None
        assert not stop.is_set() and len(turns_taken) < 2000  # it did not wait for the end
        os.close(descriptor)
    finally:
        stop.set()
        holder.join(timeout=30)


def test_a_killed_process_holding_the_turn_lets_it_go(tmp_path: Path) -> None:
    path = tmp_path / "db-turns"
    take_and_wait = (
        "import sys; from pathlib import Path; from storage.turnstile import Turns;"
        f"held = Turns(Path({str(path)!r})).take(patience=0);"
        "print(held is not None, flush=True); sys.stdin.read()"
    )
    with subprocess.Popen(
        [sys.executable, "-c", take_and_wait],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as holder:
        try:
            assert holder.stdout is not None and holder.stdout.readline().strip() == "True"
            assert Turns(path).take(patience=0) is None
        finally:
            holder.kill()  # SIGKILL: the process lets nothing go itself
            holder.wait(timeout=10)
    descriptor = Turns(path).take(patience=10)
    assert descriptor is not None
    os.close(descriptor)


def test_the_turns_sit_beside_a_sqlite_file_owner_only(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'balint.db'}")
    try:
        turns = turns_of(engine)
        assert turns is not None and turns.path == tmp_path / "balint.db-turns"
        descriptor = turns.take()
        assert descriptor is not None
        os.close(descriptor)
        assert stat.S_IMODE(turns.path.stat().st_mode) == 0o600
    finally:
        engine.dispose()
    assert turns_of(make_engine("sqlite://")) is None
    assert turns_of(make_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")) is None
