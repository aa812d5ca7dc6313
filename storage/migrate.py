"""Run the Alembic migrations in `storage/migrations` against a database URL.

Alembic is configured programmatically (no `alembic.ini`): the script directory is this
package's `migrations` folder and the URL travels in the config's attributes, so URLs with
`%` in a password need no escaping. `balint-bot db upgrade` and the test fixtures call
`upgrade`; nothing here runs at import time.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from storage.db import make_engine

__all__ = [
    "MIGRATIONS_DIR",
    "alembic_config",
    "current_revision",
    "downgrade",
    "head_revision",
    "upgrade",
]

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def alembic_config(url: str) -> Config:
    """An Alembic `Config` for `url` pointing at our migration scripts."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["url"] = url
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Upgrade the database at `url` to `revision` (default: the newest)."""
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    """Downgrade the database at `url` to `revision` (tests use it to check the chain)."""
    command.downgrade(alembic_config(url), revision)


def head_revision() -> str | None:
    """The newest revision id among the migration scripts."""
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def current_revision(url: str) -> str | None:
    """The revision the database at `url` is at (None for an empty database)."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()
