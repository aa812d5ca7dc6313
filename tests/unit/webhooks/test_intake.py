"""The group-commit journal writer: batches, per-record failures, callers that go away, and a
database that hangs or refuses (deadlines, stalls, late commits, the readiness probe)."""

from __future__ import annotations

import asyncio
import fcntl
import os
import threading
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, event, select, text
from sqlalchemy.exc import OperationalError

from storage.db import bounded_waits, make_session_factory, session_scope
from storage.tables.journal import JournalEntry
from storage.turnstile import turnstile_of
from tests.storage_fixtures import (  # noqa: F401
    postgres_engine,
    postgres_ready,
    sqlite_engine,
    sqlite_template,
    sqlite_url,
)
from webhooks.intake import JournalBusy, JournalRecord, JournalWriter
from webhooks.parse import BodyInfo

pytestmark = pytest.mark.anyio
NOW = datetime(2026, 3, 4, 17, 30, tzinfo=UTC)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest) -> Engine:
    made: Engine = request.getfixturevalue(f"{request.param}_engine")
    return made


def _record(key: str, ts: int = 1) -> JournalRecord:
    return JournalRecord(
        received_at=NOW,
        info=BodyInfo(event="meeting.started", event_ts=ts, meeting_uuid="m", dedupe_key=key),
        body=key.encode(),
        parsed_ok=True,
        parse_error=None,
    )


def _keys(engine: Engine) -> list[str]:
    with session_scope(make_session_factory(engine)) as session:
        return list(session.scalars(select(JournalEntry.dedupe_key).order_by(JournalEntry.id)))


async def test_concurrent_writes_are_batched_and_each_caller_gets_its_own_id(
    engine: Engine,
) -> None:
    writer = JournalWriter(make_session_factory(engine), max_batch=8)
    keys = [f"k{n:02d}" for n in range(20)]

    results = await asyncio.gather(*(writer.write(_record(key)) for key in keys + ["k03"]))

    assert _keys(engine) == keys
    ids = dict(zip(keys, results[:20], strict=True))
    assert all(is_new for _, is_new in results[:20])
    assert results[20] == (ids["k03"][0], False)  # a duplicate inside the same burst
    assert len({entry_id for entry_id, _ in results}) == 20


async def test_one_bad_record_does_not_refuse_the_rest_of_its_batch(engine: Engine) -> None:
    writer = JournalWriter(make_session_factory(engine))
    records = [_record("a"), _record(""), _record("b")]  # "" is refused by the journal

    outcomes = await asyncio.gather(*(writer.write(r) for r in records), return_exceptions=True)

    assert isinstance(outcomes[1], ValueError)
    assert not isinstance(outcomes[0], BaseException) and not isinstance(outcomes[2], BaseException)
    assert _keys(engine) == ["a", "b"]


async def test_a_caller_that_goes_away_does_not_cancel_the_write(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    told: list[tuple[str, bool]] = []
    writer = JournalWriter(
        make_session_factory(engine),
        on_committed=lambda record, _id, is_new: told.append((record.info.dedupe_key, is_new)),
    )
    gone = asyncio.ensure_future(writer.write(_record("kept")))
    gone_bad = asyncio.ensure_future(writer.write(_record("")))
    await asyncio.sleep(0)  # both are queued
    gone.cancel()
    gone_bad.cancel()

    assert await writer.write(_record("later")) is not None

    assert _keys(engine) == ["kept", "later"]
    assert told == [("kept", True), ("later", True)]  # the worker hears of it all the same
    assert "never retrieved" not in caplog.text


async def test_a_write_refused_for_the_lock_holds_the_turnstile_until_it_commits(
    request: pytest.FixtureRequest,
) -> None:
    """Meanwhile no meeting worker begins a transaction (`storage.turnstile`): the receiver
    waits for the one holding the lock, not for every one after it."""
    engine: Engine = request.getfixturevalue("sqlite_engine")
    turnstile = turnstile_of(engine)
    assert turnstile is not None
    writer = JournalWriter(make_session_factory(engine), deadline=5.0)
    blocker = engine.connect()
    blocker.exec_driver_sql("BEGIN IMMEDIATE")  # a worker's step holds the write lock

    def held() -> bool:
        descriptor = os.open(turnstile.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(descriptor)
        return False

    try:
        write = asyncio.ensure_future(writer.write(_record("t1")))
        for _ in range(500):
            await asyncio.sleep(0.01)
            if held():
                break
        assert held() and not write.done()
    finally:
        blocker.rollback()
        blocker.close()
    await write
    assert not held()
    assert _keys(engine) == ["t1"]
    writer.close()


async def test_a_flood_keeps_the_turnstile_from_one_batch_to_the_next(
    request: pytest.FixtureRequest,
) -> None:
    """While more than `flood_rate` records a second came over the last `flood_window`, the
    writer keeps the turnstile from one batch to the next (no meeting worker starts a
    transaction in between), from the batch that takes a window past `flood_rate *
    flood_window` records on; a window with fewer ends it."""
    engine: Engine = request.getfixturevalue("sqlite_engine")
    turnstile = turnstile_of(engine)
    assert turnstile is not None
    now = [0.0]  # each batch's insert takes a quarter of a second on this clock
    writer = JournalWriter(
        make_session_factory(engine),
        max_batch=2,
        deadline=5.0,
        flood_rate=4.0,
        flood_window=1.0,
        clock=lambda: now[0],
    )
    kept: list[bool] = []  # at each batch's insert: whether the turnstile was kept for it
    flood_queued = threading.Event()

    @event.listens_for(engine, "before_cursor_execute")
    def _at_insert(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT"):
            kept.append(writer.holding_back_workers)
            now[0] += 0.25
            if len(kept) == 1:
                flood_queued.wait(timeout=30)  # the flood queues up behind the first batch

    first = asyncio.ensure_future(writer.write(_record("f00")))
    for _ in range(500):
        await asyncio.sleep(0.01)
        if kept:
            break
    flood = [asyncio.ensure_future(writer.write(_record(f"f{n:02d}"))) for n in range(1, 10)]
    await asyncio.sleep(0)
    flood_queued.set()
    await asyncio.gather(first, *flood)
    # batches f00 | f01 f02 | f03 f04 | f05 f06 begin at 0, 0.25, 0.5 and 0.75 s: f03 f04
    # take the first second past 4 records, a flood from then on; f07 f08 | f09 begin in the
    # next window, which follows a flood (7 records in the first second)
    assert kept == [False, False, True, True, True, True]
    assert not writer.holding_back_workers
    with turnstile.right_of_way() as way:
        assert way.taken()  # let go when the flood was written

    now[0] += 5.0  # 3 records in the 5 s since: no flood
    await writer.write(_record("later"))
    assert kept[-1] is False
    assert _keys(engine) == [f"f{n:02d}" for n in range(10)] + ["later"]
    writer.close()


# --- a database that hangs, refuses or fills up ---------------------------------------------------


class Valve:
    """Holds every journal INSERT on its thread until opened: a database that stops answering."""

    def __init__(self, engine: Engine) -> None:
        self.open = threading.Event()
        self.waiting = 0

        @event.listens_for(engine, "before_cursor_execute")
        def _hold(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            if statement.lstrip().upper().startswith("INSERT"):
                self.waiting += 1
                self.open.wait(timeout=30)


async def test_a_hanging_database_gets_busy_within_the_deadline_then_stalls(
    request: pytest.FixtureRequest,
) -> None:
    engine: Engine = request.getfixturevalue("sqlite_engine")
    valve = Valve(engine)
    told: list[str] = []
    writer = JournalWriter(
        make_session_factory(engine),
        deadline=0.2,
        threads=2,
        on_committed=lambda record, _id, _new: told.append(record.info.dedupe_key),
    )
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(JournalBusy):
        await writer.write(_record("first"))
    assert loop.time() - started < 0.4
    with pytest.raises(JournalBusy):
        await writer.write(_record("second"))
    await asyncio.sleep(0.5)  # both batches are given up on, each on its own thread
    assert writer.stalled and writer.hung == 2
    started = loop.time()
    with pytest.raises(JournalBusy, match="stalled"):
        await writer.write(_record("third"))
    assert loop.time() - started < 0.05  # refused at once

    valve.open.set()  # the database answers again: the late commits are announced
    for _ in range(100):
        await asyncio.sleep(0.02)
        if not writer.stalled and len(told) == 2:
            break
    assert sorted(told) == ["first", "second"] and writer.hung == 0
    assert await writer.write(_record("fourth")) is not None
    assert sorted(_keys(engine)) == ["first", "fourth", "second"]
    writer.close()


async def test_a_failing_database_fails_the_whole_batch_at_once(
    request: pytest.FixtureRequest,
) -> None:
    engine: Engine = request.getfixturevalue("sqlite_engine")
    statements: list[str] = []

    @event.listens_for(engine, "connect")
    def _read_only(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute("PRAGMA query_only = ON")

    @event.listens_for(engine, "before_cursor_execute")
    def _seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT"):
            statements.append(statement)

    writer = JournalWriter(make_session_factory(engine))
    outcomes = await asyncio.gather(
        *(writer.write(_record(key)) for key in ("a", "b", "c")), return_exceptions=True
    )
    assert all(isinstance(outcome, OperationalError) for outcome in outcomes)
    assert len(statements) <= 2  # not retried record by record
    assert await writer.probe(NOW) is False
    writer.close()


async def test_the_probe_writes_and_leaves_nothing_behind(engine: Engine) -> None:
    writer = JournalWriter(make_session_factory(engine))
    assert await writer.probe(NOW) is True
    assert _keys(engine) == []
    writer.close()


async def test_a_hanging_probe_answers_false_and_is_not_started_twice(
    request: pytest.FixtureRequest,
) -> None:
    engine: Engine = request.getfixturevalue("sqlite_engine")
    valve = Valve(engine)
    writer = JournalWriter(make_session_factory(engine), deadline=0.1)
    assert await writer.probe(NOW) is False
    assert await writer.probe(NOW) is False
    assert valve.waiting == 1  # the second call waited on the first probe
    valve.open.set()
    for _ in range(50):
        if await writer.probe(NOW):
            break
        await asyncio.sleep(0.02)
    assert await writer.probe(NOW) is True
    writer.close()


async def test_too_many_waiting_deliveries_are_refused_at_once(
    request: pytest.FixtureRequest,
) -> None:
    engine: Engine = request.getfixturevalue("sqlite_engine")
    valve = Valve(engine)
    writer = JournalWriter(make_session_factory(engine), deadline=0.3, max_waiting=2)
    first = asyncio.ensure_future(writer.write(_record("w0")))
    await asyncio.sleep(0.05)  # w0 is being written (held), the next two wait
    waiting = [asyncio.ensure_future(writer.write(_record(f"w{n}"))) for n in (1, 2)]
    await asyncio.sleep(0)
    with pytest.raises(JournalBusy, match="too many"):
        await writer.write(_record("w3"))
    valve.open.set()
    await asyncio.gather(first, *waiting, return_exceptions=True)
    writer.close()


def test_bounded_waits_put_the_busy_timeout_back(request: pytest.FixtureRequest) -> None:
    engine: Engine = request.getfixturevalue("sqlite_engine")
    with engine.connect() as connection:
        default = connection.exec_driver_sql("PRAGMA busy_timeout").scalar_one()
    factory = make_session_factory(engine)
    with session_scope(factory) as session:
        with bounded_waits(session, seconds=0.25):
            inside = session.execute(text("PRAGMA busy_timeout")).scalar_one()
        after = session.execute(text("PRAGMA busy_timeout")).scalar_one()
    assert (default, inside, after) == (5000, 250, 5000)


@pytest.mark.postgres
def test_bounded_waits_on_postgresql_end_with_the_transaction(
    request: pytest.FixtureRequest,
) -> None:
    engine: Engine = request.getfixturevalue("postgres_engine")
    factory = make_session_factory(engine)
    with session_scope(factory) as session:
        with bounded_waits(session, seconds=0.25):
            inside = session.execute(text("SHOW statement_timeout")).scalar_one()
    with session_scope(factory) as session:
        after = session.execute(text("SHOW statement_timeout")).scalar_one()
    assert (inside, after) == ("250ms", "1min")
