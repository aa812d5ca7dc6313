"""The receiver's journal writer: group commit on a worker thread, one result per request.

Zoom wants an answer within 3 seconds and the journal must be committed before it, so the
write sits on the acknowledgement path. Requests that arrive while a write is in progress
wait for the next batch, and a batch is written in ONE transaction on a worker thread: under
load this costs one thread hand-off and one commit per batch instead of per request (SQLite
takes one writer at a time anyway), and when idle a batch is just one request. The event loop
never touches the database.

If a batch fails, its records are retried one by one, so one bad record cannot refuse the
others; a record that still fails raises to its own caller, who answers 503 so Zoom retries.
A caller that goes away (client disconnect) does not cancel the write: the record is stored,
`on_committed` still hears of it, and Zoom's retry is then a harmless duplicate. Uses asyncio
(uvicorn's loop).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import anyio
import anyio.to_thread
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from storage import journal
from storage.db import session_scope
from webhooks.parse import BodyInfo

__all__ = ["JournalRecord", "JournalWriter"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class JournalRecord:
    """One signed delivery, ready for the journal (`redacted`: its chat text was emptied)."""

    received_at: datetime
    info: BodyInfo
    body: bytes
    parsed_ok: bool
    parse_error: str | None
    redacted: bool = False


_Pending = tuple[JournalRecord, "asyncio.Future[tuple[int, bool]]"]


class JournalWriter:
    """Writes `JournalRecord`s in batches; `await write(record)` returns (entry id, is new).

    Args:
        factory: sessions on the journal's database.
        max_batch: most records in one transaction.
        on_committed: called on the event loop with (record, entry id, is new) once a
            record's transaction has committed, whether or not its caller is still waiting.
            Its exceptions are logged and otherwise ignored.
        checkpoint_every: SQLite only: after this many records, run a PASSIVE WAL checkpoint
            on another thread (0 = never). SQLite otherwise checkpoints inside a commit once
            the WAL reaches 1000 pages, and that fsync stalls every request queued behind
            it; a passive checkpoint beside the writer keeps the WAL short instead.
    """

    def __init__(
        self,
        factory: sessionmaker[Session],
        *,
        max_batch: int = 200,
        on_committed: Callable[[JournalRecord, int, bool], None] | None = None,
        checkpoint_every: int = 0,
    ) -> None:
        self._factory = factory
        self._max_batch = max_batch
        self._on_committed = on_committed
        self._checkpoint_every = checkpoint_every
        self._since_checkpoint = 0
        self._checkpointer: asyncio.Task[None] | None = None
        self._pending: list[_Pending] = []
        self._flusher: asyncio.Task[None] | None = None

    async def write(self, record: JournalRecord) -> tuple[int, bool]:
        """Commit `record` (with whatever else is waiting) and return its entry id and newness.

        Raises:
            Exception: whatever the database raised for this record (SQLAlchemyError,
                OSError, ...); the caller turns it into a 503.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[tuple[int, bool]] = loop.create_future()
        # If the caller is gone when a failure arrives, nobody else will look at it.
        future.add_done_callback(_consume)
        self._pending.append((record, future))
        if self._flusher is None:
            self._flusher = loop.create_task(self._flush())
        return await asyncio.shield(future)

    async def _flush(self) -> None:
        try:
            while self._pending:
                batch = self._pending[: self._max_batch]
                del self._pending[: self._max_batch]
                try:
                    results = await anyio.to_thread.run_sync(
                        self._write_batch, [record for record, _ in batch]
                    )
                except Exception as failure:
                    if len(batch) == 1:
                        _settle(batch[0][1], failure=failure)
                        continue
                    logger.warning(
                        "journal batch failed; writing its records one by one",
                        extra={"batch_size": len(batch), "error_type": type(failure).__name__},
                    )
                    for record, future in batch:
                        try:
                            [result] = await anyio.to_thread.run_sync(self._write_batch, [record])
                        except Exception as single_failure:
                            _settle(future, failure=single_failure)
                        else:
                            self._committed(record, result)
                            _settle(future, result=result)
                    continue
                for (record, future), result in zip(batch, results, strict=True):
                    self._committed(record, result)
                    _settle(future, result=result)
                self._maybe_checkpoint(len(batch))
        finally:
            self._flusher = None

    def _maybe_checkpoint(self, written: int) -> None:
        if self._checkpoint_every <= 0:
            return
        self._since_checkpoint += written
        if self._since_checkpoint < self._checkpoint_every or self._checkpointer is not None:
            return
        self._since_checkpoint = 0
        self._checkpointer = asyncio.get_running_loop().create_task(self._checkpoint())

    async def _checkpoint(self) -> None:
        try:
            await anyio.to_thread.run_sync(self._run_checkpoint)
        except Exception as failure:  # SQLite retries at its own next checkpoint
            logger.warning("WAL checkpoint failed", extra={"error_type": type(failure).__name__})
        finally:
            self._checkpointer = None

    def _run_checkpoint(self) -> None:
        with self._factory() as session:
            session.execute(text("PRAGMA wal_checkpoint(PASSIVE)"))

    def _committed(self, record: JournalRecord, result: tuple[int, bool]) -> None:
        if self._on_committed is None:
            return
        try:
            self._on_committed(record, *result)
        except Exception:
            logger.exception("journal on_committed callback failed")

    def _write_batch(self, records: list[JournalRecord]) -> list[tuple[int, bool]]:
        with session_scope(self._factory) as session:
            return [
                journal.record(
                    session,
                    received_at=record.received_at,
                    event=record.info.event,
                    event_ts=record.info.event_ts,
                    meeting_uuid=record.info.meeting_uuid,
                    dedupe_key=record.info.dedupe_key,
                    body=record.body,
                    parsed_ok=record.parsed_ok,
                    parse_error=record.parse_error,
                    redacted=record.redacted,
                )
                for record in records
            ]


def _consume(future: asyncio.Future[tuple[int, bool]]) -> None:
    if not future.cancelled():
        future.exception()


def _settle(
    future: asyncio.Future[tuple[int, bool]],
    *,
    result: tuple[int, bool] | None = None,
    failure: BaseException | None = None,
) -> None:
    if future.done():  # the caller was cancelled; the outcome is in the journal anyway
        return
    if failure is not None:
        future.set_exception(failure)
    else:
        assert result is not None
        future.set_result(result)
