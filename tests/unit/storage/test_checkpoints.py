"""SQLite's WAL checkpoints beside the commits: a commit leaves the checkpoint to a thread of
its own, the connections' own mark is only a backstop, and nothing of it on PostgreSQL or
in-memory SQLite.

Whether a checkpoint ran is read from the WAL index (`tests.storage_fixtures.wal_frames`):
running a checkpoint in the test to look would do the work it is looking for.
"""

from __future__ import annotations

import time
from pathlib import Path

from sqlalchemy import Engine, text

from storage.checkpoints import BACKSTOP_PAGES, checkpoint_beside
from storage.db import WAL_SIZE_LIMIT, make_engine
from tests.storage_fixtures import wal_frames
from tests.waiting import wait_until


def _write(engine: Engine, rows: int) -> None:
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE IF NOT EXISTS t (n INTEGER, pad TEXT)"))
    for n in range(rows):
        with engine.begin() as connection:
            connection.execute(text("INSERT INTO t VALUES (:n, :pad)"), {"n": n, "pad": "x" * 500})


def test_a_commit_leaves_the_checkpoint_to_a_thread_of_its_own(tmp_path: Path) -> None:
    database = tmp_path / "checkpoints.db"
    engine = make_engine(f"sqlite:///{database}")
    try:
        assert checkpoint_beside(engine) is not None
        _write(engine, 20)
        # well under SQLite's own mark of 1,000 pages, where a commit would have done it
        assert 0 < wal_frames(database)[0] < 1000

        def copied() -> bool:
            frames, backfilled = wal_frames(database)
            return backfilled == frames

        # the burst's last commit too, with no commit after it
        assert wait_until(copied, 10, step=0.01)
    finally:
        engine.dispose()


def test_without_it_a_commit_under_the_mark_leaves_the_log_uncopied(tmp_path: Path) -> None:
    """The check above can fail: the same writes on a plain engine copy nothing."""
    database = tmp_path / "plain.db"
    engine = make_engine(f"sqlite:///{database}")
    try:
        _write(engine, 20)
        time.sleep(0.3)  # three of the checkpointer's intervals
        frames, backfilled = wal_frames(database)
        assert frames > 0 and backfilled == 0
    finally:
        engine.dispose()


def test_the_connections_own_mark_becomes_a_backstop(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'mark.db'}")
    try:
        checkpoint_beside(engine)
        with engine.connect() as connection:
            mark = connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar()
        assert mark == BACKSTOP_PAGES
    finally:
        engine.dispose()


def test_one_checkpointer_an_engine_and_none_in_memory(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'once.db'}")
    memory = make_engine("sqlite://")
    try:
        first = checkpoint_beside(engine)
        assert first is not None and checkpoint_beside(engine) is first
        assert checkpoint_beside(memory) is None
    finally:
        engine.dispose()
        memory.dispose()


def test_a_disposed_engine_does_not_reopen_its_file(tmp_path: Path) -> None:
    """A checkpoint asked for just before `dispose` is dropped, so the folder can go (a
    test's temporary folder, whose removal failed on a file the checkpoint made anew)."""
    folder = tmp_path / "gone"
    folder.mkdir()
    engine = make_engine(f"sqlite:///{folder / 'disposed.db'}")
    checkpoint_beside(engine)
    for _ in range(20):  # a checkpoint now under way or waiting out its interval
        _write(engine, 3)
        engine.dispose()
        for leftover in folder.iterdir():
            leftover.unlink()
        time.sleep(0.15)  # past the interval
        assert list(folder.iterdir()) == []


def test_the_log_is_cut_back_after_a_burst_once_copied(tmp_path: Path) -> None:
    """A log grown past `WAL_SIZE_LIMIT` by one burst does not keep that size on disk: a
    commit after it was copied starts the log over and cuts the file back."""
    database = tmp_path / "burst.db"
    wal = database.with_name(database.name + "-wal")
    engine = make_engine(f"sqlite:///{database}")
    try:
        assert checkpoint_beside(engine) is not None
        burst = WAL_SIZE_LIMIT + 4 * 1024 * 1024
        with engine.begin() as connection:
            connection.execute(text("CREATE TABLE t (n INTEGER, pad BLOB)"))
            connection.execute(text("INSERT INTO t VALUES (0, randomblob(:size))"), {"size": burst})
        assert wal.stat().st_size > burst

        def copied() -> bool:
            frames, backfilled = wal_frames(database)
            return backfilled == frames

        assert wait_until(copied, 10, step=0.01)

        def cut_back() -> bool:
            # a commit starts the log over unless the checkpoint still holds its lock
            _write(engine, 1)
            return wal.stat().st_size <= WAL_SIZE_LIMIT

        assert wait_until(cut_back, 10, step=0.01)
    finally:
        engine.dispose()
