"""Database engine, sessions and the declarative base shared by every table module.

SQLite (a file, WAL mode, foreign keys on) is the default; PostgreSQL is used by URL
(`postgresql+psycopg://...`). Nothing is created at import time: callers build an engine
with `make_engine(url)` and pass sessions explicitly to storage functions. The few that run
Core statements only, on a meeting worker's every action, also take a Core connection in a
transaction (`Connectable`, `connection_of`).

No database wait is unbounded. SQLite waits `SQLITE_BUSY_SECONDS` for another writer;
PostgreSQL gives up connecting after `POSTGRES_CONNECT_SECONDS` and cancels a statement
after `POSTGRES_STATEMENT_SECONDS` (keepalives find a dead peer). The webhook receiver's
acknowledgement path narrows both for its own transactions with `bounded_waits`.

A SQLite database file is created owner-only (0600) before SQLite opens it, and SQLite gives
its `-wal` and `-shm` files the database file's mode; an existing file that others may read
loses those permissions (group permissions are left alone). The journal and roster hold
names, so the files are private to the service's user.
"""

from __future__ import annotations

import functools
import logging
import os
import stat
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, Insert, MetaData, Table, create_engine, event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

__all__ = [
    "PING_AFTER_IDLE_SECONDS",
    "POSTGRES_CONNECT_SECONDS",
    "POSTGRES_STATEMENT_SECONDS",
    "SQLITE_BUSY_SECONDS",
    "TURNSTILE_SUFFIX",
    "TURNS_SUFFIX",
    "WAL_SIZE_LIMIT",
    "Base",
    "Connectable",
    "bound_engine",
    "bounded_waits",
    "connection_of",
    "failure_type",
    "insert_or_skip",
    "make_engine",
    "make_session_factory",
    "session_scope",
    "sqlite_path",
]

_log = logging.getLogger(__name__)

#: How long a SQLite connection waits for another connection's write lock, in seconds.
SQLITE_BUSY_SECONDS = 5.0
#: Size in bytes a SQLite write-ahead log is cut back to when it starts over after a
#: checkpoint. Without it the log file keeps the largest size a burst ever gave it (a
#: retention purge, checkpoints fallen behind); with it an unattended service's disk use
#: stays bounded. Under a 200-meeting load the log stays under 5 MiB, so this is rarely
#: reached and costs nothing then.
WAL_SIZE_LIMIT = 16 * 1024 * 1024
#: How long connecting to PostgreSQL may take, in seconds (libpq's `connect_timeout`).
POSTGRES_CONNECT_SECONDS = 5
#: Longest a PostgreSQL statement may run, in seconds (0: no limit; migrations use that).
POSTGRES_STATEMENT_SECONDS = 60
#: A pooled PostgreSQL connection left in the pool longer than this is pinged before use.
PING_AFTER_IDLE_SECONDS = 2.0

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base; every table of balint-bot hangs off this metadata."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def make_engine(
    url: str,
    *,
    statement_seconds: float = POSTGRES_STATEMENT_SECONDS,
    application_name: str = "balint-bot",
    ping_after_idle: float = PING_AFTER_IDLE_SECONDS,
    **kwargs: Any,
) -> Engine:
    """An engine for `url`.

    SQLite files get WAL, a `SQLITE_BUSY_SECONDS` busy timeout, foreign keys and owner-only
    permissions. PostgreSQL gets a connect timeout, TCP keepalives, a statement timeout of
    `statement_seconds` (0 = none), `application_name` and a ping before a connection that
    sat in the pool for more than `ping_after_idle` seconds is used (`_ping_when_idle`).
    Other keyword arguments go to `sqlalchemy.create_engine`.
    """
    if url.startswith("sqlite"):
        path = sqlite_path(url)
        if path is not None:
            _private_file(path)
        kwargs.setdefault("connect_args", {"timeout": SQLITE_BUSY_SECONDS})
        engine = create_engine(url, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if url.startswith("postgresql"):
        options = f"-c statement_timeout={int(statement_seconds * 1000)}"
        connect_args = {
            "connect_timeout": POSTGRES_CONNECT_SECONDS,
            "application_name": application_name,
            "keepalives": 1,
            "keepalives_idle": 30,
            "keepalives_interval": 10,
            "keepalives_count": 3,
            "options": options,
        }
        connect_args.update(kwargs.pop("connect_args", {}))
        kwargs["connect_args"] = connect_args
    engine = create_engine(url, **kwargs)
    if not kwargs.get("pool_pre_ping"):
        _ping_when_idle(engine, after=ping_after_idle)
    return engine


#: Where a pooled connection's record keeps when it went back into the pool.
_IDLE_SINCE = "balint_idle_since"


def _ping_when_idle(engine: Engine, *, after: float) -> None:
    """Ping a pooled connection before use only if it sat in the pool for longer than
    `after` seconds; a ping that fails replaces it with a new connection.

    SQLAlchemy's `pool_pre_ping` pings at every checkout: a round trip for each transaction,
    a sixth of a meeting worker's at the end of a meditation, when every meeting admits its
    latecomers at once. A connection the server or the network dropped was almost always
    dropped while it sat unused (a restart, an idle timeout, a failover), which is what this
    catches. One dropped while in use, or in the instant before, fails that one transaction,
    as it would have with the pre-ping; SQLAlchemy then sees the disconnect and replaces
    every connection in the pool.
    """

    @event.listens_for(engine, "checkin")
    def _returned(_dbapi_connection: Any, record: Any) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _taken(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get(_IDLE_SINCE)
        if since is None or time.monotonic() - since <= after:
            return  # new, or back in the pool a moment ago
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as failed:  # the pool retries with a new connection
            raise DisconnectionError("pooled connection did not answer its ping") from failed


#: The file beside a SQLite database that carries `storage.turnstile`'s advisory lock.
TURNSTILE_SUFFIX = "-turnstile"
#: The file beside a SQLite database whose lock the meeting workers take in turn
#: (`storage.turnstile.Turns`).
TURNS_SUFFIX = "-turns"


def sqlite_path(url: str) -> Path | None:
    """The database file of a SQLite `url`, or None for an in-memory database."""
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def _private_file(path: Path) -> None:
    """Create `path` owner-only if it is missing; take others' permissions off it otherwise.

    A missing folder is left to SQLite to report when the first connection opens.
    """
    try:
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        for suffix in ("", "-wal", "-shm", TURNSTILE_SUFFIX, TURNS_SUFFIX):
            _drop_other_permissions(Path(f"{path}{suffix}"))
        return
    except OSError:
        return
    os.close(descriptor)


def _drop_other_permissions(path: Path) -> None:
    try:
        status = path.stat()
        if status.st_uid == os.getuid() and status.st_mode & stat.S_IRWXO:
            path.chmod(stat.S_IMODE(status.st_mode) & ~stat.S_IRWXO)
            _log.warning(
                "database file was readable by other users; their permissions were removed",
                extra={"path": str(path)},
            )
    except OSError:
        return


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
    cursor.close()


@contextmanager
def bounded_waits(db: Connectable, *, seconds: float) -> Iterator[None]:
    """Make the statements run inside this block give up waiting after `seconds`.

    Use it inside a transaction, before its first statement; commit after the block.
    SQLite: the connection's busy timeout (put back at the end of the block: connections
    are pooled). PostgreSQL: `SET LOCAL statement_timeout` and `lock_timeout`, which end
    with the transaction. A server that stops answering altogether is not covered: the
    caller keeps its own deadline for that (`webhooks.intake`).
    """
    milliseconds = max(1, int(seconds * 1000))
    connection = connection_of(db)
    dialect = connection.dialect.name
    if dialect == "sqlite":
        # On the driver's connection: these pragmas run on every journal batch, and through
        # SQLAlchemy's execution they cost more than the batch's insert.
        driver = connection.connection.dbapi_connection
        assert driver is not None
        before = int(driver.execute("PRAGMA busy_timeout").fetchone()[0])
        driver.execute(f"PRAGMA busy_timeout = {milliseconds}")
        try:
            yield
        finally:
            driver.execute(f"PRAGMA busy_timeout = {before}")
        return
    if dialect == "postgresql":
        # Both in one statement (one round trip); `true`: local to the transaction.
        connection.execute(
            text(
                "SELECT set_config('statement_timeout', :ms, true),"
                " set_config('lock_timeout', :ms, true)"
            ),
            {"ms": str(milliseconds)},
        )
    yield


@functools.cache
def insert_or_skip(
    table: Table, dialect: str, conflict: tuple[str, ...], returning: tuple[str, ...] = ()
) -> Insert:
    """`INSERT ... ON CONFLICT (conflict) DO NOTHING [RETURNING returning]` on `table` for
    `dialect` ("postgresql"; anything else is SQLite), built once per arguments.

    Run it with the row(s) as parameters on `session.connection()`: one compilation, cached,
    and no ORM bookkeeping, for the statements a worker runs on every step.
    """
    upsert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = upsert(table).on_conflict_do_nothing(index_elements=list(conflict))
    return statement.returning(*(table.c[name] for name in returning)) if returning else statement


def failure_type(failure: BaseException) -> str:
    """A database failure's class (and its cause's: the driver's error), for a log line.
    Never its message: SQL errors echo the values they were given."""
    cause = failure.__cause__ or getattr(failure, "orig", None)
    name = type(failure).__name__
    return f"{name}({type(cause).__name__})" if cause is not None else name


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


#: Where a storage function that runs Core statements only runs them: an ORM session, or a
#: Core connection in a transaction (`engine.begin()`). A meeting worker records each
#: action's outcome and claims the next in a transaction of their own, and an ORM
#: session's bookkeeping (its creation, commit and close) cost about as much as the two
#: statements (docs/benchmarks.md, "Issue 18, twenty-second round").
Connectable = Session | Connection


def bound_engine(factory: sessionmaker[Session]) -> Engine:
    """The engine `factory`'s sessions are bound to (`make_session_factory`)."""
    bind = factory.kw.get("bind")
    if not isinstance(bind, Engine):
        raise TypeError("the session factory is not bound to an engine")
    return bind


def connection_of(db: Connectable) -> Connection:
    """The Core connection `db` runs its statements on (a connection is its own)."""
    return db if isinstance(db, Connection) else db.connection()


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session that commits on success and rolls back on any exception."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
