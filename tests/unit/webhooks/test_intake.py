"""The group-commit journal writer: batches, per-record failures, callers that go away."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, select

from storage.db import make_session_factory, session_scope
from storage.tables.journal import JournalEntry
from tests.storage_fixtures import (  # noqa: F401
    postgres_engine,
    postgres_ready,
    sqlite_engine,
    sqlite_template,
    sqlite_url,
)
from webhooks.intake import JournalRecord, JournalWriter
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


async def test_sqlite_checkpoints_beside_the_writer(
    request: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture
) -> None:
    engine: Engine = request.getfixturevalue("sqlite_engine")
    writer = JournalWriter(make_session_factory(engine), checkpoint_every=2)
    for n in range(6):
        await writer.write(_record(f"c{n}", ts=n))
    for _ in range(100):  # let the background checkpoint finish
        await asyncio.sleep(0.01)
        if not any("_checkpoint" in repr(task) for task in asyncio.all_tasks()):
            break
    assert _keys(engine) == [f"c{n}" for n in range(6)]
    with engine.connect() as connection:
        busy, log_frames, checkpointed = connection.exec_driver_sql(
            "PRAGMA wal_checkpoint(PASSIVE)"
        ).one()
    assert busy == 0 and log_frames == checkpointed
    assert "checkpoint failed" not in caplog.text
