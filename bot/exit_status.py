"""`exit_status`: how a `balint-bot` process ends on a failure it can expect.

Errors of ours (`BalintError`) print one clear line and exit non-zero; configuration errors
exit 2. So do the failures a user can expect from the world, never as a traceback: a
database that cannot be reached or refuses (its driver's first line, which names no row
values), a file that cannot be read or written, Ctrl-C (exit 130). The command line
(`bot.cli`) and serve's meeting workers (`bot.worker_process`) end this way alike.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from bot.errors import BalintError, ConfigError

__all__ = ["database_problem", "exit_status"]


def exit_status(run: Callable[[], int]) -> int:
    """`run()`'s exit status, or the status of the failure it ended with (one line on stderr)."""
    try:
        return run()
    except ConfigError as bad:
        _say(f"configuration error: {bad}")
        return 2
    except BalintError as failed:
        _say(str(failed))
        return 1
    except SQLAlchemyError as failed:
        _say(f"database error: {database_problem(failed)}")
        return 1
    except OSError as failed:
        where = f": {failed.filename}" if failed.filename else ""
        _say(f"{failed.strerror or type(failed).__name__}{where}")
        return 1
    except KeyboardInterrupt:
        _say("interrupted")
        return 130


def _say(line: str) -> None:
    sys.stderr.write(f"balint-bot: {line}\n")


def database_problem(failure: SQLAlchemyError) -> str:
    """One line about a database failure: the driver's first line for connection and schema
    errors (they name hosts, files and tables, never row values), else the error's kind."""
    original = failure.orig if isinstance(failure, DBAPIError) else None
    kind = type(original if original is not None else failure).__name__
    if original is None:
        return kind
    first = (str(original).strip().splitlines() or [""])[0][:300]
    if "no such table" in first or ("relation" in first and "does not exist" in first):
        return f"{first} (has the schema been created? run `balint-bot db upgrade`)"
    if type(failure).__name__ in ("OperationalError", "InterfaceError", "ProgrammingError"):
        return f"{first} ({kind})" if first else kind
    return kind
