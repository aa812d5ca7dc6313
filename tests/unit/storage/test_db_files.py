"""SQLite database files are private to the service's user; PostgreSQL waits are bounded, and
a pooled PostgreSQL connection that sat idle is pinged before it is used; a failure is logged
by its type only."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError

from storage.db import failure_type, make_engine, sqlite_path


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_database_and_its_wal_and_shm_are_owner_only(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        engine = make_engine(f"sqlite:///{tmp_path / 'new.db'}")
        with engine.begin() as connection:
            connection.execute(text("CREATE TABLE t (x INTEGER)"))
            connection.execute(text("INSERT INTO t VALUES (1)"))
            modes = {p.name: _mode(p) for p in tmp_path.iterdir()}
        engine.dispose()
    finally:
        os.umask(old)
    assert set(modes) == {"new.db", "new.db-wal", "new.db-shm"}
    assert set(modes.values()) == {0o600}


def test_an_existing_database_loses_what_others_could_read(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    path.touch(mode=0o644)
    path.chmod(0o664)
    make_engine(f"sqlite:///{path}").dispose()
    assert _mode(path) == 0o660  # the group's access is the operator's choice


@pytest.mark.parametrize("suffix", ["-turnstile", "-turns"])
def test_an_existing_lock_file_loses_what_others_could_open(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / "old.db"
    path.touch(mode=0o600)
    lock_file = tmp_path / f"old.db{suffix}"
    lock_file.touch()
    lock_file.chmod(0o666)
    make_engine(f"sqlite:///{path}").dispose()
    assert _mode(lock_file) == 0o660


def test_a_failure_is_named_by_its_type_and_its_drivers_never_by_its_message(
    tmp_path: Path,
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    try:
        with pytest.raises(OperationalError) as raised, engine.begin() as connection:
            connection.execute(text("SELECT * FROM no_table_named_9876543217"))
    finally:
        engine.dispose()
    assert failure_type(raised.value) == "OperationalError(OperationalError)"
    assert failure_type(ValueError("9876543217")) == "ValueError"


def test_a_missing_folder_is_left_for_sqlite_to_report(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'absent' / 'x.db'}")
    assert not (tmp_path / "absent").exists()
    engine.dispose()


@pytest.mark.parametrize(
    ("url", "path"),
    [("sqlite://", None), ("sqlite:///:memory:", None), ("sqlite:///a/b.db", Path("a/b.db"))],
)
def test_sqlite_paths(url: str, path: Path | None) -> None:
    assert sqlite_path(url) == path


@pytest.mark.postgres
def test_postgresql_connections_have_a_statement_timeout_and_a_name(
    request: pytest.FixtureRequest,
) -> None:
    url: str = request.getfixturevalue("postgres_ready")
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            timeout = connection.execute(text("SHOW statement_timeout")).scalar_one()
            name = connection.execute(text("SHOW application_name")).scalar_one()
    finally:
        engine.dispose()
    assert (timeout, name) == ("1min", "balint-bot")


def _backend(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text("SELECT pg_backend_pid()")).scalar_one())


def _terminate(url: str, pid: int) -> None:
    killer = make_engine(url)
    try:
        with killer.begin() as connection:
            connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    finally:
        killer.dispose()


@pytest.mark.postgres
@pytest.mark.parametrize(("ping_after_idle", "fails_once"), [(0.0, False), (3600.0, True)])
def test_a_pooled_connection_the_server_dropped(
    request: pytest.FixtureRequest, ping_after_idle: float, *, fails_once: bool
) -> None:
    """The server drops a connection while it sits in the pool (a restart, an idle timeout).
    If it sat there longer than `ping_after_idle`, the ping before its next use finds it
    dead and the transaction gets a new one. If it came back a moment ago, it is used
    without a ping (no round trip between a busy worker's transactions): the transaction
    that takes it fails, once, and the pool is renewed."""
    url: str = request.getfixturevalue("postgres_ready")
    engine = make_engine(url, ping_after_idle=ping_after_idle)
    try:
        first = _backend(engine)
        _terminate(url, first)
        if fails_once:
            with pytest.raises(OperationalError):
                _backend(engine)
        assert _backend(engine) != first
    finally:
        engine.dispose()
