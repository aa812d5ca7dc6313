"""`balint-bot db upgrade|current`: migrate the database named by `[storage] url`.

Also home of the small helpers the storage commands share: opening the configured database
(after checking its schema: one line saying to run `balint-bot db upgrade` if it is missing
or old) and building the PHI keyring from `BALINT_DATA_KEY` / `BALINT_DATA_KEY_PREVIOUS`.

Only `serve` migrates by itself, and only the embedded default database (`[storage] url`
left at `EMBEDDED_URL`): nothing else uses that file, so a first `balint-bot serve` just
works. Other commands never create a database (run from the wrong folder they would
otherwise make an empty one and report nothing), and a configured database, PostgreSQL
above all, is migrated only by `balint-bot db upgrade`, a deliberate step (back up first).
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy.orm import Session

from bot.config import Settings, StorageSettings
from storage.crypto import Keyring
from storage.db import make_engine, make_session_factory, session_scope
from storage.migrate import current_revision, head_revision, require_schema, upgrade

__all__ = ["EMBEDDED_URL", "check_schema", "keyring_from", "open_session", "register"]

#: The embedded SQLite database used when `[storage] url` is not set.
EMBEDDED_URL = StorageSettings().url


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("db", help="database schema (Alembic migrations)")
    actions = parser.add_subparsers(dest="db_action", metavar="ACTION", required=True)
    up = actions.add_parser("upgrade", help="upgrade the schema (default: to the newest)")
    up.add_argument("--revision", default="head", help="target revision (default head)")
    up.set_defaults(handler=_upgrade)
    now = actions.add_parser("current", help="print the schema revision of the database")
    now.set_defaults(handler=_current)


@contextmanager
def open_session(settings: Settings) -> Iterator[Session]:
    """A session on `[storage] url` that commits on success; the engine is disposed after.

    Raises:
        SchemaError: the database has no schema or an old one.
    """
    engine = make_engine(settings.storage.url)
    try:
        require_schema(engine)
        with session_scope(make_session_factory(engine)) as session:
            yield session
    finally:
        engine.dispose()


def check_schema(settings: Settings, *, migrate_embedded: bool = False) -> None:
    """Raise unless `[storage] url` has this version's schema.

    Args:
        migrate_embedded: create or upgrade the embedded default database instead (`serve`).

    Raises:
        SchemaError: the schema is missing or old (the message says to run `db upgrade`).
    """
    url = settings.storage.url
    if migrate_embedded and url == EMBEDDED_URL:
        if current_revision(url) != head_revision():  # Alembic only when there is work
            upgrade(url)
        return
    engine = make_engine(url)
    try:
        require_schema(engine)
    finally:
        engine.dispose()


def keyring_from(settings: Settings) -> Keyring:
    """The data keys from the environment (`Settings.data_key`, `data_key_previous`)."""
    current = settings.data_key.get_secret_value() if settings.data_key else None
    previous = settings.data_key_previous.get_secret_value() if settings.data_key_previous else None
    return Keyring.from_text(current, previous)


def _upgrade(args: argparse.Namespace, settings: Settings) -> int:
    upgrade(settings.storage.url, args.revision)
    print(f"database at revision {current_revision(settings.storage.url)}")
    return 0


def _current(_args: argparse.Namespace, settings: Settings) -> int:
    found = current_revision(settings.storage.url)
    print(f"database revision: {found or '(empty)'}; newest: {head_revision()}")
    return 0 if found == head_revision() else 1
